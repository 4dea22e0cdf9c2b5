import { optInt, optNumber } from '../../util/validate.js';
import { bounds } from './bounds.js';
import { clamp, type LimitAlgorithm, type LimitBounds } from './LimitAlgorithm.js';

/** Options of {@link VegasLimit}. */
export interface VegasLimitOptions extends LimitBounds {
  /** Below `alpha · log10(limit)` estimated queued calls the limit grows. Default 3. */
  alpha?: number;
  /** Above `beta · log10(limit)` estimated queued calls the limit shrinks. Default 6. */
  beta?: number;
  /** Weight of each new estimate in the limit, (0, 1]. Default 1 (no smoothing). */
  smoothing?: number;
  /**
   * The no-load RTT is re-measured every ~`probeMultiplier · limit` samples (jittered by
   * half), so a dependency that got permanently slower is not mistaken for a queue forever.
   * Default 30.
   */
  probeMultiplier?: number;
  /** Random numbers in [0, 1) for the probe jitter. Default `Math.random` (tests inject their own). */
  random?: () => number;
}

const DEFAULT_ALPHA = 3;
const DEFAULT_BETA = 6;
const DEFAULT_SMOOTHING = 1;
const DEFAULT_PROBE_MULTIPLIER = 30;

/**
 * TCP Vegas, as Netflix adapted it: the lowest RTT seen is the dependency's no-load RTT;
 * `queue = limit · (1 − rttNoLoad / rtt)` estimates how many calls are waiting in it. Few
 * queued (under `alpha·log10(limit)`): grow; many (over `beta·log10(limit)`): shrink by
 * `log10(limit)`; in between: hold. A drop always shrinks.
 */
export class VegasLimit implements LimitAlgorithm {
  readonly name = 'vegas';
  readonly alpha: number;
  readonly beta: number;
  readonly smoothing: number;
  readonly probeMultiplier: number;
  private readonly min: number;
  private readonly max: number;
  private readonly random: () => number;
  private estimate: number;
  private noLoadRtt = 0;
  private probeCount = 0;
  private probeJitter: number;

  constructor(options: VegasLimitOptions = {}, path = 'limiter') {
    const b = bounds(options, path);
    this.min = b.min;
    this.max = b.max;
    this.estimate = b.initial;
    this.alpha = optNumber(options.alpha, `${path}.alpha`, DEFAULT_ALPHA, 0, 1000);
    this.beta = optNumber(options.beta, `${path}.beta`, Math.max(this.alpha, DEFAULT_BETA), this.alpha, 1000);
    this.smoothing = optNumber(options.smoothing, `${path}.smoothing`, DEFAULT_SMOOTHING, 0.001, 1);
    this.probeMultiplier = optInt(
      options.probeMultiplier,
      `${path}.probeMultiplier`,
      DEFAULT_PROBE_MULTIPLIER,
      1,
    );
    this.random = options.random ?? Math.random;
    this.probeJitter = this.nextJitter();
  }

  get limit(): number {
    return this.estimate;
  }

  /** The RTT taken as the dependency's latency without load, in milliseconds (0 before the first sample). */
  get noLoadRttMs(): number {
    return this.noLoadRtt;
  }

  update(rttMs: number, inflight: number, dropped: boolean): void {
    const rtt = rttMs > 0 ? rttMs : 1;
    this.probeCount++;
    if (this.probeJitter * this.probeMultiplier * this.estimate <= this.probeCount) {
      // Probe: take this RTT as the new floor (it is re-lowered by faster samples to come).
      this.probeCount = 0;
      this.probeJitter = this.nextJitter();
      this.noLoadRtt = rtt;
      return;
    }
    if (this.noLoadRtt === 0 || rtt < this.noLoadRtt) {
      this.noLoadRtt = rtt;
      return;
    }
    const limit = this.estimate;
    const log = Math.max(1, Math.log10(limit));
    let next: number;
    if (dropped) next = limit - log;
    // Not using the limit: no evidence for a higher one.
    else if (inflight * 2 < limit) return;
    else {
      const queue = Math.ceil(limit * (1 - this.noLoadRtt / rtt));
      if (queue <= log) next = limit + this.beta * log;
      else if (queue < this.alpha * log) next = limit + log;
      else if (queue > this.beta * log) next = limit - log;
      else return;
    }
    next = clamp(next, this.min, this.max);
    this.estimate = clamp((1 - this.smoothing) * limit + this.smoothing * next, this.min, this.max);
  }

  private nextJitter(): number {
    return 0.5 + this.random() * 0.5;
  }
}
