import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.js';
import { manualClock } from '../test-clock.js';
import { MemoryStore } from './MemoryStore.js';
import { RateLimiter, type RateLimitOptions } from './RateLimiter.js';
import type { RateLimitDecision, RateLimitStore } from './types.js';

function decide(l: RateLimiter, key = 'k', cost = 1): RateLimitDecision {
  const d = l.consume(key, cost) as RateLimitDecision;
  // The memory store reuses its result object: copy what the test keeps.
  return { ...d, remaining: [...d.remaining], resetMs: [...d.resetMs], violated: [...d.violated] };
}

describe('token bucket', () => {
  test('admits the burst at once, then refills at limit per window', () => {
    const clock = manualClock();
    const l = new RateLimiter({ limit: 10, window: '1s', burst: 20 }, { clock });
    for (let i = 0; i < 20; i++) expect(decide(l).allowed).toBe(true);
    const refused = decide(l);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBe(100); // one token every 100ms
    clock.t += 99;
    expect(decide(l).allowed).toBe(false);
    clock.t += 1;
    expect(decide(l).allowed).toBe(true);
    expect(decide(l).allowed).toBe(false);
    clock.t += 1000;
    const d = decide(l);
    expect(d.allowed).toBe(true);
    expect(d.remaining[0]).toBe(9);
  });

  test('cost is charged in units and a cost above the burst is never admitted', () => {
    const clock = manualClock();
    const l = new RateLimiter({ limit: 10, window: '1s' }, { clock });
    expect(decide(l, 'k', 7).allowed).toBe(true);
    expect(decide(l, 'k', 4).allowed).toBe(false);
    expect(decide(l, 'k', 3).allowed).toBe(true);
    const huge = decide(l, 'x', 11);
    expect(huge.allowed).toBe(false);
    expect(huge.retryAfterMs).toBe(1000);
  });
});

describe('fixed window', () => {
  test('resets at window boundaries aligned to the epoch', () => {
    const clock = manualClock(60_000 * 100 + 59_000); // 1s before a minute boundary
    const l = new RateLimiter({ limit: 3, window: '1m', algorithm: 'fixed-window' }, { clock });
    for (let i = 0; i < 3; i++) expect(decide(l).allowed).toBe(true);
    const d = decide(l);
    expect(d.allowed).toBe(false);
    expect(d.retryAfterMs).toBe(1000);
    clock.t += 1000;
    expect(decide(l).allowed).toBe(true);
  });
});

describe('sliding window counter', () => {
  test("weights the previous window's count by the part still inside the window", () => {
    const W = 10_000;
    const clock = manualClock(W * 50);
    const l = new RateLimiter({ limit: 10, window: W, algorithm: 'sliding-window' }, { clock });
    for (let i = 0; i < 10; i++) expect(decide(l).allowed).toBe(true);
    expect(decide(l).allowed).toBe(false);
    // A quarter into the next window, 75% of the previous 10 still count: 7.5 used.
    clock.t = W * 51 + W / 4;
    expect(decide(l).allowed).toBe(true); // 8.5
    expect(decide(l).allowed).toBe(true); // 9.5
    const d = decide(l);
    expect(d.allowed).toBe(false);
    // 0.5 more must decay: 5% of the window.
    expect(d.retryAfterMs).toBe(W / 20);
    clock.t += W / 20;
    expect(decide(l).allowed).toBe(true);
  });

  test('a gap of two windows forgets everything', () => {
    const W = 1000;
    const clock = manualClock(W * 10);
    const l = new RateLimiter({ limit: 2, window: W, algorithm: 'sliding-window' }, { clock });
    decide(l);
    decide(l);
    clock.t += 2 * W;
    expect(decide(l).remaining[0]).toBe(1);
  });
});

describe('several windows', () => {
  test('all windows are decided together: a refusal consumes from none', () => {
    const clock = manualClock(3_600_000 * 10);
    const l = new RateLimiter(
      [
        { limit: 2, window: '1s', algorithm: 'fixed-window' },
        { limit: 3, window: '1m', algorithm: 'fixed-window' },
      ],
      { clock },
    );
    expect(decide(l).allowed).toBe(true);
    expect(decide(l).allowed).toBe(true);
    const d = decide(l);
    expect(d.allowed).toBe(false);
    expect(d.violated).toEqual([0]);
    expect(d.remaining).toEqual([0, 1]); // the minute window was not charged for the refusal
    clock.t += 1000;
    expect(decide(l).allowed).toBe(true);
    const m = decide(l);
    expect(m.allowed).toBe(false);
    expect(m.violated).toEqual([1]);
    expect(m.retryAfterMs).toBe(59_000);
    expect(l.policyHeader).toBe('"per-second";q=2;w=1, "per-minute";q=3;w=60');
  });

  test('windows from a config file may each spell the same header key', () => {
    const l = new RateLimiter([
      { limit: 1, window: '1s', key: { header: 'X-Api-Key' } },
      { limit: 5, window: '1m', key: { header: 'x-api-key' } },
    ]);
    expect(l.keyHeader).toBe('x-api-key');
  });

  test('windows must agree on key and store', () => {
    expect(
      () =>
        new RateLimiter([
          { limit: 1, window: '1s', key: 'ip' },
          { limit: 1, window: '1m', key: { header: 'x-api-key' } },
        ]),
    ).toThrow(/rateLimit\[1\]\.key/);
  });
});

describe('validation', () => {
  test.each<[unknown, RegExp]>([
    [{ limit: 0, window: '1s' }, /rateLimit\.limit: expected an integer >= 1, got 0/],
    [{ limit: 1, window: 'soon' }, /rateLimit\.window: expected a duration/],
    [{ limit: 1 }, /rateLimit\.window/],
    [{ limit: 1, window: '1s', algorithm: 'leaky' }, /rateLimit\.algorithm: expected one of/],
    [{ limit: 1, window: '1s', burst: -1 }, /rateLimit\.burst/],
    [{ limit: 1, window: '1s', key: { cookie: 'x' } }, /rateLimit\.key/],
    [{ limit: 1, window: '1s', onStoreError: 'explode' }, /rateLimit\.onStoreError/],
    [{ limit: 1, window: '1s', limt: 3 }, /rateLimit\.limt: expected one of the known options/],
    [{ limit: 1, window: '1s', name: 'a"b' }, /rateLimit\.name/],
  ])('%j', (opts, msg) => {
    expect(() => new RateLimiter(opts as RateLimitOptions)).toThrow(ConfigError);
    expect(() => new RateLimiter(opts as RateLimitOptions)).toThrow(msg);
  });
});

describe('store failures', () => {
  const broken: RateLimitStore = {
    consume: () => Promise.reject(new Error('store down')),
  };
  const throwing: RateLimitStore = {
    consume: () => {
      throw new Error('sync failure');
    },
  };

  test("'allow' admits", async () => {
    const l = new RateLimiter({ limit: 1, window: '1s', store: broken, onStoreError: 'allow' });
    expect((await l.consume('k')).allowed).toBe(true);
  });

  test("'deny' refuses with a retry hint", async () => {
    const l = new RateLimiter({ limit: 1, window: '1s', store: throwing, onStoreError: 'deny' });
    const d = await l.consume('k');
    expect(d.allowed).toBe(false);
    expect(d.retryAfterMs).toBeGreaterThan(0);
  });

  test("'memory' falls back to a local limiter that still limits", async () => {
    const errors: unknown[] = [];
    const l = new RateLimiter({ limit: 2, window: '1m', store: broken, onStoreError: 'memory' });
    l.onStoreFailure((e) => errors.push(e));
    expect((await l.consume('k')).allowed).toBe(true);
    expect((await l.consume('k')).allowed).toBe(true);
    expect((await l.consume('k')).allowed).toBe(false);
    expect(errors).toHaveLength(3);
  });
});

describe('MemoryStore bounds', () => {
  test('never holds more than maxKeys, and drops expired keys without timers', () => {
    const clock = manualClock();
    const store = new MemoryStore({ maxKeys: 1000, clock });
    const l = new RateLimiter({ limit: 5, window: '1s', store }, { clock });
    for (let i = 0; i < 100_000; i++) {
      l.consume(`client-${i}`);
      if (i % 10 === 0) clock.t += 1;
    }
    expect(store.size).toBeLessThanOrEqual(1000);
    // Long after, new keys sweep the expired ones out.
    clock.t += 60_000;
    for (let i = 0; i < 1000; i++) l.consume(`later-${i}`);
    expect(store.size).toBeLessThanOrEqual(1000);
  });

  test('an idle key is forgotten once its state equals a fresh one', () => {
    const clock = manualClock();
    const l = new RateLimiter({ limit: 2, window: '1s' }, { clock });
    decide(l);
    decide(l);
    expect(decide(l).allowed).toBe(false);
    clock.t += 1000;
    expect(decide(l).remaining[0]).toBe(1);
  });
});

describe('properties', () => {
  const arrivals = fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 3 })), {
    minLength: 1,
    maxLength: 300,
  });

  test('token bucket: admitted units in any interval ≤ burst + rate × interval', () => {
    fc.assert(
      fc.property(
        arrivals,
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 20 }),
        (seq, limit, extra) => {
          const clock = manualClock();
          const W = 1000;
          const burst = limit + extra;
          const l = new RateLimiter({ limit, window: W, burst }, { clock });
          const admitted: Array<[number, number]> = [];
          for (const [gap, cost] of seq) {
            clock.t += gap;
            if ((l.consume('k', cost) as RateLimitDecision).allowed) admitted.push([clock.t, cost]);
          }
          for (let i = 0; i < admitted.length; i++) {
            let sum = 0;
            for (let j = i; j < admitted.length; j++) {
              sum += admitted[j]![1];
              const span = admitted[j]![0] - admitted[i]![0];
              expect(sum).toBeLessThanOrEqual(burst + (limit * span) / W + 1e-9);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test.each(['fixed-window', 'sliding-window'] as const)(
    '%s: admitted units in any aligned window ≤ limit',
    (algorithm) => {
      fc.assert(
        fc.property(arrivals, fc.integer({ min: 1, max: 20 }), (seq, limit) => {
          const clock = manualClock();
          const W = 1000;
          const l = new RateLimiter({ limit, window: W, algorithm }, { clock });
          const perWindow = new Map<number, number>();
          for (const [gap, cost] of seq) {
            clock.t += gap;
            if ((l.consume('k', cost) as RateLimitDecision).allowed) {
              const w = Math.floor(clock.t / W);
              perWindow.set(w, (perWindow.get(w) ?? 0) + cost);
            }
          }
          for (const n of perWindow.values()) expect(n).toBeLessThanOrEqual(limit);
          // And never more than twice the limit in any sliding span of one window.
          const times = [...perWindow.keys()].sort((a, b) => a - b);
          for (let i = 1; i < times.length; i++) {
            if (times[i] === times[i - 1]! + 1)
              expect(perWindow.get(times[i]!)! + perWindow.get(times[i - 1]!)!).toBeLessThanOrEqual(
                2 * limit,
              );
          }
        }),
        { numRuns: 200 },
      );
    },
  );
});

describe('keys in shared stores', () => {
  test('header-derived keys reach a shared store as a digest, never in clear', async () => {
    const seen: string[] = [];
    const inner = new MemoryStore();
    const spy: RateLimitStore = {
      consume: (key, windows, cost) => {
        seen.push(key);
        return inner.consume(key, windows, cost);
      },
    };
    const byHeader = new RateLimiter(
      { limit: 5, window: '1m', key: { header: 'x-api-key' }, store: spy },
      { name: 'GET /a' },
    );
    await byHeader.consume('sk_live_secret');
    const byIp = new RateLimiter({ limit: 5, window: '1m', store: spy }, { name: 'GET /b' });
    await byIp.consume('203.0.113.9');
    expect(seen[0]).toMatch(/^GET \/a:[A-Za-z0-9_-]{22}$/);
    expect(seen[0]).not.toContain('secret');
    expect(seen[1]).toBe('GET /b:203.0.113.9');
  });
});
