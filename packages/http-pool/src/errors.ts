import { BreakwaterError, isBreakwaterError, TimeoutError } from '@breakwater/core';

/**
 * A response body crossed the size limit (`maxResponseSize`, the pool's or the request's).
 * Raised as soon as the limit is crossed, or at the headers when `content-length` already
 * says so; the request is aborted and its connection released. Code `POOL_RESPONSE_TOO_LARGE`.
 */
export class PoolResponseTooLargeError extends BreakwaterError {
  declare readonly code: 'POOL_RESPONSE_TOO_LARGE';
  constructor(
    readonly pool: string,
    /** The limit crossed, in bytes. */
    readonly limit: number,
    /** The body's announced length (`content-length`), when that is how it was caught. */
    readonly contentLength?: number,
  ) {
    super(
      'POOL_RESPONSE_TOO_LARGE',
      contentLength === undefined
        ? `Pool '${pool}': the response body exceeds maxResponseSize (${limit} bytes)`
        : `Pool '${pool}': the response announces ${contentLength} bytes, over maxResponseSize (${limit} bytes)`,
    );
  }
}

/** True for a {@link PoolResponseTooLargeError} from any copy of Breakwater. */
export const isPoolResponseTooLargeError = (e: unknown): e is PoolResponseTooLargeError =>
  isBreakwaterError(e) && e.code === 'POOL_RESPONSE_TOO_LARGE';

/**
 * The upstream went silent for `bodyTimeout` in the middle of a response body (time spent
 * paused by the reader's backpressure does not count). A {@link TimeoutError} (code
 * `TIMEOUT`, `timeoutMs` the body timeout) with `phase: 'body'`; `cause` is undici's error.
 */
export class PoolBodyTimeoutError extends TimeoutError {
  /** Which wait ran out: the silence between two body chunks. */
  readonly phase = 'body' as const;
  constructor(
    readonly pool: string,
    timeoutMs: number,
    cause?: unknown,
  ) {
    super(timeoutMs);
    this.message = `Pool '${pool}': no body data from the upstream for ${timeoutMs}ms`;
    if (cause !== undefined) Object.defineProperty(this, 'cause', { value: cause, configurable: true });
  }
}

/** True for a {@link PoolBodyTimeoutError} from any copy of Breakwater. */
export const isPoolBodyTimeoutError = (e: unknown): e is PoolBodyTimeoutError =>
  isBreakwaterError(e) && e.code === 'TIMEOUT' && (e as { phase?: unknown }).phase === 'body';
