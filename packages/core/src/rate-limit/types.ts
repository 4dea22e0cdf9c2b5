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
  /**
   * The windows this decision applied, when they are not the limiter's own (`limit` given as
   * a function: each window's `limit` is the one that applied to this request). Headers
   * describe these.
   */
  windows?: readonly RateLimitWindow[] | undefined;
  /**
   * Milliseconds until the key's block ends, when the key is blocked (`block`); the refusal
   * that starts a block carries its whole length. Absent or 0 otherwise.
   */
  blockedMs?: number | undefined;
}

/**
 * Brute-force protection, normalised: after `after` refusals within `windowMs`, the key is
 * refused for `forMs`, each new block of the same key `growth` times longer up to `maxMs`.
 * A key's history of blocks is forgotten `maxMs` after its last block ends.
 */
export interface RateLimitBlock {
  readonly after: number;
  readonly forMs: number;
  readonly growth: number;
  readonly maxMs: number;
  /** The window refusals are counted in: the limiter's longest. */
  readonly windowMs: number;
}

/** One key's state as {@link RateLimitStore.get} reads it, without consuming. */
export interface RateLimitKeyState {
  /** Per window, as a decision would report it for one more unit. */
  windows: Array<{ name: string; limit: number; remaining: number; resetMs: number }>;
  /** Present with `block`: refusals counted towards the next block, blocks so far, time left. */
  block?: { refusals: number; blocks: number; blockedMs: number } | undefined;
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
    block?: RateLimitBlock,
  ): RateLimitDecision | Promise<RateLimitDecision>;
  /**
   * Gives `cost` back to `key` in every window (a request that should not have counted,
   * `count: 'failed' | 'succeeded'`): what a refused decision would leave, plus `cost`, never
   * beyond a fresh window. A key that has expired meanwhile is left alone. Required by `count`.
   */
  refund?(key: string, windows: readonly RateLimitWindow[], cost: number): void | Promise<void>;
  /** Reads `key`'s state without consuming; undefined when the key holds none. */
  get?(
    key: string,
    windows: readonly RateLimitWindow[],
    block?: RateLimitBlock,
  ): RateLimitKeyState | undefined | Promise<RateLimitKeyState | undefined>;
  /** True when `consume` honours its `block` argument. Required by `block`. */
  readonly supportsBlock?: boolean;
  /** Forget a key (e.g. after a successful login). */
  reset?(key: string): void | Promise<void>;
  close?(): void | Promise<void>;
}
