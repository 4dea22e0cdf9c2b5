/** The algorithms a rate-limit window can use. */
export type RateLimitAlgorithm = 'token-bucket' | 'sliding-window' | 'fixed-window';

/** One window of a limiter, normalised: what a store needs to decide. */
export interface RateLimitWindow {
  /** Policy name used in the `RateLimit` headers, e.g. `per-minute`. */
  readonly name: string;
  readonly algorithm: RateLimitAlgorithm;
  /** Requests (cost units) admitted per window. */
  readonly limit: number;
  readonly windowMs: number;
  /** Token-bucket capacity; equals `limit` unless configured. Unused by the window algorithms. */
  readonly burst: number;
}

/**
 * A store's answer for one key over every window of a route. `remaining[i]` and
 * `resetMs[i]` describe window `i` after the decision; when refused nothing was consumed.
 */
export interface RateLimitDecision {
  allowed: boolean;
  /** Quota units left per window (after this request when allowed). */
  remaining: number[];
  /**
   * Per window, milliseconds until it admits again when it is exhausted, else until its
   * quota is fully restored. This is the `t` of the `RateLimit` header.
   */
  resetMs: number[];
  /** When refused: milliseconds until every violated window would admit this cost. 0 when allowed. */
  retryAfterMs: number;
  /** Indexes of the windows that refused. Empty when allowed. */
  violated: number[];
}

/**
 * Where limiter state lives. Every window of one call is decided atomically: all admit
 * and consume, or none consumes. A store may answer synchronously (the memory store does,
 * which keeps the hot path free of promises) or with a promise (Redis).
 */
export interface RateLimitStore {
  consume(
    key: string,
    windows: readonly RateLimitWindow[],
    cost: number,
  ): RateLimitDecision | Promise<RateLimitDecision>;
  /** Forget a key (e.g. after a successful login). */
  reset?(key: string): void | Promise<void>;
  close?(): void | Promise<void>;
}
