import { BreakwaterError, isBreakwaterError } from '@breakwater/core';

/**
 * The pool's pacing would make this call wait longer than it may (`pace.maxWait`, or the
 * inbound request's remaining budget): refused at once rather than after a wait in vain.
 * Code `POOL_PACE_TIMEOUT`; `retryAfterMs` is the wait the pacer expected.
 */
export class PoolPaceTimeoutError extends BreakwaterError {
  declare readonly code: 'POOL_PACE_TIMEOUT';
  constructor(
    readonly pool: string,
    /** The wait the pacer expected for this call, in milliseconds. */
    readonly expectedWaitMs: number,
    /** The longest wait the call was allowed, in milliseconds. */
    readonly maxWaitMs: number,
  ) {
    super(
      'POOL_PACE_TIMEOUT',
      `Pool '${pool}': pacing would delay the call ${Math.ceil(expectedWaitMs)}ms (allowed ${Math.floor(maxWaitMs)}ms)`,
      { retryAfterMs: Math.max(1, Math.ceil(expectedWaitMs)) },
    );
  }
}

/** True for a {@link PoolPaceTimeoutError} from any copy of Breakwater. */
export const isPoolPaceTimeoutError = (e: unknown): e is PoolPaceTimeoutError =>
  isBreakwaterError(e) && e.code === 'POOL_PACE_TIMEOUT';
