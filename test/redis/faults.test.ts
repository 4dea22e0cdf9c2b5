/**
 * Outages on a private redis-server this file starts and kills: requests keep getting
 * answers per `onStoreError` within bounded time, the pool goes unhealthy and says so,
 * and both the pool and the store recover when Redis returns; SCRIPT FLUSH mid-load
 * reaches no user.
 */
import { breakwater } from '@breakwater/express';
import { isPoolUnavailableError, RedisPool, RedisRateLimitStore } from '@breakwater/redis-pool';
import express from 'express';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';
import { type PrivateRedis, redisOrSkip, startRedis, uniquePrefix } from '../helpers/redis-server.js';
import { whenReady } from './servers.js';

const up = await redisOrSkip('Redis outage tests', ['private']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`not within ${timeoutMs}ms: ${what}`);
    await sleep(20);
  }
  return performance.now() - t0;
}

interface Answer {
  path: string;
  status: number;
  ms: number;
}

describe.skipIf(!up)('outages of a private Redis', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(server: PrivateRedis) {
    const pool = new RedisPool({
      url: server.url,
      name: 'outage',
      max: 4,
      acquireTimeout: '300ms',
      connectTimeout: '200ms',
      createBackoff: { initial: '50ms', max: '200ms' },
      healthCheck: { interval: '100ms', timeout: '100ms', unhealthyThreshold: 2, healthyThreshold: 1 },
      redisOptions: { retryStrategy: (n: number) => Math.min(n * 20, 100) },
    });
    const store = new RedisRateLimitStore({
      pool,
      prefix: uniquePrefix('outage'),
      timeout: '50ms',
      breaker: { consecutiveFailures: 3, openFor: '200ms' },
    });
    const bw = breakwater({ store });
    bw.pools.add(pool);
    // Until its client is first ready a store falls back (cold start); these tests start warm.
    await whenReady(pool.client);
    const app = express();
    app.use(bw.middleware());
    const key = { header: 'x-client' };
    app.get(
      '/allow',
      bw.route({ rateLimit: { limit: 1000, window: '1h', key, onStoreError: 'allow' } }),
      (_q, r) => {
        r.json({ ok: true });
      },
    );
    app.get(
      '/deny',
      bw.route({ rateLimit: { limit: 1000, window: '1h', key, onStoreError: 'deny' } }),
      (_q, r) => {
        r.json({ ok: true });
      },
    );
    app.get(
      '/memory',
      bw.route({ rateLimit: { limit: 3, window: '1h', key, onStoreError: 'memory' } }),
      (_q, r) => {
        r.json({ ok: true });
      },
    );
    cleanups.push(async () => {
      await bw.close(); // closes the pool too
      await server.kill();
    });
    return { pool, store, bw, app };
  }

  async function hit(app: express.Express, path: string, client = 'c'): Promise<Answer> {
    const t0 = performance.now();
    const r = await request(app).get(path).set('x-client', client);
    return { path, status: r.status, ms: performance.now() - t0 };
  }

  /** Workers hitting the three routes until `stop` is set; every answer is kept. */
  function load(app: express.Express, answers: Answer[], client: string) {
    const state = { stop: false };
    const paths = ['/allow', '/deny', '/memory'];
    const workers = paths.map(async (path) => {
      while (!state.stop) answers.push(await hit(app, path, client));
    });
    return {
      async stop() {
        state.stop = true;
        await Promise.all(workers);
      },
    };
  }

  test('kill mid-load: answers per onStoreError in bounded time, pool unhealthy; restart: both recover', async () => {
    const server = await startRedis();
    const { pool, store, bw, app } = await setup(server);
    expect((await hit(app, '/memory', 'm')).status).toBe(200);
    expect((await pool.health()).status).toBe('pass');

    const before: Answer[] = [];
    const l1 = load(app, before, 'busy');
    await sleep(150);
    await l1.stop();
    await server.kill();
    const during: Answer[] = [];
    const l2 = load(app, during, 'busy2');
    // Health checks notice within a few intervals.
    await until(async () => (await pool.health()).status === 'fail', 2000, 'pool unhealthy');
    expect((await bw.pools.get('outage').health()).status).toBe('fail');
    expect(pool.stats().healthy).toBe(0);
    await sleep(300);
    await l2.stop();

    // Before the kill Redis decided: /memory's limit of 3 held exactly.
    expect(before.filter((a) => a.path !== '/memory').every((a) => a.status === 200)).toBe(true);
    expect(before.filter((a) => a.path === '/memory' && a.status === 200).length).toBe(3);
    expect(during.length).toBeGreaterThan(30);
    // Every request got an answer, per its route's onStoreError, within bounded time.
    for (const a of during) {
      expect(a.ms).toBeLessThan(500);
      if (a.path === '/allow') expect(a.status).toBe(200);
      if (a.path === '/deny') expect(a.status).toBe(429);
      expect([200, 429]).toContain(a.status);
    }
    // The local fallback limiter enforces the limit of 3 for its key.
    const mem = during.filter((a) => a.path === '/memory');
    expect(mem.filter((a) => a.status === 200).length).toBeLessThanOrEqual(3);
    expect(mem.filter((a) => a.status === 429).length).toBeGreaterThan(0);
    // The breaker spares most requests the 50ms timeout.
    expect(store.stats.shortCircuited).toBeGreaterThan(0);
    const sorted = during.map((a) => a.ms).sort((x, y) => x - y);
    expect(sorted[Math.floor(sorted.length / 2)]).toBeLessThan(40);
    // Dedicated connections refuse at once rather than hang.
    const t0 = performance.now();
    const err = await pool.use((c) => c.ping()).catch((e: unknown) => e);
    expect(isPoolUnavailableError(err)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(250);

    await server.restart();
    await until(async () => (await pool.health()).status === 'pass', 3000, 'pool healthy again');
    expect(pool.stats().healthy).toBe(1);
    await until(
      () =>
        pool
          .use((c) => c.ping())
          .then(
            (p) => p === 'PONG',
            () => false,
          ),
      2000,
      'use() works',
    );
    // The store answers from Redis again once its breaker half-opens: a fresh key on the
    // 'deny' route is admitted (an error would be a 429), and Redis holds its state.
    await until(async () => (await hit(app, '/deny', 'fresh')).status === 200, 2000, 'store recovered');
    const decided = store.stats.decisions;
    const answers = await Promise.all(Array.from({ length: 10 }, () => hit(app, '/memory', 'after')));
    expect(answers.filter((a) => a.status === 200).length).toBe(3);
    expect(store.stats.decisions).toBe(decided + 10);
    const admin = new Redis(server.url);
    expect((await admin.keys('*{GET /memory:*')).length).toBeGreaterThan(0);
    await admin.quit();
  });

  test('a hung Redis (SIGSTOP): every request still answered within the store timeout', async () => {
    const server = await startRedis();
    cleanups.push(async () => server.resume());
    const { store, app } = await setup(server);
    expect((await hit(app, '/deny', 'h')).status).toBe(200);
    server.pause();
    const answers: Answer[] = [];
    const l = load(app, answers, 'hung');
    await sleep(500);
    await l.stop();
    expect(answers.length).toBeGreaterThan(20);
    for (const a of answers) {
      expect(a.ms).toBeLessThan(300); // 50ms store timeout + request overhead
      if (a.path === '/allow') expect(a.status).toBe(200);
      if (a.path === '/deny') expect(a.status).toBe(429);
    }
    expect(store.stats.timeouts).toBeGreaterThan(0);
    expect(store.breaker.state).not.toBe('closed');
    server.resume();
    await until(async () => (await hit(app, '/deny', 'back')).status === 200, 3000, 'store recovered');
  });

  test('SCRIPT FLUSH mid-load: no error reaches users and the limit stays exact', async () => {
    const server = await startRedis();
    const client = new Redis(server.url);
    const admin = new Redis(server.url);
    const store = new RedisRateLimitStore({ client, prefix: uniquePrefix('flush'), timeout: '1s' });
    await whenReady(client);
    const bw = breakwater({ store });
    cleanups.push(async () => {
      await bw.close();
      await client.quit();
      await admin.quit();
      await server.kill();
    });
    const app = express();
    app.use(bw.middleware());
    app.get(
      '/x',
      bw.route({
        rateLimit: { limit: 150, window: '1h', key: { header: 'x-client' }, onStoreError: 'deny' },
      }),
      (_q, r) => void r.json({ ok: true }),
    );
    let stop = false;
    const flusher = (async () => {
      let flushes = 0;
      while (!stop) {
        await admin.script('FLUSH');
        flushes++;
        await sleep(15);
      }
      return flushes;
    })();
    const statuses = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        await sleep(i % 30);
        return (await request(app).get('/x').set('x-client', 'k')).status;
      }),
    );
    stop = true;
    expect(await flusher).toBeGreaterThan(1);
    expect(statuses.filter((s) => s === 200).length).toBe(150);
    expect(statuses.filter((s) => s === 429).length).toBe(150);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    expect(store.stats.errors).toBe(0);
    expect(store.stats.scriptLoads).toBeGreaterThan(0);
  });
});
