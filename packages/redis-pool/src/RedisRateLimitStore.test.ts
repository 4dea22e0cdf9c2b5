import {
  type Clock,
  type ConfigError,
  isConfigError,
  type RateLimitDecision,
  RateLimiter,
} from '@breakwater/core';
import type { RateLimitWindow } from '@breakwater/core/extend';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isStoreUnavailableError, type StoreUnavailableError } from './errors.js';
import { RedisPool } from './RedisPool.js';
import { RedisRateLimitStore, type RedisRateLimitStoreOptions } from './RedisRateLimitStore.js';
import { REDIS_URL, redisOrSkip } from './test-redis.js';

const up = await redisOrSkip('RedisRateLimitStore');

const prefix = `bwtest:store:${process.pid}:${Math.random().toString(36).slice(2, 8)}:`;

function manualClock(start = 1_700_000_000_000): Clock & { t: number } {
  const c = { t: start, now: () => c.t, setTimeout: () => 0, clearTimeout: () => {} };
  return c;
}

function win(
  limit: number,
  windowMs: number,
  algorithm: RateLimitWindow['algorithm'] = 'token-bucket',
  burst = limit,
): RateLimitWindow {
  return Object.freeze({ name: `w${windowMs}`, algorithm, limit, windowMs, burst });
}

describe('options', () => {
  const client = { evalsha() {}, evalshaBuffer() {} } as unknown as Redis;
  const bad: Array<[RedisRateLimitStoreOptions, string]> = [
    [{}, 'store'],
    [{ client, pool: {} as RedisPool }, 'store'],
    [{ client: {} as Redis }, 'store.client'],
    [{ client, prefix: 'a{b' }, 'store.prefix'],
    [{ client, timeout: 'quick' }, 'store.timeout'],
    [{ client, timeout: 0 }, 'store.timeout'],
    [{ client, breaker: { failureRateThreshold: 2 } }, 'store.breaker.failureRateThreshold'],
    [{ client, clock: 5 as never }, 'store.clock'],
    [{ client, ttl: 5 } as never, 'store.ttl'],
  ];
  test.each(bad)('%o fails naming %s', (opts, path) => {
    let err: unknown;
    try {
      new RedisRateLimitStore(opts);
    } catch (e) {
      err = e;
    }
    expect(isConfigError(err)).toBe(true);
    expect((err as ConfigError).path).toBe(path);
  });
});

describe.skipIf(!up)('RedisRateLimitStore on real Redis', () => {
  let client: Redis;
  let store: RedisRateLimitStore;
  beforeAll(() => {
    client = new Redis(REDIS_URL);
    store = new RedisRateLimitStore({ client, prefix });
  });
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
  });

  test('token bucket by Redis time: the burst, then a refusal with Retry-After', async () => {
    const w = [win(3, 60_000)];
    const ds: RateLimitDecision[] = [];
    for (let i = 0; i < 4; i++) ds.push(await store.consume('tb', w, 1));
    expect(ds.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(ds.map((d) => d.remaining[0])).toEqual([2, 1, 0, 0]);
    expect(ds[3]!.violated).toEqual([0]);
    // One token per 20s; a few ms of Redis time may have passed between the calls.
    expect(ds[3]!.retryAfterMs).toBeGreaterThan(19_000);
    expect(ds[3]!.retryAfterMs).toBeLessThanOrEqual(20_000);
  });

  test('keys live under the prefix in a hash tag, with a TTL so idle keys vanish', async () => {
    expect(store.redisKey('GET /x:1.2.3.4')).toBe(`${prefix}{GET /x:1.2.3.4}`);
    await store.consume('ttl', [win(5, 100, 'fixed-window')], 1);
    const k = store.redisKey('ttl');
    const pttl = await client.pttl(k);
    expect(pttl).toBeGreaterThan(0);
    // Two windows of a fixed window, plus the quarter of slack that spares busy keys a TTL
    // update on every decision (see script.ts).
    expect(pttl).toBeLessThanOrEqual(250);
    await new Promise((r) => setTimeout(r, 310));
    expect(await client.exists(k)).toBe(0);
  });

  test('several windows are decided atomically: a refusal consumes from none', async () => {
    const clock = manualClock();
    const s = new RedisRateLimitStore({ client, prefix, clock });
    const w = [win(10, 1000, 'fixed-window'), win(3, 60_000, 'sliding-window'), win(5, 10_000)];
    for (let i = 0; i < 3; i++) expect((await s.consume('multi', w, 1)).allowed).toBe(true);
    const refused = await s.consume('multi', w, 1);
    expect(refused.allowed).toBe(false);
    expect(refused.violated).toEqual([1]);
    expect(refused.remaining).toEqual([7, 0, 2]); // the others kept what they had
    clock.t += 1000;
    const again = await s.consume('multi', w, 1);
    expect(again.allowed).toBe(false);
    expect(again.remaining[0]).toBe(10); // new fixed window, nothing taken by the refusals
  });

  test('cost: zero is free, more than the burst is refused with the window as wait', async () => {
    const clock = manualClock();
    const s = new RedisRateLimitStore({ client, prefix, clock });
    const w = [win(4, 1000)];
    expect(await s.consume('cost', w, 0)).toMatchObject({ allowed: true, remaining: [4] });
    expect(await s.consume('cost', w, 2.5)).toMatchObject({ allowed: true, remaining: [1] });
    const d = await s.consume('cost', w, 5);
    expect(d).toMatchObject({ allowed: false, retryAfterMs: 1000, violated: [0] });
    await expect(s.consume('cost', w, Number.NaN)).rejects.toThrow(RangeError);
  });

  test('the TTL is refreshed only when it would end before the new expiry', async () => {
    const w = [win(1000, 60_000, 'fixed-window')]; // idle 120s: TTL 150s (a quarter of slack)
    const k = store.redisKey('ttl-keep');
    await store.consume('ttl-keep', w, 1);
    const first = await client.pttl(k);
    expect(first).toBeGreaterThan(149_000);
    expect(first).toBeLessThanOrEqual(150_000);
    await new Promise((r) => setTimeout(r, 30));
    await store.consume('ttl-keep', w, 1);
    // Overwritten in place: the TTL kept running.
    expect(await client.pttl(k)).toBeLessThanOrEqual(first - 25);
    // Forget when the TTL ends (the `ttlUntil` double): the next decision sets it again.
    await client.setrange(k, 8, Buffer.alloc(8));
    const d = await store.consume('ttl-keep', w, 1);
    expect(d.remaining).toEqual([997]);
    expect(await client.pttl(k)).toBeGreaterThan(first - 10);
  });

  test('a window keeps its state while its place and settings stay; a changed one starts afresh', async () => {
    const clock = manualClock();
    const s = new RedisRateLimitStore({ client, prefix, clock });
    const a = win(5, 60_000, 'fixed-window');
    const b = win(9, 60_000, 'sliding-window');
    await s.consume('shape', [a, b], 2);
    expect((await s.consume('shape', [a], 1)).remaining).toEqual([2]);
    // b left the set, so its state went with it; a goes on.
    expect((await s.consume('shape', [a, b, win(3, 1000)], 1)).remaining).toEqual([1, 8, 2]);
    expect((await s.consume('shape', [a, b, win(3, 1000)], 1)).remaining).toEqual([0, 7, 1]);
    // b's limit changed: b starts afresh, a keeps its count (and refuses).
    const d = await s.consume('shape', [a, win(10, 60_000, 'sliding-window')], 1);
    expect(d).toMatchObject({ allowed: false, remaining: [0, 10], violated: [0] });
  });

  test('a key left in another format (a hash of an older version) is overwritten', async () => {
    await client.hset(store.redisKey('old'), 'e', '1', '0:t:5:1000:5', '1 2 0');
    const d = await store.consume('old', [win(5, 1000)], 1);
    expect(d).toMatchObject({ allowed: true, remaining: [4] });
    expect(await client.type(store.redisKey('old'))).toBe('string');
  });

  test('up to 16 windows in one decision; more is a RangeError', async () => {
    const ws = Array.from({ length: 16 }, (_, i) =>
      win(2 + i, 1000 * (i + 1), (['token-bucket', 'fixed-window', 'sliding-window'] as const)[i % 3]),
    );
    const d = await store.consume('sixteen', ws, 2);
    expect(d.allowed).toBe(true);
    expect(d.remaining).toEqual(ws.map((w) => w.limit - 2));
    await expect(store.consume('sixteen', [...ws, win(1, 1000)], 1)).rejects.toThrow(RangeError);
    await expect(store.consume('sixteen', [win(Number.NaN, 1000)], 1)).rejects.toThrow(RangeError);
  });

  test('an auto-pipelined client decides the same', async () => {
    const piped = new Redis(REDIS_URL, { enableAutoPipelining: true });
    try {
      const s = new RedisRateLimitStore({ client: piped, prefix });
      const w = [win(5, 60_000), win(7, 60_000, 'fixed-window'), win(6, 60_000, 'sliding-window')];
      const ds = await Promise.all(Array.from({ length: 8 }, () => s.consume('piped', w, 1)));
      expect(ds.filter((d) => d.allowed).length).toBe(5);
      expect(s.stats).toMatchObject({ decisions: 8, errors: 0 });
    } finally {
      piped.disconnect();
    }
  });

  test('reset() forgets a key', async () => {
    const w = [win(1, 60_000)];
    expect((await store.consume('reset', w, 1)).allowed).toBe(true);
    expect((await store.consume('reset', w, 1)).allowed).toBe(false);
    await store.reset('reset');
    expect((await store.consume('reset', w, 1)).allowed).toBe(true);
  });

  test('works through a RedisPool and a RateLimiter (the limiter prefixes its name)', async () => {
    const pool = new RedisPool({ url: REDIS_URL, healthCheck: false });
    try {
      const s = new RedisRateLimitStore({ pool, prefix });
      const l = new RateLimiter({ limit: 2, window: '1m', store: s }, { name: 'GET /pool' });
      const ds = [await l.consume('k'), await l.consume('k'), await l.consume('k')];
      expect(ds.map((d) => d.allowed)).toEqual([true, true, false]);
      expect(await client.exists(`${prefix}{GET /pool:k}`)).toBe(1);
      expect(s.stats).toMatchObject({ decisions: 3, errors: 0 });
    } finally {
      await pool.close();
    }
  });

  test('a failing client: typed errors, then the breaker refuses without asking Redis', async () => {
    const dead = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false });
    dead.on('error', () => {});
    const s = new RedisRateLimitStore({
      client: dead,
      prefix,
      breaker: { consecutiveFailures: 3, openFor: '10s' },
    });
    const errs: unknown[] = [];
    for (let i = 0; i < 6; i++) errs.push(await s.consume('k', [win(5, 1000)], 1).catch((e: unknown) => e));
    expect(errs.every(isStoreUnavailableError)).toBe(true);
    expect(errs.map((e) => (e as StoreUnavailableError).reason)).toEqual([
      'error',
      'error',
      'error',
      'circuit_open',
      'circuit_open',
      'circuit_open',
    ]);
    expect((errs[3] as StoreUnavailableError).retryAfterMs).toBeGreaterThan(9000);
    expect(s.stats).toMatchObject({ errors: 3, shortCircuited: 3, decisions: 0 });
    expect(s.breaker.state).toBe('open');
    // Through a limiter the failure becomes the onStoreError decision.
    const l = new RateLimiter({ limit: 1, window: '1s', store: s, onStoreError: 'deny' });
    expect((await l.consume('k')).allowed).toBe(false);
    dead.disconnect();
  });
});
