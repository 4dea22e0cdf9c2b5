/** Stable codes carried by every error Breakwater throws. */
export type BreakwaterErrorCode =
  | 'RATE_LIMITED'
  | 'CIRCUIT_OPEN'
  | 'BULKHEAD_FULL'
  | 'TIMEOUT'
  | 'OVERLOADED'
  | 'INVALID_OPTION'
  | 'POOL_CLOSED'
  | 'POOL_NOT_FOUND'
  | 'POOL_EXISTS'
  | 'POOL_QUEUE_FULL'
  | 'POOL_QUEUE_TIMEOUT'
  | 'POOL_UNHEALTHY'
  | 'STORE_UNAVAILABLE'
  | 'METRICS_CONFLICT'
  | 'RATE_LIMIT_QUEUE_FULL'
  | 'RATE_LIMIT_WAIT_TIMEOUT'
  | 'RATE_LIMITER_CLOSED'
  | 'RATE_LIMIT_ERROR'
  | (string & {});

// Symbol.for so that the brand check survives two installed copies of this package.
const kBrand = Symbol.for('breakwater.error');

/** Base class of every Breakwater error: a stable `code` and a brand that survives duplicate installs. */
export class BreakwaterError extends Error {
  readonly code: BreakwaterErrorCode;
  /** When the refused work may be tried again, in milliseconds, where that is known. */
  readonly retryAfterMs: number | undefined;
  readonly [kBrand] = true;

  constructor(
    code: BreakwaterErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** True for any error thrown by any copy of Breakwater. */
export function isBreakwaterError(e: unknown): e is BreakwaterError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[kBrand] === true;
}

function guard<T extends BreakwaterError>(code: string) {
  return (e: unknown): e is T => isBreakwaterError(e) && e.code === code;
}

/** A rate limit refused the call. */
export class RateLimitedError extends BreakwaterError {
  declare readonly code: 'RATE_LIMITED';
  constructor(retryAfterMs: number, message = 'Rate limit exceeded') {
    super('RATE_LIMITED', message, { retryAfterMs });
  }
}
/** `RateLimiter.acquire()` found its queue full (`maxQueue` waiters); nothing was consumed. */
export class RateLimitQueueFullError extends BreakwaterError {
  declare readonly code: 'RATE_LIMIT_QUEUE_FULL';
  constructor(
    readonly limiter: string,
    readonly maxQueue: number,
  ) {
    super('RATE_LIMIT_QUEUE_FULL', `Rate limiter '${limiter}' has ${maxQueue} calls waiting already`);
  }
}
/**
 * `RateLimiter.acquire()` could not get quota within `maxWait`: refused as soon as the wait
 * was known to be longer, or when `maxWait` ran out. Nothing was consumed.
 */
export class RateLimitWaitTimeoutError extends BreakwaterError {
  declare readonly code: 'RATE_LIMIT_WAIT_TIMEOUT';
  constructor(
    readonly limiter: string,
    readonly maxWaitMs: number,
    retryAfterMs?: number,
  ) {
    super('RATE_LIMIT_WAIT_TIMEOUT', `Rate limiter '${limiter}' had no quota within ${maxWaitMs}ms`, {
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
}
/** The rate limiter was closed while `acquire()` waited, or before it was called. */
export class RateLimiterClosedError extends BreakwaterError {
  declare readonly code: 'RATE_LIMITER_CLOSED';
  constructor(readonly limiter: string) {
    super('RATE_LIMITER_CLOSED', `Rate limiter '${limiter}' is closed`);
  }
}
/** The rate limit that applies to a request could not be had (its `limit` function failed). */
export class RateLimitError extends BreakwaterError {
  declare readonly code: 'RATE_LIMIT_ERROR';
  constructor(readonly limiter: string) {
    super('RATE_LIMIT_ERROR', `Rate limiter '${limiter}' could not determine the limit`);
  }
}
/** The circuit breaker is open (or half-open with every probe slot taken). */
export class CircuitOpenError extends BreakwaterError {
  declare readonly code: 'CIRCUIT_OPEN';
  constructor(
    readonly breaker: string,
    retryAfterMs: number,
  ) {
    super('CIRCUIT_OPEN', `Circuit breaker '${breaker}' is open`, { retryAfterMs });
  }
}
/** The bulkhead had no free slot and no room in its queue, or the queue wait expired. */
export class BulkheadRejectedError extends BreakwaterError {
  declare readonly code: 'BULKHEAD_FULL';
  constructor(
    readonly bulkhead: string,
    readonly reason: 'full' | 'queue_timeout',
    retryAfterMs = 1000,
  ) {
    super(
      'BULKHEAD_FULL',
      reason === 'full' ? `Bulkhead '${bulkhead}' is full` : `Bulkhead '${bulkhead}' queue wait expired`,
      { retryAfterMs },
    );
  }
}
/** The work did not finish before its deadline. */
export class TimeoutError extends BreakwaterError {
  declare readonly code: 'TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super('TIMEOUT', `Timed out after ${timeoutMs}ms`);
  }
}
/** The process is overloaded and sheds requests of this priority (see the `overload` option). */
export class OverloadedError extends BreakwaterError {
  declare readonly code: 'OVERLOADED';
  constructor(
    /** The shed level when the request was refused: 1 sheddable routes, 2 normal ones too. */
    readonly level: number,
    retryAfterMs: number,
  ) {
    super('OVERLOADED', `The process is overloaded (shed level ${level})`, { retryAfterMs });
  }
}
/** An option failed validation; `path` names it, `value` is what was given. */
export class ConfigError extends BreakwaterError {
  declare readonly code: 'INVALID_OPTION';
  constructor(
    readonly path: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super('INVALID_OPTION', `${path}: expected ${expected}, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  try {
    const s = JSON.stringify(value);
    return s.length > 80 ? `${s.slice(0, 80)}…` : s;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

export const isRateLimitedError: (e: unknown) => e is RateLimitedError = guard('RATE_LIMITED');
export const isRateLimitQueueFullError: (e: unknown) => e is RateLimitQueueFullError =
  guard('RATE_LIMIT_QUEUE_FULL');
export const isRateLimitWaitTimeoutError: (e: unknown) => e is RateLimitWaitTimeoutError =
  guard('RATE_LIMIT_WAIT_TIMEOUT');
export const isRateLimiterClosedError: (e: unknown) => e is RateLimiterClosedError =
  guard('RATE_LIMITER_CLOSED');
export const isCircuitOpenError: (e: unknown) => e is CircuitOpenError = guard('CIRCUIT_OPEN');
export const isBulkheadRejectedError: (e: unknown) => e is BulkheadRejectedError = guard('BULKHEAD_FULL');
export const isTimeoutError: (e: unknown) => e is TimeoutError = guard('TIMEOUT');
export const isOverloadedError: (e: unknown) => e is OverloadedError = guard('OVERLOADED');
export const isConfigError: (e: unknown) => e is ConfigError = guard('INVALID_OPTION');
