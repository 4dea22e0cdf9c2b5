import { type Clock, RateLimiter } from '@breakwater/core';
import type { RateLimitBlock, RateLimitWindow } from '@breakwater/core/extend';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RedisRateLimitStore } from './RedisRateLimitStore.js';
import { REDIS_URL, redisOrSkip } from './test-redis.js';

const up = await redisOrSkip('RedisRateLimitStore refund and block');
const prefix = `bwtest:policies:${process.pid}:${Math.random().toString(36).slice(2, 8)}:`;

function manualClock(start = 1_700_000_000_000): Clock & { t: number } {
  const c = { t: start, now: () => c.t, setTimeout: () => 0, clearTimeout: () => {} };
  return c;
}
const win = (limit: number, windowMs: number): RateLimitWindow =>
  Object.freeze({ name: 'w', algorithm: 'fixed-window', limit, windowMs, burst: limit });

describe.skipIf(!up)('refund, block and get on Redis', () => {
  let client: Redis;
  beforeAll(async () => {
    client = new Redis(REDIS_URL);
    await client.ping();
  });
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
  });

  test('a refund is one atomic script call and leaves the key with an expiry, whatever was there', async () => {
    const store = new RedisRateLimitStore({ client, prefix });
    const w = [win(2, 60_000)];
    await store.consume('r1', w, 1);
    await store.consume('r1', w, 1);
    expect((await store.consume('r1', w, 1)).allowed).toBe(false);
    await client.persist(store.redisKey('r1'));
    await store.refund('r1', w, 1);
    expect(await client.pttl(store.redisKey('r1'))).toBeGreaterThan(0);
    expect((await store.consume('r1', w, 1)).allowed).toBe(true);
    // Nothing to give back to: no key is written.
    await store.refund('absent', w, 1);
    expect(await client.exists(store.redisKey('absent'))).toBe(0);
  });

  test("a block's key lives as long as its history, with an expiry", async () => {
    const clock = manualClock();
    const store = new RedisRateLimitStore({ client, prefix, clock });
    const w = [win(1, 1000)];
    const block: RateLimitBlock = { after: 1, forMs: 60_000, growth: 2, maxMs: 600_000, windowMs: 1000 };
    await store.consume('b1', w, 1, block);
    const d = await store.consume('b1', w, 1, block);
    expect([d.allowed, d.blockedMs, d.retryAfterMs, d.resetMs]).toEqual([false, 60_000, 60_000, [60_000]]);
    // The history must outlive the block by `max`: the key's TTL covers 60s + 600s.
    expect(await client.pttl(store.redisKey('b1'))).toBeGreaterThan(660_000);
    expect(await store.get('b1', w, block)).toEqual({
      windows: [{ name: 'w', limit: 1, remaining: 0, resetMs: 60_000 }],
      block: { refusals: 0, blocks: 1, blockedMs: 60_000 },
    });
    expect(await store.get('never', w, block)).toBeUndefined();
  });

  test('get reads a limit function’s limits back from what wrote the key', async () => {
    const store = new RedisRateLimitStore({ client, prefix: `${prefix}fn:` });
    const l = new RateLimiter(
      { limit: (req: { plan: number }) => req.plan, window: '1m', store },
      { name: 'plans' },
    );
    const ws = l.windowsOf({ plan: 7 }) as readonly RateLimitWindow[];
    await l.consumeIn('u', 1, undefined, ws);
    expect(await l.get('u')).toMatchObject({ windows: [{ limit: 7, remaining: 6 }] });
  });

  test('Redis down: refund and get reject in time, a limiter refund swallows it', async () => {
    const dead = new Redis({
      port: 1,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    dead.on('error', () => {});
    const store = new RedisRateLimitStore({ client: dead, prefix, timeout: '100ms' });
    const w = [win(1, 1000)];
    const t0 = Date.now();
    await expect(store.refund('k', w, 1)).rejects.toBeInstanceOf(Error);
    await expect(store.get('k', w)).rejects.toBeInstanceOf(Error);
    expect(Date.now() - t0).toBeLessThan(1000);
    const l = new RateLimiter({ limit: 1, window: '1s', count: 'failed', store }, { name: 'down' });
    expect(() => l.refund('k', 1)).not.toThrow();
    await new Promise((r) => setTimeout(r, 150));
    dead.disconnect();
  });
});
