import { BreakwaterError, isBreakwaterError } from '../errors.js';

/** The pool (or the pool manager) is closed: no new work is accepted. Code `POOL_CLOSED`. */
export class PoolClosedError extends BreakwaterError {
  declare readonly code: 'POOL_CLOSED';
  constructor(readonly pool: string) {
    super('POOL_CLOSED', `Pool '${pool}' is closed`);
  }
}

/** No pool by that name in the manager. Code `POOL_NOT_FOUND`. */
export class PoolNotFoundError extends BreakwaterError {
  declare readonly code: 'POOL_NOT_FOUND';
  constructor(readonly pool: string) {
    super('POOL_NOT_FOUND', `No pool named '${pool}'`);
  }
}

/** A pool with that name is already registered. Code `POOL_EXISTS`. */
export class PoolExistsError extends BreakwaterError {
  declare readonly code: 'POOL_EXISTS';
  constructor(readonly pool: string) {
    super('POOL_EXISTS', `A pool named '${pool}' is already registered`);
  }
}

/** Every connection was busy and the wait queue was full: refused at once. Code `POOL_QUEUE_FULL`. */
export class PoolQueueFullError extends BreakwaterError {
  declare readonly code: 'POOL_QUEUE_FULL';
  constructor(
    readonly pool: string,
    readonly maxQueue: number,
    retryAfterMs = 1000,
  ) {
    super('POOL_QUEUE_FULL', `Pool '${pool}' is busy and its queue is full (${maxQueue})`, { retryAfterMs });
  }
}

/** A queued call waited `queueTimeout` without getting a connection. Code `POOL_QUEUE_TIMEOUT`. */
export class PoolQueueTimeoutError extends BreakwaterError {
  declare readonly code: 'POOL_QUEUE_TIMEOUT';
  constructor(
    readonly pool: string,
    readonly waitedMs: number,
    retryAfterMs = 1000,
  ) {
    super('POOL_QUEUE_TIMEOUT', `Pool '${pool}': no connection free within ${waitedMs}ms`, { retryAfterMs });
  }
}

/**
 * The pool's upstream is unhealthy and the pool fails fast (`onUnhealthy: 'reject'`, or
 * Redis unreachable) instead of queueing behind connections that cannot be made.
 * `cause` is the failure that made it so, where known. Code `POOL_UNHEALTHY`.
 */
export class PoolUnhealthyError extends BreakwaterError {
  declare readonly code: 'POOL_UNHEALTHY';
  constructor(
    readonly pool: string,
    retryAfterMs?: number,
    cause?: unknown,
  ) {
    super('POOL_UNHEALTHY', `Pool '${pool}' has no healthy upstream`, { cause, retryAfterMs });
  }
}

function guard<T extends BreakwaterError>(code: string) {
  return (e: unknown): e is T => isBreakwaterError(e) && e.code === code;
}

export const isPoolClosedError: (e: unknown) => e is PoolClosedError = guard('POOL_CLOSED');
export const isPoolNotFoundError: (e: unknown) => e is PoolNotFoundError = guard('POOL_NOT_FOUND');
export const isPoolExistsError: (e: unknown) => e is PoolExistsError = guard('POOL_EXISTS');
export const isPoolQueueFullError: (e: unknown) => e is PoolQueueFullError = guard('POOL_QUEUE_FULL');
export const isPoolQueueTimeoutError: (e: unknown) => e is PoolQueueTimeoutError =
  guard('POOL_QUEUE_TIMEOUT');
export const isPoolUnhealthyError: (e: unknown) => e is PoolUnhealthyError = guard('POOL_UNHEALTHY');
