import type { Duration } from '../../util/duration.js';
import { optDuration, optNumber } from '../../util/validate.js';
import { bounds } from './bounds.js';
import { clamp, type LimitAlgorithm, type LimitBounds } from './LimitAlgorithm.js';

/** Options of {@link AimdLimit}. */
export interface AimdLimitOptions extends LimitBounds {
  /** Factor the limit is multiplied by on a drop or a slow call, in (0, 1). Default 0.9. */
  backoffRatio?: number;
  /** A call slower than this counts as a drop. Default `'5s'`. */
  timeout?: Duration;
}

const DEFAULT_BACKOFF_RATIO = 0.9;
const DEFAULT_TIMEOUT_MS = 5_000; // 5s

/**
 * Additive increase, multiplicative decrease, as TCP's congestion window: +1 for each
 * successful call made while the limit was in use (at least half of it in flight; an idle
 * route proves nothing about a higher limit), × `backoffRatio` on each drop or call slower
 * than `timeout`. Blind to latency below `timeout`: it reacts to failure, not to queueing.
 */
export class AimdLimit implements LimitAlgorithm {
  readonly name = 'aimd';
  readonly backoffRatio: number;
  readonly timeoutMs: number;
  private readonly min: number;
  private readonly max: number;
  private current: number;

  constructor(options: AimdLimitOptions = {}, path = 'limiter') {
    const b = bounds(options, path);
    this.min = b.min;
    this.max = b.max;
    this.current = b.initial;
    this.backoffRatio = optNumber(
      options.backoffRatio,
      `${path}.backoffRatio`,
      DEFAULT_BACKOFF_RATIO,
      0.01,
      0.99,
    );
    this.timeoutMs = optDuration(options.timeout, `${path}.timeout`, DEFAULT_TIMEOUT_MS)!;
  }

  get limit(): number {
    return this.current;
  }

  update(rttMs: number, inflight: number, dropped: boolean): void {
    let l = this.current;
    if (dropped || rttMs > this.timeoutMs) l = Math.floor(l * this.backoffRatio);
    else if (inflight * 2 >= l) l = l + 1;
    else return;
    this.current = clamp(l, this.min, this.max);
  }
}
