import { ConfigError } from '../errors.js';
import { type Clock, systemClock } from '../util/clock.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { checkKeys, expectObject, optNumber } from '../util/validate.js';

/** Options of a {@link RetryBudget}. Defaults follow Finagle's retry budget, with a smaller floor. */
export interface RetryBudgetOptions {
  /** Retries allowed as a share of the calls in the window (0..1). Default 0.2. */
  ratio?: number;
  /** How far back calls and retries are counted. Default `'10s'`. */
  window?: Duration;
  /**
   * Retries allowed per second of window whatever the traffic, so a quiet service can
   * still retry. Default 1 (10 retries per 10 s window).
   */
  minPerSecond?: number;
  /** Clock for tests. */
  clock?: Clock;
}

/** Live numbers of a {@link RetryBudget}. */
export interface RetryBudgetStats {
  /** First attempts counted in the window. */
  calls: number;
  /** Retries granted in the window. */
  retries: number;
  /** Retries that would still be granted now. */
  available: number;
}

const BUCKETS = 10;

/**
 * A retry budget: within a sliding time window, retries may be at most `ratio` of the
 * calls plus a floor of `minPerSecond × window`. When every call fails, retries then add
 * at most `ratio` to the load instead of multiplying it by the attempt count.
 *
 * Callers record each first attempt with {@link recordCall} and ask {@link tryRetry}
 * before each retry; a granted retry counts against the budget.
 */
export class RetryBudget {
  readonly ratio: number;
  readonly windowMs: number;
  readonly minPerSecond: number;
  /** Retries the floor allows per window. */
  readonly reserve: number;
  /** The clock buckets are read from; a caller holding a reading of it may pass it on. @internal */
  readonly clock: Clock;
  private readonly bucketMs: number;
  private readonly epochs = new Float64Array(BUCKETS).fill(-1);
  private readonly calls = new Uint32Array(BUCKETS);
  private readonly retries = new Uint32Array(BUCKETS);

  constructor(options: RetryBudgetOptions = {}, path = 'retry.budget') {
    const o = expectObject(options, path);
    checkKeys(o, ['ratio', 'window', 'minPerSecond', 'clock'], path);
    this.ratio = optNumber(o.ratio, `${path}.ratio`, 0.2, 0, 1);
    this.windowMs = o.window === undefined ? 10_000 : parseDuration(o.window, `${path}.window`);
    if (this.windowMs < 10) throw new ConfigError(`${path}.window`, o.window, 'a duration of at least 10ms');
    this.minPerSecond = optNumber(o.minPerSecond, `${path}.minPerSecond`, 1, 0, 1_000_000);
    this.reserve = this.minPerSecond * (this.windowMs / 1000);
    this.clock = options.clock ?? systemClock;
    this.bucketMs = this.windowMs / BUCKETS;
  }

  /** Counts a first attempt (a deposit into the budget). `now`: a reading of this budget's clock, if the caller has one. */
  recordCall(now?: number): void {
    this.calls[this.bucket(now ?? this.clock.now())]!++;
  }

  tryRetry(): boolean {
    const now = this.clock.now();
    const { calls, retries } = this.totals(now);
    if (retries + 1 > this.ratio * calls + this.reserve) return false;
    this.retries[this.bucket(now)]!++;
    return true;
  }

  get stats(): RetryBudgetStats {
    const { calls, retries } = this.totals(this.clock.now());
    return {
      calls,
      retries,
      available: Math.max(0, Math.floor(this.ratio * calls + this.reserve - retries)),
    };
  }

  private bucket(now: number): number {
    const epoch = Math.floor(now / this.bucketMs);
    const i = epoch % BUCKETS;
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch;
      this.calls[i] = this.retries[i] = 0;
    }
    return i;
  }

  private totals(now: number): { calls: number; retries: number } {
    const epoch = Math.floor(now / this.bucketMs);
    let calls = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      if (epoch - this.epochs[i]! < BUCKETS) {
        calls += this.calls[i]!;
        retries += this.retries[i]!;
      }
    }
    return { calls, retries };
  }
}
