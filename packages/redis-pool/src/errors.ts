import {
  BreakwaterError,
  isBreakwaterError,
  isPoolClosedError,
  isPoolQueueFullError,
  PoolClosedError,
  PoolQueueFullError,
  PoolQueueTimeoutError,
  PoolUnhealthyError,
} from '@breakwater/core';

// The pool's refusals are core's classes (one `instanceof`, one guard, whichever pool threw);
// the Redis names below are kept for the package's users and subclass core's.
export { isPoolClosedError, isPoolQueueFullError, PoolClosedError, PoolQueueFullError };

/**
 * Redis is unreachable as far as the pool can tell (connections fail to open, or the
 * health check has marked the pool unhealthy): `use()` refuses at once instead of
 * queueing behind a connection that cannot be made. Core's {@link PoolUnhealthyError}
 * with the connect failure as `cause`. Code `POOL_UNHEALTHY`.
 */
export class PoolUnavailableError extends PoolUnhealthyError {
  constructor(pool: string, cause?: unknown, retryAfterMs?: number) {
    super(pool, retryAfterMs, cause);
  }
}

/**
 * No connection came free within `acquireTimeout`: core's {@link PoolQueueTimeoutError}
 * under generic-pool's name, with the bound as `timeoutMs`. Code `POOL_QUEUE_TIMEOUT`.
 */
export class PoolAcquireTimeoutError extends PoolQueueTimeoutError {
  constructor(
    pool: string,
    readonly timeoutMs: number,
  ) {
    super(pool, timeoutMs);
  }
}

/**
 * The Redis rate-limit store could not decide: the call timed out, Redis failed, the
 * store's breaker is open, or the client has not been ready yet (`not_ready`, at
 * start-up). The limiter's `onStoreError` decides instead. Code `STORE_UNAVAILABLE`.
 */
export class StoreUnavailableError extends BreakwaterError {
  declare readonly code: 'STORE_UNAVAILABLE';
  constructor(
    readonly reason: 'timeout' | 'circuit_open' | 'error' | 'not_ready',
    cause?: unknown,
    retryAfterMs?: number,
  ) {
    super(
      'STORE_UNAVAILABLE',
      reason === 'timeout'
        ? 'Redis rate-limit store timed out'
        : reason === 'circuit_open'
          ? "Redis rate-limit store's breaker is open"
          : reason === 'not_ready'
            ? 'Redis rate-limit store: the client is not connected yet'
            : 'Redis rate-limit store failed',
      { cause, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
    );
  }
}

function guard<T extends BreakwaterError>(code: string) {
  return (e: unknown): e is T => isBreakwaterError(e) && e.code === code;
}

// By code, as core's guards: true for core's PoolUnhealthyError and PoolQueueTimeoutError too.
export const isPoolUnavailableError: (e: unknown) => e is PoolUnavailableError = guard('POOL_UNHEALTHY');
export const isPoolAcquireTimeoutError: (e: unknown) => e is PoolAcquireTimeoutError =
  guard('POOL_QUEUE_TIMEOUT');
export const isStoreUnavailableError: (e: unknown) => e is StoreUnavailableError = guard('STORE_UNAVAILABLE');
