import { ConfigError } from '../../errors.js';
import { type Clock, systemClock } from '../../util/clock.js';
import type { Duration } from '../../util/duration.js';
import { checkKeys, expectObject, optDuration, optInt, optNumber } from '../../util/validate.js';
import { LatencySketch } from './LatencySketch.js';

/**
 * Options of an adaptive timeout: the deadline is `clamp(quantile(percentile) × factor,
 * min, max)` over the latencies of recent successful calls.
 */
export interface AdaptiveTimeoutOptions {
  /** Quantile of recent successful latencies the deadline follows, in (0, 1]. Default 0.99. */
  percentile?: number;
  /** Head room over that quantile, >= 1. Default 2 (twice the p99). */
  factor?: number;
  /** Lowest deadline. Default `'10ms'`. */
  min?: Duration;
  /** Highest deadline, required: the timeout never gets looser than this. */
  max: Duration;
  /** Deadline until `minSamples` successes are in the window. Default `max`. */
  initial?: Duration;
  /** Successes needed in the window before the quantile is trusted. Default 100. */
  minSamples?: number;
  /** How far back latencies count. Default `'1m'`. */
  window?: Duration;
  /** Time slices the window ages out by. Default 6 (a `'1m'` window forgets 10 s at a time). */
  slices?: number;
  /**
   * How often the deadline is recomputed from the sketch, at most. Default `'1s'`. Between
   * two recomputations the deadline is a cached number: reading it costs a comparison.
   */
  refresh?: Duration;
  /** Clock for tests. Default: the system clock. */
  clock?: Clock;
}

const KNOWN = [
  'percentile',
  'factor',
  'min',
  'max',
  'initial',
  'minSamples',
  'window',
  'slices',
  'refresh',
  'clock',
];

const DEFAULT_PERCENTILE = 0.99;
const DEFAULT_FACTOR = 2;
const DEFAULT_MIN_MS = 10; // 10ms
const DEFAULT_MIN_SAMPLES = 100;
const DEFAULT_WINDOW_MS = 60_000; // 1m
const DEFAULT_SLICES = 6;
const DEFAULT_REFRESH_MS = 1000; // 1s
/** Quantiles are estimated within 1%: finer than any deadline needs, ~1,000 buckets for max 1h. */
const RELATIVE_ACCURACY = 0.01;

/** A snapshot of an adaptive timeout, for admin and tests. */
export interface AdaptiveTimeoutStats {
  /** The deadline now, in milliseconds. */
  timeoutMs: number;
  /** Successes in the window. */
  samples: number;
  /** The estimated quantile, in milliseconds; NaN with no samples. */
  quantileMs: number;
  /** True while fewer than `minSamples` successes are in the window (the deadline is `initial`). */
  warmingUp: boolean;
}

/**
 * A deadline that follows recent successful latencies, so a timeout is neither too tight
 * on a slow day nor too loose on a fast one. Only successes are recorded: a timed-out
 * call's latency is the deadline itself, and recording it would make the estimator chase
 * its own deadline upward.
 */
export class AdaptiveTimeout {
  readonly percentile: number;
  readonly factor: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly initialMs: number;
  readonly minSamples: number;
  readonly clock: Clock;
  private readonly refreshMs: number;
  private readonly sketch: LatencySketch;
  private current: number;
  private nextRefreshAt = Number.NEGATIVE_INFINITY;

  constructor(options: AdaptiveTimeoutOptions, path = 'timeout.adaptive') {
    const o = expectObject(options, path);
    checkKeys(o, KNOWN, path);
    this.percentile = optNumber(o.percentile, `${path}.percentile`, DEFAULT_PERCENTILE, 0, 1);
    if (this.percentile === 0) throw new ConfigError(`${path}.percentile`, 0, 'a number above 0, up to 1');
    this.factor = optNumber(o.factor, `${path}.factor`, DEFAULT_FACTOR, 1, 1000);
    if (o.max === undefined) throw new ConfigError(`${path}.max`, undefined, "a duration like '5s'");
    this.maxMs = optDuration(o.max, `${path}.max`, undefined)!;
    this.minMs = optDuration(o.min, `${path}.min`, Math.min(DEFAULT_MIN_MS, this.maxMs))!;
    if (this.minMs <= 0) throw new ConfigError(`${path}.min`, o.min, 'a duration greater than 0');
    if (this.maxMs < this.minMs)
      throw new ConfigError(`${path}.max`, o.max, `a duration no less than min (${this.minMs}ms)`);
    this.initialMs = optDuration(o.initial, `${path}.initial`, this.maxMs)!;
    if (this.initialMs < this.minMs || this.initialMs > this.maxMs)
      throw new ConfigError(
        `${path}.initial`,
        o.initial,
        `a duration from min to max (${this.minMs}..${this.maxMs}ms)`,
      );
    this.minSamples = optInt(o.minSamples, `${path}.minSamples`, DEFAULT_MIN_SAMPLES, 1);
    const windowMs = optDuration(o.window, `${path}.window`, DEFAULT_WINDOW_MS)!;
    if (windowMs <= 0) throw new ConfigError(`${path}.window`, o.window, 'a duration greater than 0');
    const slices = optInt(o.slices, `${path}.slices`, DEFAULT_SLICES, 1, 60);
    this.refreshMs = optDuration(
      o.refresh,
      `${path}.refresh`,
      Math.min(DEFAULT_REFRESH_MS, windowMs / slices),
    )!;
    const clock = o.clock ?? systemClock;
    if (typeof (clock as Clock).now !== 'function') throw new ConfigError(`${path}.clock`, clock, 'a Clock');
    this.clock = clock as Clock;
    this.sketch = new LatencySketch({
      windowMs,
      slices,
      // A success cannot take longer than the deadline, which never exceeds max.
      maxValueMs: this.maxMs,
      relativeAccuracy: RELATIVE_ACCURACY,
      clock: this.clock,
    });
    this.current = this.initialMs;
  }

  /**
   * The deadline for a call starting now, in milliseconds. Cheap: recomputed from the
   * sketch at most once per `refresh`.
   */
  timeoutMs(now = this.clock.now()): number {
    if (now >= this.nextRefreshAt) this.recompute(now);
    return this.current;
  }

  /** Records the latency of a successful call. Never record failures or timeouts. */
  recordSuccess(latencyMs: number, now = this.clock.now()): void {
    this.sketch.record(latencyMs, now);
  }

  get stats(): AdaptiveTimeoutStats {
    const now = this.clock.now();
    const samples = this.sketch.count(now);
    return {
      timeoutMs: this.timeoutMs(now),
      samples,
      quantileMs: this.sketch.quantile(this.percentile, now),
      warmingUp: samples < this.minSamples,
    };
  }

  private recompute(now: number): void {
    this.nextRefreshAt = now + this.refreshMs;
    const sketch = this.sketch;
    if (sketch.count(now) < this.minSamples) {
      this.current = this.initialMs;
      return;
    }
    const t = Math.ceil(sketch.quantile(this.percentile, now) * this.factor);
    this.current = Math.min(Math.max(t, this.minMs), this.maxMs);
  }
}
