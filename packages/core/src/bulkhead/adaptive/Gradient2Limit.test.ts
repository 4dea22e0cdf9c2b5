import { describe, expect, test } from 'vitest';
import { Gradient2Limit } from './Gradient2Limit.js';

/** Feeds `n` samples of `rtt` with the limit fully in use. */
function feed(g: Gradient2Limit, n: number, rtt: number): void {
  for (let i = 0; i < n; i++) g.update(rtt, Math.ceil(g.limit), false);
}

describe('Gradient2Limit', () => {
  test('grows by the queue size while the latency holds steady', () => {
    const g = new Gradient2Limit({ initial: 20 });
    feed(g, 1, 50);
    // gradient 1: 20·0.8 + (20 + 4)·0.2
    expect(g.limit).toBeCloseTo(20.8);
    feed(g, 100, 50);
    expect(g.limit).toBeGreaterThan(90);
  });

  test('falls when calls get slower than tolerance × the long-term RTT, and recovers', () => {
    const g = new Gradient2Limit({ initial: 50, max: 200 });
    feed(g, 300, 20);
    const before = g.limit;
    // The dependency degrades: 5× slower. The long average lags, so the gradient bites.
    feed(g, 20, 100);
    const degraded = g.limit;
    expect(degraded).toBeLessThan(before * 0.5);
    // Back to normal: the long average is pulled down and the limit grows again.
    feed(g, 200, 20);
    expect(g.limit).toBeGreaterThan(degraded * 2);
  });

  test('does not fall on noise within tolerance', () => {
    const g = new Gradient2Limit({ initial: 30, max: 30 });
    feed(g, 50, 20);
    for (let i = 0; i < 200; i++) g.update(i % 2 === 0 ? 16 : 28, 30, false);
    expect(g.limit).toBe(30);
  });

  test('an idle route neither grows nor shrinks its limit', () => {
    const g = new Gradient2Limit({ initial: 40 });
    feed(g, 20, 10);
    const l = g.limit;
    for (let i = 0; i < 50; i++) g.update(500, 2, false);
    expect(g.limit).toBe(l);
  });

  test('a drop shrinks the limit even before latency moves the average', () => {
    const g = new Gradient2Limit({ initial: 100, max: 100 });
    feed(g, 20, 10);
    expect(g.limit).toBe(100);
    g.update(10, 100, true);
    // 100·0.8 + (100·0.5 + 4)·0.2
    expect(g.limit).toBeCloseTo(90.8);
  });

  test('settles near 2 × queueSize under persistent drops (the headroom it always adds)', () => {
    const g = new Gradient2Limit({ initial: 100, max: 100 });
    for (let i = 0; i < 200; i++) g.update(10, 100, true);
    expect(g.limit).toBeCloseTo(8, 1);
  });

  test('stays within min and max', () => {
    const g = new Gradient2Limit({ initial: 10, min: 5, max: 12, queueSize: 1 });
    feed(g, 100, 10);
    expect(g.limit).toBe(12);
    for (let i = 0; i < 100; i++) g.update(10_000, 12, true);
    expect(g.limit).toBe(5);
  });

  test('validation names the option', () => {
    expect(() => new Gradient2Limit({ tolerance: 0.5 }, 'bulkhead.limiter')).toThrow(
      /bulkhead\.limiter\.tolerance: expected a number from 1 to 100, got 0.5/,
    );
    expect(() => new Gradient2Limit({ smoothing: 0 })).toThrow(/limiter\.smoothing/);
    expect(() => new Gradient2Limit({ longWindow: 0 })).toThrow(/limiter\.longWindow/);
  });
});
