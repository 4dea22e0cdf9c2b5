import { describe, expect, test } from 'vitest';
import { isConfigError } from '../../errors.js';
import { manualClock } from '../../test-clock.js';
import { AdaptiveTimeout } from './AdaptiveTimeout.js';

/** Records `n` successes spread over `ms`, latencies from `latency(i)`. */
function feed(
  a: AdaptiveTimeout,
  clock: { t: number },
  n: number,
  ms: number,
  latency: (i: number) => number,
) {
  for (let i = 0; i < n; i++) {
    clock.t += ms / n;
    a.recordSuccess(latency(i));
  }
}

describe('AdaptiveTimeout', () => {
  test('uses initial (default max) until minSamples successes are in the window', () => {
    const clock = manualClock();
    const a = new AdaptiveTimeout({ max: '2s', minSamples: 50, refresh: 0, clock });
    expect(a.timeoutMs()).toBe(2000);
    feed(a, clock, 49, 1000, () => 20);
    expect(a.timeoutMs()).toBe(2000);
    a.recordSuccess(20);
    expect(a.timeoutMs()).toBeGreaterThanOrEqual(39);
    expect(a.timeoutMs()).toBeLessThanOrEqual(41);
    const b = new AdaptiveTimeout({ max: '2s', initial: '500ms', clock });
    expect(b.timeoutMs()).toBe(500);
  });

  test('is quantile × factor: p99 of 1..100 ms × 1.5', () => {
    const clock = manualClock();
    const a = new AdaptiveTimeout({
      percentile: 0.99,
      factor: 1.5,
      max: '10s',
      minSamples: 100,
      refresh: 0,
      clock,
    });
    feed(a, clock, 1000, 5000, (i) => (i % 100) + 1);
    // Exact p99 is 99 ms; within 1%, times 1.5, rounded up.
    expect(a.timeoutMs()).toBeGreaterThanOrEqual(Math.floor(99 * 0.99 * 1.5));
    expect(a.timeoutMs()).toBeLessThanOrEqual(Math.ceil(99 * 1.01 * 1.5));
    expect(a.stats.samples).toBe(1000);
    expect(a.stats.warmingUp).toBe(false);
  });

  test('follows a latency shift upward, then back down as the slow samples age out', () => {
    const clock = manualClock();
    const a = new AdaptiveTimeout({ factor: 2, max: '5s', min: '10ms', window: '30s', slices: 6, clock });
    feed(a, clock, 3000, 30_000, () => 50); // a fast day: p99 50 ms
    const fast = a.timeoutMs();
    expect(fast).toBeGreaterThanOrEqual(99);
    expect(fast).toBeLessThanOrEqual(102);
    feed(a, clock, 3000, 30_000, () => 400); // a slow day
    clock.t += 1000;
    const slow = a.timeoutMs();
    expect(slow).toBeGreaterThanOrEqual(790);
    expect(slow).toBeLessThanOrEqual(810);
    feed(a, clock, 3000, 35_000, () => 50); // fast again; the slow slices age out
    clock.t += 1000;
    expect(a.timeoutMs()).toBe(fast);
  });

  test('clamps to min and max', () => {
    const clock = manualClock();
    const a = new AdaptiveTimeout({ min: '100ms', max: '1s', minSamples: 10, refresh: 0, clock });
    feed(a, clock, 100, 1000, () => 1);
    expect(a.timeoutMs()).toBe(100);
    const b = new AdaptiveTimeout({ min: '100ms', max: '1s', minSamples: 10, refresh: 0, clock });
    feed(b, clock, 100, 1000, () => 5000);
    expect(b.timeoutMs()).toBe(1000);
  });

  test('recomputes at most once per refresh', () => {
    const clock = manualClock();
    const a = new AdaptiveTimeout({ max: '5s', minSamples: 10, refresh: '1s', clock });
    expect(a.timeoutMs()).toBe(5000);
    feed(a, clock, 100, 500, () => 10);
    expect(a.timeoutMs()).toBe(5000); // cached: refresh not due
    clock.t += 600;
    expect(a.timeoutMs()).toBeLessThan(100);
  });

  test('validates its options, naming the path', () => {
    const bad: Array<[unknown, string]> = [
      [{}, 'timeout.adaptive.max'],
      [{ max: 'soon' }, 'timeout.adaptive.max'],
      [{ max: '1s', percentile: 0 }, 'timeout.adaptive.percentile'],
      [{ max: '1s', percentile: 1.5 }, 'timeout.adaptive.percentile'],
      [{ max: '1s', factor: 0.5 }, 'timeout.adaptive.factor'],
      [{ max: '1s', min: '2s' }, 'timeout.adaptive.max'],
      [{ max: '1s', min: 0 }, 'timeout.adaptive.min'],
      [{ max: '1s', initial: '5s' }, 'timeout.adaptive.initial'],
      [{ max: '1s', minSamples: 0 }, 'timeout.adaptive.minSamples'],
      [{ max: '1s', slices: 0 }, 'timeout.adaptive.slices'],
      [{ max: '1s', window: 0 }, 'timeout.adaptive.window'],
      [{ max: '1s', p99: 1 }, 'timeout.adaptive.p99'],
    ];
    for (const [opts, path] of bad) {
      let err: unknown;
      try {
        new AdaptiveTimeout(opts as never);
      } catch (e) {
        err = e;
      }
      expect(isConfigError(err), JSON.stringify(opts)).toBe(true);
      expect((err as { path: string }).path).toBe(path);
    }
  });
});
