/**
 * The memory store and the Redis store decide the same timed sequence the same way, for
 * every algorithm and for several windows at once: a shared table of cases at the exact
 * boundaries, then random sequences. Both stores read the same injected clock.
 */
import { type Clock, MemoryStore, type RateLimitBlock, type RateLimitDecision } from '@breakwater/core';
import type { RateLimitWindow } from '@breakwater/core/extend';
import { RedisRateLimitStore } from '@breakwater/redis-pool';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { REDIS_URL, redisOrSkip, uniquePrefix } from '../helpers/redis-server.js';
import { whenReady } from './servers.js';

const up = await redisOrSkip('memory/Redis parity');

type Algo = RateLimitWindow['algorithm'];
const w = (algorithm: Algo, limit: number, windowMs: number, burst = limit): RateLimitWindow =>
  Object.freeze({ name: `${algorithm}-${windowMs}`, algorithm, limit, windowMs, burst });

/** One step: move the clock by `dt`, then consume `cost` (default 1). */
type Step = [dt: number, cost?: number];

interface Case {
  name: string;
  windows: RateLimitWindow[];
  steps: Step[];
  /** Decisions (allowed) the memory store is known to give: the table checks itself too. */
  expectAllowed?: boolean[];
}

const burst = (n: number, dt = 0): Step[] => Array.from({ length: n }, () => [dt] as Step);

const cases: Case[] = [
  {
    name: 'token bucket: burst, one token exactly at 100ms, not at 99ms',
    windows: [w('token-bucket', 10, 1000, 20)],
    steps: [...burst(21), [99], [1], [0], [1000], [10_000]],
    expectAllowed: [...Array(20).fill(true), false, false, true, false, true, true],
  },
  {
    name: 'token bucket: fractional refill (3 per 1000ms) and costs',
    windows: [w('token-bucket', 3, 1000)],
    steps: [[0, 2], [0, 2], [333], [1], [0, 1], [333, 0.5], [0, 4], [1, 3], [2000, 3]],
  },
  {
    name: 'fixed window: limit at the edge, reset exactly at the boundary',
    windows: [w('fixed-window', 3, 1000)],
    steps: [...burst(4), [500], [499], [1], ...burst(3), [1, 2], [2500]],
  },
  {
    name: 'sliding window: the previous window decays linearly',
    windows: [w('sliding-window', 4, 1000)],
    steps: [...burst(5), [1000], [0], [250], [0], [250], [0], [1], [499], [2000], [0, 5], [0, 3]],
  },
  {
    name: 'sliding window: skipping a whole window forgets the previous count',
    windows: [w('sliding-window', 2, 1000)],
    steps: [...burst(3), [2000], ...burst(3), [999], [1]],
  },
  {
    name: 'three windows at once: all admit or none consumes',
    windows: [w('token-bucket', 5, 1000, 5), w('fixed-window', 8, 10_000), w('sliding-window', 12, 60_000)],
    steps: [
      ...burst(6),
      [200],
      [400],
      ...burst(3, 300),
      ...burst(4, 1000),
      [10_000],
      ...burst(6, 100),
      [30_000],
      ...burst(4),
    ],
  },
  {
    name: 'an idle key expires and starts afresh in every window',
    windows: [w('token-bucket', 2, 1000), w('fixed-window', 2, 2000)],
    steps: [...burst(3), [4000], ...burst(3), [3999], [1]],
  },
];

function copy(d: RateLimitDecision): RateLimitDecision {
  return { ...d, remaining: [...d.remaining], resetMs: [...d.resetMs], violated: [...d.violated] };
}

function manualClock(start: number): Clock & { t: number } {
  const c = { t: start, now: () => c.t, setTimeout: () => 0, clearTimeout: () => {} };
  return c;
}

describe.skipIf(!up)('memory and Redis stores decide alike', () => {
  let client: Redis;
  const prefix = uniquePrefix('parity');
  let n = 0;
  beforeAll(async () => {
    client = new Redis(REDIS_URL);
    await whenReady(client);
  });
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
  });

  /** Runs `steps` through both stores on one clock; returns both decision lists. */
  async function run(windows: RateLimitWindow[], steps: Step[], start: number) {
    const clock = manualClock(start);
    const mem = new MemoryStore({ clock });
    const redis = new RedisRateLimitStore({ client, prefix, clock, timeout: '2s' });
    const key = `k${n++}`;
    const fromMemory: RateLimitDecision[] = [];
    const fromRedis: RateLimitDecision[] = [];
    for (const [dt, cost = 1] of steps) {
      clock.t += dt;
      fromMemory.push(copy(mem.consume(key, windows, cost)));
      fromRedis.push(await redis.consume(key, windows, cost));
    }
    return { fromMemory, fromRedis };
  }

  test.each(cases)('$name', async (c) => {
    // An unaligned start, so window boundaries fall inside the sequence.
    const { fromMemory, fromRedis } = await run(c.windows, c.steps, 1_700_000_000_123);
    if (c.expectAllowed) expect(fromMemory.map((d) => d.allowed)).toEqual(c.expectAllowed);
    // Every case must exercise both outcomes, or it proves little.
    expect(new Set(fromMemory.map((d) => d.allowed))).toEqual(new Set([true, false]));
    expect(fromRedis).toEqual(fromMemory);
  });

  test('random sequences (fast-check)', async () => {
    const windowArb = fc
      .record({
        algorithm: fc.constantFrom<Algo>('token-bucket', 'fixed-window', 'sliding-window'),
        limit: fc.integer({ min: 1, max: 8 }),
        windowMs: fc.constantFrom(1000, 1500, 7000, 60_000),
        extra: fc.integer({ min: 0, max: 4 }),
      })
      .map((r) => w(r.algorithm, r.limit, r.windowMs, r.limit + r.extra));
    const stepArb = fc.tuple(
      fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 51, max: 3000 })),
      fc.oneof(fc.constant(1), fc.constantFrom(0, 0.5, 2, 3, 9)),
    ) as fc.Arbitrary<Step>;
    await fc.assert(
      fc.asyncProperty(
        fc.array(windowArb, { minLength: 1, maxLength: 3 }),
        fc.array(stepArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
        async (windows, steps, start) => {
          const { fromMemory, fromRedis } = await run(windows, steps, start);
          expect(fromRedis).toEqual(fromMemory);
        },
      ),
      { numRuns: 150 },
    );
  }, 30_000);
});

describe.skipIf(!up)('memory and Redis stores refund and block alike', () => {
  let client: Redis;
  const prefix = uniquePrefix('parity-block');
  let n = 0;
  beforeAll(async () => {
    client = new Redis(REDIS_URL);
    await whenReady(client);
  });
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
  });

  /** `consume` decides; `refund` gives back and reports nothing; `get` reads without consuming. */
  type Op = { dt: number; op: 'consume' | 'refund' | 'get'; cost: number };

  async function run(
    windows: RateLimitWindow[],
    block: RateLimitBlock | undefined,
    ops: Op[],
    start: number,
  ) {
    const clock = manualClock(start);
    const mem = new MemoryStore({ clock });
    const redis = new RedisRateLimitStore({ client, prefix, clock, timeout: '2s' });
    const key = `k${n++}`;
    const fromMemory: unknown[] = [];
    const fromRedis: unknown[] = [];
    for (const { dt, op, cost } of ops) {
      clock.t += dt;
      if (op === 'consume') {
        fromMemory.push(copy(mem.consume(key, windows, cost, block)));
        fromRedis.push(await redis.consume(key, windows, cost, block));
      } else if (op === 'refund') {
        mem.refund(key, windows, cost);
        await redis.refund(key, windows, cost);
      } else {
        fromMemory.push(mem.get(key, windows, block));
        fromRedis.push(await redis.get(key, windows, block));
      }
    }
    return { fromMemory, fromRedis };
  }

  const blockOf = (after: number, forMs: number, growth: number, maxMs: number, windows: RateLimitWindow[]) =>
    Object.freeze({ after, forMs, growth, maxMs, windowMs: Math.max(...windows.map((x) => x.windowMs)) });

  test('a block starts at the after-th refusal, grows on repeat, and ends on time', async () => {
    const windows = [w('fixed-window', 2, 10_000)];
    const block = blockOf(2, 1000, 2, 8000, windows);
    const c = (dt: number): Op => ({ dt, op: 'consume', cost: 1 });
    const { fromMemory, fromRedis } = await run(
      windows,
      block,
      [c(0), c(0), c(0), c(0), c(500), c(500), c(0), { dt: 0, op: 'get', cost: 0 }, c(0), c(2000)],
      1_700_000_000_123,
    );
    expect(fromRedis).toEqual(fromMemory);
    const d = fromMemory as RateLimitDecision[];
    // Two admitted, one refusal (counted), the second refusal starts a 1s block.
    expect(d.slice(0, 4).map((x) => [x.allowed, x.blockedMs ?? 0])).toEqual([
      [true, 0],
      [true, 0],
      [false, 0],
      [false, 1000],
    ]);
    // In the block: refused, saying when it ends, not counted.
    expect([d[4]!.allowed, d[4]!.blockedMs, d[4]!.retryAfterMs]).toEqual([false, 500, 500]);
    // After it: the window is still spent, so two more refusals start a block twice as long.
    expect([d[5]!.blockedMs ?? 0, d[6]!.blockedMs]).toEqual([0, 2000]);
    expect(fromMemory[7]).toMatchObject({ block: { blocks: 2, blockedMs: 2000 } });
  });

  test('random sequences with refunds and blocks (fast-check)', async () => {
    const windowArb = fc
      .record({
        algorithm: fc.constantFrom<Algo>('token-bucket', 'fixed-window', 'sliding-window'),
        limit: fc.integer({ min: 1, max: 5 }),
        windowMs: fc.constantFrom(1000, 1500, 7000),
        extra: fc.integer({ min: 0, max: 2 }),
      })
      .map((r) => w(r.algorithm, r.limit, r.windowMs, r.limit + r.extra));
    const opArb = fc.record({
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 51, max: 3000 })),
      op: fc.constantFrom<Op['op']>('consume', 'consume', 'consume', 'refund', 'get'),
      cost: fc.oneof(fc.constant(1), fc.constantFrom(0.5, 2, 3)),
    });
    const blockArb = fc.option(
      fc.record({
        after: fc.integer({ min: 1, max: 3 }),
        forMs: fc.constantFrom(300, 1000, 2500),
        growth: fc.constantFrom(1, 1.5, 2),
        times: fc.constantFrom(1, 4),
      }),
      { nil: undefined },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(windowArb, { minLength: 1, maxLength: 2 }),
        blockArb,
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
        async (windows, b, ops, start) => {
          const block = b && blockOf(b.after, b.forMs, b.growth, b.forMs * b.times, windows);
          const { fromMemory, fromRedis } = await run(windows, block, ops, start);
          expect(fromRedis).toEqual(fromMemory);
        },
      ),
      { numRuns: 150 },
    );
  }, 60_000);
});
