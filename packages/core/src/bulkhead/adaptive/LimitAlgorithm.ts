/**
 * What an adaptive bulkhead asks of a limit algorithm: learn from each call that held a
 * slot, and say how many calls may run at once now. The semantics follow Netflix's
 * concurrency-limits (`Limit.onSample`), so its algorithms and papers carry over.
 */
export interface LimitAlgorithm {
  /** The algorithm's name, as admin stats show it (`'aimd'`, `'gradient2'`, `'vegas'`, ...). */
  readonly name: string;
  /**
   * The current limit. May be fractional (smoothed estimates are); the bulkhead floors it
   * and keeps it within its `min` and `max`.
   */
  readonly limit: number;
  /**
   * One call that held a slot has ended.
   * @param rttMs milliseconds it held the slot (queue wait excluded: waiting says nothing about the dependency)
   * @param inflight calls holding a slot as it ended, itself included (Netflix counts when
   *   the call starts; counting at the end needs no per-call state and differs only while
   *   the count moves fast)
   * @param dropped it timed out, or the dependency refused it as overloaded (503, 504)
   */
  update(rttMs: number, inflight: number, dropped: boolean): void;
}

/** The bounds every built-in algorithm keeps its limit within. */
export interface LimitBounds {
  /** Lowest limit. Default 1. */
  min?: number;
  /** Highest limit. Default 1000. */
  max?: number;
  /** Limit before the first sample. Default 20 (or `max`, when lower). */
  initial?: number;
}

/** Defaults of {@link LimitBounds}. */
export const DEFAULT_MIN_LIMIT = 1;
export const DEFAULT_MAX_LIMIT = 1000;
export const DEFAULT_INITIAL_LIMIT = 20;

/** How a call that held a slot ended, as the adaptive limit learns from it. */
export const SampleOutcome = {
  /** Its latency is a sample. */
  ok: 0,
  /** It timed out or was refused downstream as overloaded: the limit backs off. */
  dropped: 1,
  /** Nothing to learn (the client left, the handler failed): the slot is only returned. */
  ignored: 2,
} as const;
export type SampleOutcome = (typeof SampleOutcome)[keyof typeof SampleOutcome];

/**
 * The outcome of a guarded request from how its handler ended. A thrown error or a 500
 * is the application's failure, not the dependency's load, so it teaches nothing; 503 and
 * 504 are how an overloaded dependency (or its gateway) answers, so they count as drops.
 */
export function outcomeOf(late: boolean, status: number, error: unknown): SampleOutcome {
  if (late) return SampleOutcome.dropped;
  if (error !== undefined || status === 0) return SampleOutcome.ignored;
  if (status === 503 || status === 504) return SampleOutcome.dropped;
  return status >= 500 ? SampleOutcome.ignored : SampleOutcome.ok;
}

/** Clamps `v` into [min, max]. */
export function clamp(v: number, min: number, max: number): number {
  return Math.max(min, Math.min(v, max));
}
