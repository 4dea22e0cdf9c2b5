import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { manualClock } from '../../test-clock.js';
import { LatencySketch } from './LatencySketch.js';

function exactQuantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil(q * s.length)) - 1]!;
}

const ACCURACY = 0.01;

describe('LatencySketch', () => {
  test('quantiles are within the stated relative error of the exact nearest-rank quantile (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.2, max: 50_000, noNaN: true }), { minLength: 1, maxLength: 2000 }),
        fc.constantFrom(0.5, 0.9, 0.95, 0.99, 0.999, 1),
        (values, q) => {
          const clock = manualClock();
          const s = new LatencySketch({
            windowMs: 60_000,
            slices: 6,
            maxValueMs: 60_000,
            relativeAccuracy: ACCURACY,
            clock,
          });
          for (const v of values) s.record(v);
          const exact = exactQuantile(values, q);
          const est = s.quantile(q);
          // The bound itself, plus a hair for floating-point rounding at bucket edges.
          expect(Math.abs(est - exact) / exact).toBeLessThanOrEqual(ACCURACY + 1e-9);
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  });

  test('on a heavy-tailed latency sample the p99 is within 1%', () => {
    // Seeded log-normal-ish latencies, integers as Date.now() differences are.
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const clock = manualClock();
    const s = new LatencySketch({
      windowMs: 60_000,
      slices: 6,
      maxValueMs: 30_000,
      relativeAccuracy: ACCURACY,
      clock,
    });
    const values: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      const v = Math.max(
        1,
        Math.round(
          Math.exp(3 + 1.2 * Math.sqrt(-2 * Math.log(rnd() || 1e-9)) * Math.cos(2 * Math.PI * rnd())),
        ),
      );
      values.push(v);
      s.record(v);
    }
    for (const q of [0.5, 0.9, 0.99, 0.999]) {
      const exact = exactQuantile(values, q);
      expect(Math.abs(s.quantile(q) - exact) / exact).toBeLessThanOrEqual(ACCURACY);
    }
  });

  test('samples age out one slice at a time, and memory is fixed', () => {
    const clock = manualClock(0);
    const s = new LatencySketch({
      windowMs: 60_000,
      slices: 6,
      maxValueMs: 10_000,
      relativeAccuracy: ACCURACY,
      clock,
    });
    const buckets = s.buckets;
    for (let i = 0; i < 100; i++) s.record(10);
    clock.t = 30_000;
    for (let i = 0; i < 100; i++) s.record(500);
    expect(s.count()).toBe(200);
    expect(s.quantile(0.25)).toBeCloseTo(10, -0.5);
    // The first slice (0..10 s) leaves the window at 60 s.
    clock.t = 59_999;
    expect(s.count()).toBe(200);
    clock.t = 60_000;
    expect(s.count()).toBe(100);
    expect(Math.abs(s.quantile(0.25) - 500) / 500).toBeLessThanOrEqual(ACCURACY);
    clock.t = 90_000;
    expect(s.count()).toBe(0);
    expect(s.quantile(0.5)).toBeNaN();
    // A long silence clears everything at once; the bucket count never changed.
    for (let i = 0; i < 10; i++) s.record(1e9);
    clock.t = 10_000_000;
    expect(s.count()).toBe(0);
    expect(s.buckets).toBe(buckets);
  });

  test('values outside the range are clamped, not lost', () => {
    const clock = manualClock();
    const s = new LatencySketch({
      windowMs: 1000,
      slices: 1,
      maxValueMs: 1000,
      relativeAccuracy: ACCURACY,
      clock,
    });
    s.record(0);
    s.record(-5);
    s.record(Number.NaN);
    s.record(1e12);
    expect(s.count()).toBe(4);
    expect(s.quantile(0.5)).toBeLessThanOrEqual(0.1);
    expect(s.quantile(1)).toBeGreaterThanOrEqual(1000 * (1 - ACCURACY));
  });
});
