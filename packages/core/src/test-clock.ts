/** A clock for the package's unit tests. Not part of the package. */
import type { Clock } from './util/clock.js';

/** A clock the test moves by hand (`clock.t = …`); it sets no timers. */
export function manualClock(start = 1_000_000): Clock & { t: number } {
  const c = { t: start, now: () => c.t, setTimeout: () => 0, clearTimeout: () => {} };
  return c;
}
