import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { MemoryStore } from './MemoryStore.js';
import type { RateLimitWindow } from './types.js';

const window = fc.record({
  name: fc.constant('w'),
  algorithm: fc.constantFrom('token-bucket', 'fixed-window', 'sliding-window') as fc.Arbitrary<
    RateLimitWindow['algorithm']
  >,
  limit: fc.integer({ min: 1, max: 20 }),
  windowMs: fc.integer({ min: 10, max: 5000 }),
  burst: fc.integer({ min: 1, max: 30 }),
});

describe('MemoryStore.admitAt', () => {
  test('decides every sequence as consumeAt does, with consumeAt’s retry-after', () => {
    fc.assert(
      fc.property(
        fc.array(window, { minLength: 1, maxLength: 3 }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3000 }), cost: fc.integer({ min: 0, max: 5 }) }), {
          minLength: 1,
          maxLength: 60,
        }),
        (windows, steps) => {
          const a = new MemoryStore();
          const b = new MemoryStore();
          let now = 1_000_000;
          for (const { dt, cost } of steps) {
            now += dt;
            const d = a.consumeAt('k', windows, cost, now);
            const wait = b.admitAt('k', windows, cost, now);
            expect(wait < 0).toBe(d.allowed);
            if (!d.allowed) expect(wait).toBe(d.retryAfterMs);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
