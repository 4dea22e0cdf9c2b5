import type { Clock } from '../../util/clock.js';

/** Settings of a {@link LatencySketch}. All validated by the caller ({@link AdaptiveTimeout}). */
export interface LatencySketchSettings {
  /** How long a sample counts, in milliseconds; it ages out one slice at a time. */
  windowMs: number;
  /** Number of time slices the window is cut into (the granularity of ageing out). */
  slices: number;
  /** Largest value kept apart, in milliseconds; larger ones share the top bucket. */
  maxValueMs: number;
  /**
   * Bound on the relative error of a quantile, e.g. 0.01: the estimate is within 1% of a
   * sample that holds the quantile's rank. Buckets grow geometrically by (1+a)/(1-a).
   */
  relativeAccuracy: number;
  clock: Clock;
}

/** Values at or under this share bucket 0 (sub-0.1 ms latencies are all "instant"). */
const MIN_VALUE_MS = 0.1;

/**
 * A bounded-memory streaming quantile estimator over recent time: a log-bucketed
 * histogram (DDSketch's mapping) kept per time slice in a ring, plus a running total of
 * the live slices. Recording is O(1) (a logarithm and two increments), a quantile is one
 * scan of the buckets, and memory is fixed at construction: `(slices + 1) × buckets`
 * counters, a few thousand at most. A slice that leaves the window is subtracted from the
 * total and cleared, so samples older than `windowMs` (give or take one slice) no longer
 * count.
 */
export class LatencySketch {
  private readonly sliceMs: number;
  private readonly nSlices: number;
  private readonly nBuckets: number;
  private readonly logGamma: number;
  /** Bucket i > 0 holds values in (MIN·γ^(i-1), MIN·γ^i]. */
  private readonly gamma: number;
  private readonly counts: Uint32Array[];
  private readonly total: Float64Array;
  private readonly sliceCounts: Float64Array;
  private totalCount = 0;
  /** Epoch slice number (`floor(now / sliceMs)`) of the ring's newest slice. */
  private epoch: number;
  private readonly clock: Clock;

  constructor(s: LatencySketchSettings) {
    this.clock = s.clock;
    this.nSlices = s.slices;
    this.sliceMs = s.windowMs / s.slices;
    const a = s.relativeAccuracy;
    this.gamma = (1 + a) / (1 - a);
    this.logGamma = Math.log(this.gamma);
    this.nBuckets =
      Math.ceil(Math.log(Math.max(s.maxValueMs, MIN_VALUE_MS * 2) / MIN_VALUE_MS) / this.logGamma) + 2;
    this.counts = [];
    for (let i = 0; i < s.slices; i++) this.counts.push(new Uint32Array(this.nBuckets));
    this.total = new Float64Array(this.nBuckets);
    this.sliceCounts = new Float64Array(s.slices);
    this.epoch = Math.floor(this.clock.now() / this.sliceMs);
  }

  /** Samples currently in the window (after ageing out what has left it). */
  count(now = this.clock.now()): number {
    this.advance(now);
    return this.totalCount;
  }

  /** Number of buckets per slice (memory is `(slices + 1) × buckets` numbers). */
  get buckets(): number {
    return this.nBuckets;
  }

  /** Adds one sample, in milliseconds. `now`: the caller's clock reading, to spare a second one. */
  record(valueMs: number, now = this.clock.now()): void {
    this.advance(now);
    const b = this.bucketOf(valueMs);
    const slot = this.epoch % this.nSlices;
    this.counts[slot]![b]!++;
    this.sliceCounts[slot]!++;
    this.total[b]!++;
    this.totalCount++;
  }

  /**
   * The `q` quantile (0 < q ≤ 1) of the samples in the window, by nearest rank, or NaN
   * when there are none. Within `relativeAccuracy` of the exact nearest-rank value (for
   * values between 0.1 ms and `maxValueMs`).
   */
  quantile(q: number, now = this.clock.now()): number {
    this.advance(now);
    const n = this.totalCount;
    if (n === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * n));
    const total = this.total;
    let seen = 0;
    for (let i = 0; i < this.nBuckets; i++) {
      seen += total[i]!;
      if (seen >= rank) return this.valueOf(i);
    }
    return this.valueOf(this.nBuckets - 1);
  }

  /** Forgets every sample. */
  clear(): void {
    for (const c of this.counts) c.fill(0);
    this.total.fill(0);
    this.sliceCounts.fill(0);
    this.totalCount = 0;
  }

  private bucketOf(v: number): number {
    if (!(v > MIN_VALUE_MS)) return 0; // NaN and negatives too
    const i = Math.ceil(Math.log(v / MIN_VALUE_MS) / this.logGamma);
    return i < this.nBuckets ? i : this.nBuckets - 1;
  }

  /** The bucket's representative: the point within relative error `a` of both its bounds. */
  private valueOf(i: number): number {
    if (i === 0) return MIN_VALUE_MS;
    return (MIN_VALUE_MS * 2 * this.gamma ** i) / (this.gamma + 1);
  }

  /** Ages out the slices that have left the window since the last call. */
  private advance(now: number): void {
    const e = Math.floor(now / this.sliceMs);
    if (e <= this.epoch) return; // same slice (or a clock that stepped back: keep counting here)
    const steps = e - this.epoch;
    if (steps >= this.nSlices) this.clear();
    else {
      for (let k = 1; k <= steps; k++) this.evict((this.epoch + k) % this.nSlices);
    }
    this.epoch = e;
  }

  private evict(slot: number): void {
    if (this.sliceCounts[slot] === 0) return;
    const c = this.counts[slot]!;
    const total = this.total;
    for (let i = 0; i < this.nBuckets; i++) {
      const v = c[i]!;
      if (v !== 0) {
        total[i]! -= v;
        c[i] = 0;
      }
    }
    this.totalCount -= this.sliceCounts[slot]!;
    this.sliceCounts[slot] = 0;
  }
}
