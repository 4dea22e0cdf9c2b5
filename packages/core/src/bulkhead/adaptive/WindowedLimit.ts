import type { LimitAlgorithm } from './LimitAlgorithm.js';

/**
 * Feeds another algorithm one sample per `size` calls: their mean RTT, the most calls in
 * flight among them, and whether any dropped (Netflix's `WindowedLimit`, by sample count).
 * Latency-driven algorithms need it: per call, one event-loop stall makes every call in
 * flight look slow at once and each would cut the limit; per window, the stall is one
 * sample. It also paces growth to one step per window rather than per call.
 */
export class WindowedLimit implements LimitAlgorithm {
  readonly name: string;
  private count = 0;
  private rttSum = 0;
  private maxInflight = 0;
  private dropped = false;

  constructor(
    readonly delegate: LimitAlgorithm,
    /** Calls per window, >= 1. */
    readonly size: number,
  ) {
    this.name = delegate.name;
  }

  get limit(): number {
    return this.delegate.limit;
  }

  update(rttMs: number, inflight: number, dropped: boolean): void {
    this.count++;
    this.rttSum += rttMs;
    if (inflight > this.maxInflight) this.maxInflight = inflight;
    if (dropped) this.dropped = true;
    if (this.count < this.size) return;
    const mean = this.rttSum / this.count;
    const max = this.maxInflight;
    const drop = this.dropped;
    this.count = this.rttSum = this.maxInflight = 0;
    this.dropped = false;
    this.delegate.update(mean, max, drop);
  }
}
