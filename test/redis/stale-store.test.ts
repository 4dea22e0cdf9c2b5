/**
 * staleIfError's copies in Redis (RedisStaleStore), against real Redis: two instances of
 * an app share them (A records, B serves A's copy while its breaker is open); copies
 * expire with maxAge and are bounded in size; Redis down or stalled never fails a request
 * (the default refusal goes out, in time) and leaves no promise behind.
 */
import { staleIfError } from '@breakwater/core';
import { RedisPool, RedisStaleStore } from '@breakwater/redis-pool';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { flavors, type RouteDef, type TestApp } from '../helpers/apps.js';
import { REDIS_URL, redisOrSkip, startRedis, uniquePrefix } from '../helpers/redis-server.js';

const run = await redisOrSkip('RedisStaleStore', ['shared', 'private']);
const prefix = uniquePrefix('stale');

let admin: Redis;
const clients: Redis[] = [];
const apps: TestApp[] = [];

function client(url = REDIS_URL): Redis {
  const c = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 300, disconnectTimeout: 200 });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

async function ready(c: Redis): Promise<void> {
  if (c.status !== 'ready') await new Promise((r) => c.once('ready', r));
}

async function until(fn: () => Promise<boolean>, ms = 2000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An app whose `/prices` route has a breaker named `down` and the stale fallback over `store`. */
async function app(flavor: (typeof flavors)[number], store: RedisStaleStore, body: () => unknown) {
  const routes: RouteDef[] = [
    {
      path: '/prices',
      policy: { circuitBreaker: 'down', fallback: staleIfError({ maxAge: '1m', store }) },
      handler: () => ({ status: 200, body: body(), headers: { 'Cache-Control': 'max-age=5' } }),
    },
  ];
  const a = await flavor.make(routes, { breakers: { down: { openFor: '1m' } } });
  apps.push(a);
  return a;
}

describe.runIf(run)('RedisStaleStore', () => {
  beforeAll(async () => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    for (const c of clients) c.disconnect();
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    admin.disconnect();
  });

  test('two instances share copies: A records, B serves it with Age while its breaker is open', async () => {
    const p = `${prefix}share:`;
    const [ca, cb] = [client(), client()];
    await Promise.all([ready(ca), ready(cb)]);
    const a = await app(flavors[0]!, new RedisStaleStore({ client: ca, prefix: p }), () => ({
      from: 'A',
    }));
    const storeB = new RedisStaleStore({ client: cb, prefix: p });
    const b = await app(flavors[2]!, storeB, () => ({ from: 'B' }));
    const r = await request(a.url).get('/prices?c=eur');
    expect([r.status, r.body]).toEqual([200, { from: 'A' }]);
    const key = `${p}GET /prices?c=eur`;
    await until(async () => (await admin.exists(key)) === 1, 2000, 'the copy in Redis');
    // The copy lives as long as it may be served: PX = maxAge.
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    b.bw.core.breakers.get('down')!.open();
    const s = await request(b.url).get('/prices?c=eur');
    expect(s.status).toBe(200);
    expect(s.body).toEqual({ from: 'A' });
    expect(s.headers['breakwater-fallback']).toBe('circuit_open');
    expect(s.headers['cache-control']).toBe('max-age=5');
    expect(Number(s.headers.age)).toBeLessThan(5);
    expect(storeB.stats).toMatchObject({ hits: 1, errors: 0, timeouts: 0 });
    // No copy under this key anywhere: B's default refusal.
    const none = await request(b.url).get('/prices?c=usd');
    expect([none.status, none.body.code]).toEqual([503, 'CIRCUIT_OPEN']);
    expect(storeB.stats.misses).toBe(1);
  });

  test('get/set: round trip, binary bodies, the size bound, foreign values read as none', async () => {
    const p = `${prefix}unit:`;
    const c = client();
    await ready(c);
    const s = new RedisStaleStore({ client: c, prefix: p, maxEntryBytes: 300 });
    const entry = { status: 200, headers: { a: 'b' }, body: 'aGk=', binary: true, storedAt: 123 };
    await s.set('k', entry, 1500.4);
    expect(await s.get('k')).toEqual(entry);
    const pttl = await admin.pttl(`${p}k`);
    expect(pttl).toBeGreaterThan(1000);
    expect(pttl).toBeLessThanOrEqual(1501);
    await s.set('big', { ...entry, body: 'x'.repeat(400) }, 10_000);
    expect(await admin.exists(`${p}big`)).toBe(0);
    await admin.set(`${p}junk`, 'not json');
    await admin.set(`${p}shape`, JSON.stringify({ status: 'x' }));
    expect(await s.get('junk')).toBeUndefined();
    expect(await s.get('shape')).toBeUndefined();
    expect(await s.get('absent')).toBeUndefined();
    expect(s.stats).toMatchObject({ hits: 1, misses: 3, writes: 1, tooLarge: 1, errors: 0 });
  });

  test('Redis down: nothing is sent, the route answers its default refusal at once; back up, copies flow again', async () => {
    const redis = await startRedis();
    const c = client(redis.url);
    await ready(c);
    const store = new RedisStaleStore({ client: c, prefix: `${prefix}down:` });
    let n = 0;
    const a = await app(flavors[0]!, store, () => ({ n: ++n }));
    expect((await request(a.url).get('/prices')).status).toBe(200);
    await until(async () => store.stats.writes === 1, 2000, 'the first copy written');

    await redis.kill();
    await until(async () => c.status !== 'ready', 2000, 'the client to notice');
    // Good answers while Redis is down: their copies are dropped, the requests unharmed.
    const good = await request(a.url).get('/prices');
    expect([good.status, good.body]).toEqual([200, { n: 2 }]);
    a.bw.core.breakers.get('down')!.open();
    const t0 = Date.now();
    const r = await request(a.url).get('/prices');
    expect(Date.now() - t0).toBeLessThan(500);
    expect([r.status, r.body.code]).toEqual([503, 'CIRCUIT_OPEN']);
    expect(store.stats.skipped).toBeGreaterThanOrEqual(2);
    expect(store.stats.errors).toBe(0);

    await redis.restart();
    await until(async () => c.status === 'ready', 5000, 'the client to reconnect');
    a.bw.core.breakers.get('down')!.close();
    expect((await request(a.url).get('/prices')).status).toBe(200);
    await until(async () => store.stats.writes === 2, 2000, 'a copy written again');
    a.bw.core.breakers.get('down')!.open();
    const back = await request(a.url).get('/prices');
    expect([back.status, back.body]).toEqual([200, { n: 3 }]);
    expect(back.headers['breakwater-fallback']).toBe('circuit_open');
    await redis.kill();
  });

  test('Redis stalled (SIGSTOP): a read gives up at its timeout and the refusal goes out; writes stay bounded', async () => {
    const redis = await startRedis();
    const c = client(redis.url);
    await ready(c);
    const store = new RedisStaleStore({
      client: c,
      prefix: `${prefix}stall:`,
      timeout: '40ms',
      maxPendingWrites: 2,
    });
    const a = await app(flavors[2]!, store, () => ({ ok: true }));
    redis.pause();
    try {
      for (let i = 0; i < 4; i++) expect((await request(a.url).get(`/prices?i=${i}`)).status).toBe(200);
      // Two writes wait for the stalled server; the others were dropped.
      expect(store.stats.skipped).toBe(2);
      a.bw.core.breakers.get('down')!.open();
      const t0 = Date.now();
      const r = await request(a.url).get('/prices?i=0');
      const ms = Date.now() - t0;
      expect([r.status, r.body.code]).toEqual([503, 'CIRCUIT_OPEN']);
      expect(ms).toBeGreaterThanOrEqual(35);
      expect(ms).toBeLessThan(500);
      expect(store.stats.timeouts).toBe(1);
    } finally {
      redis.resume();
      await redis.kill();
    }
  });

  test('options are checked, naming the option', () => {
    const c = client();
    expect(() => new RedisStaleStore({} as never)).toThrow(
      /redisStaleStore: expected exactly one of client or pool/,
    );
    expect(() => new RedisStaleStore({ client: {} as never })).toThrow(/redisStaleStore\.client/);
    expect(() => new RedisStaleStore({ client: c, timeout: 'soon' })).toThrow(/redisStaleStore\.timeout/);
    expect(() => new RedisStaleStore({ client: c, maxEntryBytes: 0 })).toThrow(
      /redisStaleStore\.maxEntryBytes/,
    );
    expect(() => new RedisStaleStore({ client: c, prefix: 1 as never })).toThrow(/redisStaleStore\.prefix/);
    expect(() => new RedisStaleStore({ client: c, nope: 1 } as never)).toThrow(/redisStaleStore\.nope/);
    const pool = new RedisPool({ name: 'stale-opts', url: REDIS_URL });
    expect(new RedisStaleStore({ pool }).prefix).toBe('bw:stale:');
    return pool.destroy();
  });
});
