import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { manualClock } from '../test-clock.js';
import { RetryBudget } from './RetryBudget.js';

describe('RetryBudget', () => {
  test('defaults: 20% of the last 10 s of calls, plus 1 per second', () => {
    const clock = manualClock(0);
    const b = new RetryBudget({ clock });
    expect(b.reserve).toBe(10);
    for (let i = 0; i < 100; i++) b.recordCall();
    let granted = 0;
    while (b.tryRetry()) granted++;
    expect(granted).toBe(30);
    // The window slides: after 10 s the old calls and retries no longer count.
    clock.t = 11_000;
    expect(b.stats).toEqual({ calls: 0, retries: 0, available: 10 });
  });

  test('property: a retry is granted only while retries stay within ratio × calls + reserve', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 5 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 400 })), { maxLength: 400 }),
        (ratio, minPerSecond, ops) => {
          const clock = manualClock(5_000);
          const b = new RetryBudget({ ratio, minPerSecond, window: '1s', clock });
          for (const [isRetry, dt] of ops) {
            clock.t += dt;
            if (!isRetry) {
              b.recordCall();
              continue;
            }
            const before = b.stats;
            const granted = b.tryRetry();
            const after = b.stats;
            // Granted exactly when one more retry fits the window's allowance.
            expect(granted).toBe(before.retries + 1 <= ratio * before.calls + b.reserve);
            if (granted) expect(after.retries).toBeLessThanOrEqual(ratio * after.calls + b.reserve + 1e-9);
          }
        },
      ),
    );
  });

  test('property: over a whole storm, retries ≤ ratio × calls + reserve × windows spanned', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 300 }),
        (ratio, gaps) => {
          const clock = manualClock(0);
          const b = new RetryBudget({ ratio, minPerSecond: 2, window: '1s', clock });
          let calls = 0;
          let retries = 0;
          for (const dt of gaps) {
            clock.t += dt;
            b.recordCall();
            calls++;
            // Every call fails and asks for up to 4 retries (a storm).
            for (let i = 0; i < 4 && b.tryRetry(); i++) retries++;
          }
          const windows = Math.floor(clock.t / 1000) + 2;
          expect(retries).toBeLessThanOrEqual(ratio * calls + b.reserve * windows + 1e-9);
        },
      ),
    );
  });

  test('property: with no floor, a call stream gets its full share of retries when spread out', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), (calls) => {
        const clock = manualClock(0);
        const b = new RetryBudget({ ratio: 0.5, minPerSecond: 0, clock });
        let granted = 0;
        for (let i = 0; i < calls; i++) {
          b.recordCall();
          if (b.tryRetry()) granted++;
        }
        expect(granted).toBe(Math.floor(calls * 0.5));
      }),
    );
  });

  test('bad options name the path', () => {
    expect(() => new RetryBudget({ ratio: -1 })).toThrow(/retry\.budget\.ratio/);
    expect(() => new RetryBudget({ window: '1ms' })).toThrow(/retry\.budget\.window/);
    expect(() => new RetryBudget({ minPerSecond: Number.NaN })).toThrow(/retry\.budget\.minPerSecond/);
  });
});
