import { describe, expect, test } from 'vitest';
import { VegasLimit } from './VegasLimit.js';

/** A Vegas limit that never probes within a test (jitter 1, probes every ~1000·limit samples). */
const vegas = (o: ConstructorParameters<typeof VegasLimit>[0] = {}) =>
  new VegasLimit({ probeMultiplier: 1000, random: () => 0.999, ...o });

function feed(v: VegasLimit, n: number, rtt: number): void {
  for (let i = 0; i < n; i++) v.update(rtt, Math.ceil(v.limit), false);
}

describe('VegasLimit', () => {
  test('grows fast while calls take the no-load RTT', () => {
    const v = vegas({ initial: 20 });
    feed(v, 1, 10); // the first sample sets the no-load RTT
    expect(v.limit).toBe(20);
    feed(v, 1, 10);
    // no queue: + beta·log10(20)
    expect(v.limit).toBeCloseTo(20 + 6 * Math.log10(20));
  });

  test('falls when the estimated queue passes beta, and grows back', () => {
    const v = vegas({ initial: 100, max: 500 });
    feed(v, 1, 10);
    // RTT doubles: queue ≈ limit/2, far above beta·log10(limit)
    feed(v, 10, 20);
    const degraded = v.limit;
    expect(degraded).toBeLessThan(100);
    feed(v, 20, 10);
    expect(v.limit).toBeGreaterThan(degraded);
  });

  test('holds in the sweet spot between alpha and beta', () => {
    const v = vegas({ initial: 100, max: 100 });
    feed(v, 1, 10);
    // log10(100) = 2: grow below alpha·2 = 6 queued, shrink above beta·2 = 12.
    // queue = ceil(100·(1 − 10/10.7)) = 7: hold.
    const l = v.limit;
    v.update(10.7, 100, false);
    expect(v.limit).toBe(l);
  });

  test('a drop shrinks the limit by log10(limit)', () => {
    const v = vegas({ initial: 100 });
    feed(v, 1, 10);
    v.update(10, 100, true);
    expect(v.limit).toBeCloseTo(98);
  });

  test('probes the no-load RTT again, so a permanently slower dependency is not a queue forever', () => {
    const v = new VegasLimit({ initial: 10, max: 10, probeMultiplier: 2, random: () => 0 });
    feed(v, 1, 10);
    expect(v.noLoadRttMs).toBe(10);
    // jitter 0.5 · multiplier 2 · limit 10 = a probe every 10 samples
    feed(v, 12, 40);
    expect(v.noLoadRttMs).toBe(40);
  });

  test('stays within min and max', () => {
    const v = vegas({ initial: 10, min: 4, max: 15 });
    feed(v, 50, 10);
    expect(v.limit).toBe(15);
    for (let i = 0; i < 50; i++) v.update(10, 15, true);
    expect(v.limit).toBe(4);
  });

  test('validation names the option', () => {
    expect(() => new VegasLimit({ alpha: 5, beta: 2 }, 'bulkhead.limiter')).toThrow(
      /bulkhead\.limiter\.beta: expected a number from 5 to 1000, got 2/,
    );
    expect(() => new VegasLimit({ probeMultiplier: 0 })).toThrow(/limiter\.probeMultiplier/);
  });
});
