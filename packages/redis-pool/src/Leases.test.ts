/**
 * Quota leasing's overshoot bound, by property: N instances, each leasing from one shared
 * store (core's memory store, whose arithmetic the Redis script mirrors bit for bit), on a
 * clock the test moves. Whatever the interleaving, a fixed window admits at most
 * L + N × (size − 1) per window, a token bucket at most burst + rate × T + N × (size − 1)
 * over any T, and nothing more than Redis granted in total.
 */
import { type Clock, MemoryStore, type RateLimitDecision } from '@breakwater/core';
import type { RateLimitWindow } from '@breakwater/core/extend';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Leases } from './Leases.js';

function clock(): Clock & { t: number } {
  const c = { t: 1_000_000, now: () => c.t, setTimeout: () => 0, clearTimeout: () => {} };
  return c;
}

const fixed = (limit: number, windowMs: number): RateLimitWindow =>
  Object.freeze({ name: 'f', algorithm: 'fixed-window', limit, windowMs, burst: limit });
const bucket = (limit: number, windowMs: number, burst: number): RateLimitWindow =>
  Object.freeze({ name: 'b', algorithm: 'token-bucket', limit, windowMs, burst });

/** N leasing instances over one store; returns each admission's time and the units Redis granted. */
async function run(
  windows: RateLimitWindow[],
  instances: number,
  size: number,
  ttl: number,
  steps: Array<{ i: number; dt: number; key: number }>,
) {
  const c = clock();
  const shared = new MemoryStore({ clock: c });
  let granted = 0;
  let calls = 0;
  const decide = async (key: string, w: readonly RateLimitWindow[], cost: number) => {
    calls++;
    const d: RateLimitDecision = shared.consume(key, w, cost);
    if (d.allowed) granted += cost;
    return d;
  };
  const fleet = Array.from({ length: instances }, () => new Leases({ size, ttl }, c, decide));
  const admitted: Array<{ t: number; key: number }> = [];
  for (const s of steps) {
    c.t += s.dt;
    const d = await fleet[s.i % instances]!.consume(`k${s.key}`, windows, 1);
    if (d.allowed) admitted.push({ t: c.t, key: s.key });
  }
  return { admitted, granted, calls, local: fleet.reduce((n, l) => n + l.local, 0) };
}

const steps = (instances: number, maxDt: number) =>
  fc.array(
    fc.record({
      i: fc.integer({ min: 0, max: instances - 1 }),
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: maxDt })),
      key: fc.integer({ min: 0, max: 1 }),
    }),
    { minLength: 1, maxLength: 300 },
  );

describe('quota leasing: the overshoot bound', () => {
  test('fixed window: at most L + N × (size − 1) per window whatever the interleaving, never more than granted (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 2500 }),
        steps(5, 150),
        async (n, size, limit, ttl, sched) => {
          const W = 1000;
          const r = await run([fixed(limit, W)], n, size, ttl, sched);
          const perWindow = new Map<string, number>();
          for (const a of r.admitted) {
            const k = `${a.key}:${Math.floor(a.t / W)}`;
            perWindow.set(k, (perWindow.get(k) ?? 0) + 1);
          }
          for (const count of perWindow.values()) expect(count).toBeLessThanOrEqual(limit + n * (size - 1));
          expect(r.admitted.length).toBeLessThanOrEqual(r.granted);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('token bucket: over any interval T, at most burst + rate × T + N × (size − 1) (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 2000 }),
        steps(5, 100),
        async (n, size, limit, burst, ttl, sched) => {
          const W = 1000;
          const r = await run([bucket(limit, W, burst)], n, size, ttl, sched);
          for (const key of [0, 1]) {
            const ts = r.admitted.filter((a) => a.key === key).map((a) => a.t);
            for (let a = 0; a < ts.length; a++)
              for (let b = a; b < ts.length; b++) {
                const admittedIn = b - a + 1;
                const bound = burst + (limit * (ts[b]! - ts[a]!)) / W + n * (size - 1);
                expect(admittedIn).toBeLessThanOrEqual(bound + 1e-9);
              }
          }
          expect(r.admitted.length).toBeLessThanOrEqual(r.granted);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a busy key costs one round trip per lease; near the limit Redis decides each request', async () => {
    const w = [fixed(1000, 60_000)];
    const r = await run(
      w,
      1,
      10,
      1000,
      Array.from({ length: 100 }, () => ({ i: 0, dt: 1, key: 0 })),
    );
    expect(r.admitted.length).toBe(100);
    expect(r.calls).toBe(10);
    expect(r.local).toBe(90);
    // A limit of 5 with leases of 10: every lease is refused, each request goes to the store.
    const tight = await run(
      [fixed(5, 60_000)],
      1,
      10,
      1000,
      Array.from({ length: 8 }, () => ({ i: 0, dt: 1, key: 0 })),
    );
    expect(tight.admitted.length).toBe(5);
    expect(tight.local).toBe(0);
  });

  test('a failed grant fails the requests waiting on it at once, and the next one asks again', async () => {
    const c = clock();
    let fail = true;
    let calls = 0;
    const store = new MemoryStore({ clock: c });
    const l = new Leases({ size: 5, ttl: 1000 }, c, async (key, w, cost) => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      if (fail) throw new Error('store unavailable');
      return store.consume(key, w, cost);
    });
    const w = [fixed(100, 60_000)];
    const rs = await Promise.allSettled(Array.from({ length: 10 }, () => l.consume('k', w, 1)));
    expect(rs.every((x) => x.status === 'rejected')).toBe(true);
    expect(calls).toBe(1);
    fail = false;
    const ds = await Promise.all(Array.from({ length: 10 }, () => l.consume('k', w, 1)));
    expect(ds.every((d) => d.allowed)).toBe(true);
    expect(calls).toBe(3);
    expect(ds.at(-1)!.remaining).toEqual([90]);
  });
});
