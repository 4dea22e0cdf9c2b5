/** A clock for the package's unit tests. Not part of the package. */
import type { Clock, TimerHandle } from './util/clock.js';

/** A clock the test moves by hand (`clock.t = …`); it sets no timers. */
export function manualClock(start = 1_000_000): Clock & { t: number } {
  const c = { t: start, now: () => c.t, setTimeout: () => 0, clearTimeout: () => {} };
  return c;
}

/** A clock that moves only when told, and runs the timers set on it as time passes them. */
export class StepClock implements Clock {
  t = 1_000_000;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  private id = 0;
  now = (): number => this.t;
  setTimeout = (fn: () => void, ms: number): TimerHandle => {
    this.timers.set(++this.id, { at: this.t + ms, fn });
    return this.id;
  };
  clearTimeout = (h: TimerHandle): void => {
    this.timers.delete(h as number);
  };
  /** Moves time on, firing due timers in order (timers they set included). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers)
        if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.t = Math.max(this.t, next[1].at);
      this.timers.delete(next[0]);
      next[1].fn();
    }
    this.t = end;
  }
}
