import {
  type Clock,
  type ConfigError,
  isConfigError,
  type RateLimitDecision,
  RateLimiter,
} from '@breakwater/core';
import type { RateLimitWindow } from '@breakwater/core/extend';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { Redis as Redis6 } from 'ioredis6';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isStoreUnavailableError, type StoreUnavailableError } from './errors.js';
import { RedisPool } from './RedisPool.js';
import { RedisRateLimitStore, type RedisRateLimitStoreOptions } from './RedisRateLimitStore.js';
import type { ScriptClient } from './scriptClient.js';
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
  const client = { evalsha() {}, evalshaBuffer() {}, evalBuffer() {} } as unknown as Redis;
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
    [{ client, startup: 'wait' as never }, 'store.startup'],
    [{ client, startup: { wait: 'soon' } }, 'store.startup.wait'],
    [{ client, startup: { wait: '1s', after: 1 } as never }, 'store.startup'],
    [{ client, lease: { size: 1, ttl: '1s' } }, 'store.lease.size'],
    [{ client, lease: { size: 2.5, ttl: '1s' } }, 'store.lease.size'],
    [{ client, lease: { size: 10 } as never }, 'store.lease.ttl'],
    [{ client, lease: { size: 10, ttl: 'later' } }, 'store.lease.ttl'],
    [{ client, lease: { size: 10, ttl: '1s', max: 3 } as never }, 'store.lease.max'],
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

/** Resolves once an ioredis client is ready (connected, handshake done). */
function ready(c: { status: string; once(e: 'ready', f: () => void): unknown }): Promise<void> {
  return c.status === 'ready' ? Promise.resolve() : new Promise((r) => void c.once('ready', r));
}

// The same suite on both ioredis majors the package supports (a peer dependency: ^5 || ^6).
const majors = [
  { major: 'ioredis 5', Client: Redis },
  { major: 'ioredis 6', Client: Redis6 as unknown as typeof Redis },
];

describe.skipIf(!up).each(majors)('RedisRateLimitStore on real Redis, $major', ({ Client }) => {
  let client: Redis;
  let store: RedisRateLimitStore;
  beforeAll(async () => {
    client = new Client(REDIS_URL);
    await ready(client);
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

  test("the TTL is refreshed only when the key's own would end before the new expiry", async () => {
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
    // A TTL shorter than the idle time: the next decision sets a full one again.
    await client.pexpire(k, 100_000);
    expect((await store.consume('ttl-keep', w, 1)).remaining).toEqual([997]);
    expect(await client.pttl(k)).toBeGreaterThan(first - 10);
    // No TTL at all (PERSIST), whatever the value's header says: the next write sets one.
    await client.persist(k);
    await client.setrange(k, 8, Buffer.alloc(8, 0x7f)); // `ttlUntil`: a huge double
    expect((await store.consume('ttl-keep', w, 1)).remaining).toEqual([996]);
    expect(await client.pttl(k)).toBeGreaterThan(first - 10);
    // A TTL far beyond a fresh one is cut back to one.
    await client.pexpire(k, 86_400_000);
    await store.consume('ttl-keep', w, 1);
    expect(await client.pttl(k)).toBeLessThanOrEqual(150_000);
  });

  test('corrupt values of every shape: each write leaves an expiry and a sane decision (fast-check)', async () => {
    const w = [win(5, 1000), win(7, 2000, 'fixed-window'), win(6, 2000, 'sliding-window')];
    const px = 5000; // the longest idle (2 × 2000ms) plus a quarter
    // A real state of these windows, to corrupt field by field.
    await store.consume('corrupt-model', w, 1);
    const model = (await client.getBuffer(store.redisKey('corrupt-model')))!;
    expect(model.length).toBe(8 * (4 + 4 * 3));
    const double = fc.oneof(
      fc.double(),
      fc.constantFrom(Number.NaN, Infinity, -Infinity, 0, -1, 1e300, -1e300, 2 ** 53, Date.now() + 1e12),
    );
    const value = fc.oneof(
      // The right size: a real state with some doubles replaced (the header's expiry included).
      fc
        .array(fc.tuple(fc.integer({ min: 0, max: 15 }), double), { minLength: 1, maxLength: 16 })
        .map((edits) => {
          const b = Buffer.from(model);
          for (const [i, x] of edits) b.writeDoubleLE(x, i * 8);
          return { kind: 'string' as const, bytes: b };
        }),
      // The right size, random bytes.
      fc.uint8Array({ minLength: model.length, maxLength: model.length }).map((a) => ({
        kind: 'string' as const,
        bytes: Buffer.from(a),
      })),
      // Any other size (fewer windows, more, or none).
      fc.uint8Array({ maxLength: 300 }).map((a) => ({ kind: 'string' as const, bytes: Buffer.from(a) })),
      // Another type altogether.
      fc.constantFrom('hash', 'list', 'set', 'zset').map((kind) => ({ kind, bytes: Buffer.alloc(0) })),
    );
    const ttl = fc.constantFrom('none', 'short', 'long', 'far');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(value, ttl, fc.integer({ min: 0, max: 3 }), async (v, t, cost) => {
        const key = `corrupt-${n++}`;
        const k = store.redisKey(key);
        await client.del(k);
        if (v.kind === 'string') await client.set(k, v.bytes);
        else if (v.kind === 'hash') await client.hset(k, 'f', 'v');
        else if (v.kind === 'list') await client.rpush(k, 'x');
        else if (v.kind === 'set') await client.sadd(k, 'x');
        else await client.zadd(k, 1, 'x');
        if (t === 'short') await client.pexpire(k, 3000);
        if (t === 'long') await client.pexpire(k, 4900);
        if (t === 'far') await client.pexpire(k, 86_400_000 * 365);
        const d = await store.consume(key, w, cost);
        const pttl = await client.pttl(k);
        expect(pttl).toBeGreaterThan(0);
        expect(pttl).toBeLessThanOrEqual(px);
        for (let i = 0; i < 3; i++) {
          expect(Number.isFinite(d.remaining[i])).toBe(true);
          expect(d.remaining[i]).toBeGreaterThanOrEqual(0);
          expect(d.remaining[i]).toBeLessThanOrEqual(w[i]!.limit);
          expect(Number.isFinite(d.resetMs[i])).toBe(true);
        }
        expect(Number.isFinite(d.retryAfterMs)).toBe(true);
        // And it keeps one on the next write too.
        await store.consume(key, w, 1);
        expect(await client.pttl(k)).toBeGreaterThan(0);
        await client.del(k);
      }),
      { numRuns: 300 },
    );
    expect(store.stats.errors).toBe(0);
  });

  test('cold start: before the client is ready decisions fall back at once, the breaker is not charged', async () => {
    const fresh = new Client(REDIS_URL);
    try {
      const s = new RedisRateLimitStore({ client: fresh, prefix });
      expect(s.isReady).toBe(false);
      const errs = await Promise.all(
        Array.from({ length: 50 }, () => s.consume('cold', [win(5, 1000)], 1).catch((e: unknown) => e)),
      );
      expect(errs.every((e) => isStoreUnavailableError(e) && e.reason === 'not_ready')).toBe(true);
      expect(s.stats).toMatchObject({ notReady: 50, errors: 0, timeouts: 0, decisions: 0 });
      expect(s.breaker.state).toBe('closed');
      expect(s.breaker.stats).toMatchObject({ failures: 0 });
      // Through a limiter: the fallback decides.
      const l = new RateLimiter({ limit: 1, window: '1s', store: s, onStoreError: 'deny' });
      expect((await l.consume('k')).allowed).toBe(false);
      await ready(fresh);
      expect((await s.consume('cold', [win(5, 1000)], 1)).remaining).toEqual([4]);
      expect(s.isReady).toBe(true);
    } finally {
      fresh.disconnect();
    }
  });

  test('cold start with startup.wait: the first decisions wait for ready and come from Redis', async () => {
    const fresh = new Client(REDIS_URL, { lazyConnect: true });
    try {
      const s = new RedisRateLimitStore({ client: fresh, prefix, startup: { wait: '2s' } });
      // A lazyConnect client is asked to connect by the store's first call.
      const ds = await Promise.all(Array.from({ length: 8 }, () => s.consume('warm', [win(5, 60_000)], 1)));
      expect(ds.filter((d) => d.allowed).length).toBe(5);
      expect(s.stats).toMatchObject({ notReady: 0, decisions: 8, errors: 0 });
    } finally {
      fresh.disconnect();
    }
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
    const piped = new Client(REDIS_URL, { enableAutoPipelining: true });
    try {
      await ready(piped);
      const s = new RedisRateLimitStore({ client: piped, prefix });
      const w = [win(5, 60_000), win(7, 60_000, 'fixed-window'), win(6, 60_000, 'sliding-window')];
      const ds = await Promise.all(Array.from({ length: 8 }, () => s.consume('piped', w, 1)));
      expect(ds.filter((d) => d.allowed).length).toBe(5);
      expect(s.stats).toMatchObject({ decisions: 8, errors: 0 });
    } finally {
      piped.disconnect();
    }
  });

  test('lease: one round trip per lease of a busy key, figures include the units still leased', async () => {
    const s = new RedisRateLimitStore({ client, prefix, lease: { size: 5, ttl: '1s' } });
    const w = [win(100, 60_000, 'fixed-window')];
    const ds: RateLimitDecision[] = [];
    for (let i = 0; i < 20; i++) ds.push(await s.consume('leased', w, 1));
    expect(ds.every((d) => d.allowed)).toBe(true);
    expect(ds.map((d) => d.remaining[0])).toEqual(Array.from({ length: 20 }, (_, i) => 99 - i));
    expect(s.stats).toMatchObject({ decisions: 4, leaseGrants: 4, leaseLocal: 16, errors: 0 });
    // Redis counted the whole leases.
    const plain = new RedisRateLimitStore({ client, prefix });
    expect((await plain.consume('leased', w, 0)).remaining).toEqual([80]);
    // reset() drops the lease here too.
    await s.reset('leased');
    expect((await s.consume('leased', w, 1)).remaining).toEqual([99]);
    expect(s.stats.leaseGrants).toBe(5);
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
      await ready(pool.client);
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
    // Ready once, then closed: an outage, not a cold start.
    const dead = new Client(REDIS_URL, { enableOfflineQueue: false });
    dead.on('error', () => {});
    await ready(dead);
    dead.disconnect();
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

describe.skipIf(!up)('RedisRateLimitStore with node-redis (redis 5) and a ScriptClient', () => {
  test('node-redis: exact decisions, binary replies intact, NOSCRIPT reloads, cold start falls back', async () => {
    const { createClient } = await import('redis');
    const nr = createClient({ url: REDIS_URL });
    nr.on('error', () => {});
    const s = new RedisRateLimitStore({ client: nr, prefix });
    try {
      // Not connected yet: the fallback decides, the breaker is not charged.
      const early = await s.consume('nr', [win(5, 60_000)], 1).catch((e: unknown) => e);
      expect(isStoreUnavailableError(early) && early.reason === 'not_ready').toBe(true);
      await nr.connect();
      const w = [win(5, 60_000), win(7, 60_000, 'fixed-window'), win(6, 60_000, 'sliding-window')];
      const ds = await Promise.all(Array.from({ length: 8 }, () => s.consume('nr-multi', w, 1)));
      expect(ds.filter((d) => d.allowed).length).toBe(5);
      expect(ds.filter((d) => !d.allowed).every((d) => d.remaining.join() === '0,2,1')).toBe(true);
      await nr.scriptFlush();
      expect((await s.consume('nr-after-flush', w, 1)).remaining).toEqual([4, 6, 5]);
      expect(s.stats).toMatchObject({ errors: 0, notReady: 1, decisions: 9 });
      expect(s.stats.scriptLoads).toBeGreaterThan(0);
      await s.reset('nr-multi');
      expect((await s.consume('nr-multi', w, 1)).allowed).toBe(true);
      expect(s.breaker.state).toBe('closed');
    } finally {
      nr.destroy();
    }
  });

  test("a ScriptClient of one's own (here over ioredis) decides the same", async () => {
    const c = new Redis(REDIS_URL);
    await ready(c);
    const mine = c as unknown as {
      evalshaBuffer(sha: string, n: number, ...a: string[]): Promise<Buffer>;
      evalBuffer(lua: string, n: number, ...a: string[]): Promise<Buffer>;
    };
    const client: ScriptClient = {
      evalsha: (sha, keys, args) => mine.evalshaBuffer(sha, keys.length, ...keys, ...args),
      eval: (lua, keys, args) => mine.evalBuffer(lua, keys.length, ...keys, ...args),
      del: (key) => c.del(key),
      isReady: () => c.status === 'ready',
      onReady: (fn) => {
        c.on('ready', fn);
        return () => void c.off('ready', fn);
      },
    };
    const s = new RedisRateLimitStore({ client, prefix });
    try {
      const ds = await Promise.all(Array.from({ length: 4 }, () => s.consume('own', [win(3, 60_000)], 1)));
      expect(ds.map((d) => d.allowed).sort()).toEqual([false, true, true, true]);
    } finally {
      c.disconnect();
    }
  });
});
