import { optInt, optNumber } from '../../util/validate.js';
import { bounds } from './bounds.js';
import { clamp, type LimitAlgorithm, type LimitBounds } from './LimitAlgorithm.js';

/** Options of {@link Gradient2Limit}. */
export interface Gradient2LimitOptions extends LimitBounds {
  /** How far the short-term RTT may exceed the long-term average before the limit falls, >= 1. Default 1.5. */
  tolerance?: number;
  /** Weight of each new estimate in the limit, (0, 1]. Default 0.2. */
  smoothing?: number;
  /** Samples the long-term RTT average spans. Default 600. */
  longWindow?: number;
  /** Headroom added to the estimate, so the limit can grow and absorb bursts. Default 4. */
  queueSize?: number;
}

const DEFAULT_TOLERANCE = 1.5;
const DEFAULT_SMOOTHING = 0.2;
const DEFAULT_LONG_WINDOW = 600; // samples
const DEFAULT_QUEUE_SIZE = 4;
/** The long average is a plain mean over its first samples, so one early outlier cannot anchor it. */
const WARMUP_SAMPLES = 10;
/** The gradient never cuts the limit by more than half in one sample (outliers happen). */
const MIN_GRADIENT = 0.5;

/**
 * Netflix's Gradient2: compares each call's RTT (short term) with an exponential average
 * of RTTs (long term). When calls get slower than `tolerance` × the average, the dependency
 * is queueing and the limit shrinks by the ratio; otherwise it grows by `queueSize`:
 *
 *     gradient = clamp(tolerance · longRtt / shortRtt, 0.5, 1)
 *     limit   ← (1 − smoothing) · limit + smoothing · (limit · gradient + queueSize)
 *
 * Unlike Vegas it needs no "no-load" RTT, so it follows a dependency whose base latency
 * drifts. The headroom means the limit settles no lower than about 2 × `queueSize` (8 by
 * default) however slow the dependency gets: lower `queueSize` for tiny limits. Departure from the original, which ignores drops: a drop (timeout) counts as the
 * steepest gradient, so timeouts shrink the limit even before the average has moved.
 */
export class Gradient2Limit implements LimitAlgorithm {
  readonly name = 'gradient2';
  readonly tolerance: number;
  readonly smoothing: number;
  readonly longWindow: number;
  readonly queueSize: number;
  private readonly min: number;
  private readonly max: number;
  private readonly longFactor: number;
  private estimate: number;
  private longRtt = 0;
  private samples = 0;

  constructor(options: Gradient2LimitOptions = {}, path = 'limiter') {
    const b = bounds(options, path);
    this.min = b.min;
    this.max = b.max;
    this.estimate = b.initial;
    this.tolerance = optNumber(options.tolerance, `${path}.tolerance`, DEFAULT_TOLERANCE, 1, 100);
    this.smoothing = optNumber(options.smoothing, `${path}.smoothing`, DEFAULT_SMOOTHING, 0.001, 1);
    this.longWindow = optInt(options.longWindow, `${path}.longWindow`, DEFAULT_LONG_WINDOW, 1);
    this.queueSize = optNumber(options.queueSize, `${path}.queueSize`, DEFAULT_QUEUE_SIZE, 0, 1e6);
    this.longFactor = 2 / (this.longWindow + 1);
  }

  get limit(): number {
    return this.estimate;
  }

  /** The long-term RTT average, in milliseconds (0 before the first sample). */
  get longRttMs(): number {
    return this.longRtt;
  }

  update(rttMs: number, inflight: number, dropped: boolean): void {
    // A zero RTT (a coarse clock) would divide by zero below; a millisecond is the clock's grain.
    const shortRtt = rttMs > 0 ? rttMs : 1;
    this.samples++;
    const longRtt =
      this.samples <= WARMUP_SAMPLES
        ? this.longRtt + (shortRtt - this.longRtt) / this.samples
        : this.longRtt * (1 - this.longFactor) + shortRtt * this.longFactor;
    // After a long overload the average sits far above normal RTTs: pull it down faster
    // than the smoothing would, so the limit recovers without waiting `longWindow` samples.
    this.longRtt = longRtt / shortRtt > 2 ? longRtt * 0.95 : longRtt;
    let gradient: number;
    if (dropped) gradient = MIN_GRADIENT;
    // An idle route proves nothing about a higher limit: stay put.
    else if (inflight < this.estimate / 2) return;
    else gradient = clamp((this.tolerance * longRtt) / shortRtt, MIN_GRADIENT, 1);
    const target = this.estimate * gradient + this.queueSize;
    const next = this.estimate * (1 - this.smoothing) + target * this.smoothing;
    this.estimate = clamp(next, this.min, this.max);
  }
}
