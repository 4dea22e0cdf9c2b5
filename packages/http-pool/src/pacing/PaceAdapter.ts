import type { ResponseHeaders } from '../HttpResponse.js';
import type { ResolvedPaceOptions } from './options.js';
import { emptySignal, type RateLimitSignal, readRateLimitSignal } from './parseRateLimitHeaders.js';

/** Why the pace changed, as announced by {@link Pacer.onChange}. */
export type PaceChangeReason = 'throttled' | 'headers' | 'policy' | 'restore' | 'pause';

/** Multiplicative decrease on a 429 (or a 503 with `Retry-After`). */
const DECREASE = 0.5;
/** Additive increase per calm `restoreAfter`, as a fraction of the configured rate. */
const RESTORE_STEP = 0.1;

/** What the adapter steers: the pacer's rate and pause. */
export interface PaceControl {
  /** Current pace, in calls per millisecond. */
  readonly ratePerMs: number;
  setRate(now: number, perMs: number, reason: PaceChangeReason): void;
  /** No call leaves before `until` (a later pause wins; an earlier one is ignored). */
  pause(now: number, until: number): void;
}

/**
 * How a pacer listens to its upstream: multiplicative decrease on throttling, obedience to
 * the upstream's own figures, additive increase in calm (AIMD, as TCP and most adaptive
 * clients do). It never paces above the configured rate nor, once the upstream has stated
 * one, above its policy; never below `minRate`, though pauses it asks for still apply.
 */
export class PaceAdapter {
  /** Highest pace: the configured rate, or lower when the upstream's policy says so. */
  private ceilingPerMs: number;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  private lastPressureAt = Number.NEGATIVE_INFINITY;
  private lastRestoreAt = Number.NEGATIVE_INFINITY;
  /** Reused for every response: reading headers allocates nothing. */
  private readonly signal: RateLimitSignal = emptySignal();

  constructor(
    private readonly o: ResolvedPaceOptions,
    private readonly control: PaceControl,
  ) {
    this.ceilingPerMs = o.ratePerMs;
  }

  /**
   * Learns from one response, answered at `now` to a call that left at `sentAt`.
   *
   * - 429, or 503 with `Retry-After`: no call leaves before `Retry-After` ends (at most
   *   `maxPause`), and the
   *   pace halves (not below `minRate`) — once per wave: answers to calls sent before the
   *   last halving do not halve it again.
   * - `RateLimit` with a quota at 0: no call leaves before it resets; with quota left,
   *   the pace drops to spread what remains over the time to the reset.
   * - `RateLimit-Policy`: the pace never exceeds its `q / w` (nor the configured rate).
   * - otherwise, after `restoreAfter` without any of these, the pace climbs a tenth of the
   *   configured rate per `restoreAfter`, back to the ceiling.
   */
  observe(status: number, headers: ResponseHeaders, sentAt: number, now: number): void {
    const o = this.o;
    const c = this.control;
    const s = this.signal;
    const said = readRateLimitSignal(headers, now, s);
    let pressure = false;
    if (status === 429 || (status === 503 && s.retryAfterMs >= 0)) {
      pressure = true;
      const pause = s.retryAfterMs >= 0 ? s.retryAfterMs : s.exhaustedMs;
      if (pause > 0) c.pause(now, now + Math.min(pause, o.maxPauseMs));
      if (sentAt >= this.lastDecreaseAt) {
        this.lastDecreaseAt = now;
        c.setRate(now, Math.max(o.minPerMs, c.ratePerMs * DECREASE), 'throttled');
      }
    }
    if (said) {
      if (s.policyPerMs >= 0) {
        const ceiling = Math.max(o.minPerMs, Math.min(o.ratePerMs, s.policyPerMs));
        if (ceiling !== this.ceilingPerMs) {
          this.ceilingPerMs = ceiling;
          if (c.ratePerMs > ceiling) c.setRate(now, ceiling, 'policy');
        }
      }
      if (s.exhaustedMs >= 0) {
        pressure = true;
        // A quota restored "now" (t=0) still needs a moment: one token's time.
        c.pause(now, now + Math.min(o.maxPauseMs, Math.max(s.exhaustedMs, 1 / c.ratePerMs)));
      } else if (s.spreadPerMs >= 0 && s.spreadPerMs < c.ratePerMs) {
        pressure = true;
        c.setRate(now, Math.max(o.minPerMs, s.spreadPerMs), 'headers');
      }
    }
    if (pressure) this.lastPressureAt = now;
    else if (
      c.ratePerMs < this.ceilingPerMs &&
      now - this.lastPressureAt >= o.restoreAfterMs &&
      now - this.lastRestoreAt >= o.restoreAfterMs
    ) {
      this.lastRestoreAt = now;
      c.setRate(now, Math.min(this.ceilingPerMs, c.ratePerMs + o.ratePerMs * RESTORE_STEP), 'restore');
    }
  }
}
