import { BreakwaterError, isBreakwaterError } from '@breakwater/core';

/**
 * Redis is unreachable as far as the pool can tell (connections fail to open, or the
 * health check has marked the pool unhealthy): `use()` refuses at once instead of
 * queueing behind a connection that cannot be made. Code `POOL_UNHEALTHY`.
 */
export class PoolUnavailableError extends BreakwaterError {
  declare readonly code: 'POOL_UNHEALTHY';
  constructor(
    readonly pool: string,
    cause?: unknown,
    retryAfterMs?: number,
  ) {
    super('POOL_UNHEALTHY', `Redis pool '${pool}' cannot reach Redis`, {
      cause,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
}

/** The pool is closing or closed. Code `POOL_CLOSED`. */
export class PoolClosedError extends BreakwaterError {
  declare readonly code: 'POOL_CLOSED';
  constructor(readonly pool: string) {
    super('POOL_CLOSED', `Redis pool '${pool}' is closed`);
  }
}

/** No connection came free within `acquireTimeout`. Code `POOL_QUEUE_TIMEOUT`. */
export class PoolAcquireTimeoutError extends BreakwaterError {
  declare readonly code: 'POOL_QUEUE_TIMEOUT';
  constructor(
    readonly pool: string,
    readonly timeoutMs: number,
  ) {
    super('POOL_QUEUE_TIMEOUT', `Redis pool '${pool}': no connection free within ${timeoutMs}ms`);
  }
}

/** `maxWaitingClients` callers are already waiting. Code `POOL_QUEUE_FULL`. */
export class PoolQueueFullError extends BreakwaterError {
  declare readonly code: 'POOL_QUEUE_FULL';
  constructor(
    readonly pool: string,
    readonly maxWaiting: number,
  ) {
    super('POOL_QUEUE_FULL', `Redis pool '${pool}': ${maxWaiting} callers already waiting`);
  }
}

/**
 * The Redis rate-limit store could not decide: the call timed out, Redis failed, or the
 * store's breaker is open. The limiter's `onStoreError` decides instead. Code `STORE_UNAVAILABLE`.
 */
export class StoreUnavailableError extends BreakwaterError {
  declare readonly code: 'STORE_UNAVAILABLE';
  constructor(
    readonly reason: 'timeout' | 'circuit_open' | 'error',
    cause?: unknown,
    retryAfterMs?: number,
  ) {
    super(
      'STORE_UNAVAILABLE',
      reason === 'timeout'
        ? 'Redis rate-limit store timed out'
        : reason === 'circuit_open'
          ? "Redis rate-limit store's breaker is open"
          : 'Redis rate-limit store failed',
      { cause, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
    );
  }
}

function guard<T extends BreakwaterError>(code: string) {
  return (e: unknown): e is T => isBreakwaterError(e) && e.code === code;
}

export const isPoolUnavailableError: (e: unknown) => e is PoolUnavailableError = guard('POOL_UNHEALTHY');
export const isPoolClosedError: (e: unknown) => e is PoolClosedError = guard('POOL_CLOSED');
export const isPoolAcquireTimeoutError: (e: unknown) => e is PoolAcquireTimeoutError =
  guard('POOL_QUEUE_TIMEOUT');
export const isPoolQueueFullError: (e: unknown) => e is PoolQueueFullError = guard('POOL_QUEUE_FULL');
export const isStoreUnavailableError: (e: unknown) => e is StoreUnavailableError = guard('STORE_UNAVAILABLE');
