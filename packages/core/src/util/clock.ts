import { ConfigError } from '../errors.js';
/** A timer handle as returned by {@link Clock.setTimeout}. */
export type TimerHandle = { unref?(): unknown; refresh?(): unknown } | number;

/**
 * Where policies read the time and set timers. Inject one in tests; the default reads
 * the globals at call time, so test runners' fake timers apply to it too.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now` and the global timers, with every timer unref'd. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/** A `clock` option checked at construction: the system clock when absent. */
export function clockOption(clock: unknown, path: string): Clock {
  if (clock === undefined) return systemClock;
  const c = clock as Partial<Clock> | null;
  if (
    c === null ||
    typeof c !== 'object' ||
    typeof c.now !== 'function' ||
    typeof c.setTimeout !== 'function' ||
    typeof c.clearTimeout !== 'function'
  )
    throw new ConfigError(path, clock, 'a Clock with now(), setTimeout() and clearTimeout()');
  return c as Clock;
}
