/**
 * Cold start: a service that starts before its Redis answers. Until the client is first
 * ready, decisions come from the limiter's fallback at once, and the store's breaker is
 * not charged, so the first decisions after Redis comes up are Redis's (no open breaker
 * to wait out). With `startup: { wait }`, decisions hold for Redis up to that bound.
 */
import type { AddressInfo } from 'node:net';
import { breakwater } from '@breakwater/express';
import { RedisPool, RedisRateLimitStore } from '@breakwater/redis-pool';
import express from 'express';
import { afterEach, describe, expect, test } from 'vitest';
import { redisOrSkip, startRedis, uniquePrefix } from '../helpers/redis-server.js';
import { until } from './servers.js';

const up = await redisOrSkip('Redis cold-start tests', ['private']);

describe.skipIf(!up)('cold start', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  test('Redis down at start: fallback at once, breaker untouched; Redis up: its decisions at once', async () => {
    const server = await startRedis();
    await server.kill(); // a port with nothing behind it yet
    const pool = new RedisPool({
      name: 'cold',
      url: server.url,
      healthCheck: false,
      redisOptions: { retryStrategy: () => 50 },
    });
    const store = new RedisRateLimitStore({
      pool,
      prefix: uniquePrefix('cold'),
      timeout: '50ms',
      breaker: { consecutiveFailures: 2, openFor: '10s' },
    });
    const bw = breakwater({ store });
    bw.pools.add(pool);
    const app = express();
    app.use(bw.middleware());
    app.get(
      '/x',
      bw.route({ rateLimit: { limit: 3, window: '1h', key: () => 'k', onStoreError: 'memory' } }),
      (_q, r) => void r.json({ ok: true }),
    );
    const http = app.listen(0, '127.0.0.1');
    await new Promise((r) => http.once('listening', r));
    cleanups.push(async () => {
      await new Promise((r) => http.close(r));
      await bw.close();
      await server.kill();
    });
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/x`;
    const get = async () => {
      const t0 = performance.now();
      const r = await fetch(url);
      await r.arrayBuffer();
      return { status: r.status, ms: performance.now() - t0 };
    };
    const cold = [];
    for (let i = 0; i < 20; i++) cold.push(await get());
    // The memory fallback decided (its own limit of 3), each at once, and the breaker saw nothing.
    expect(cold.filter((a) => a.status === 200).length).toBe(3);
    expect(cold.filter((a) => a.status === 429).length).toBe(17);
    expect(Math.max(...cold.slice(1).map((a) => a.ms))).toBeLessThan(50);
    expect(store.stats).toMatchObject({ notReady: 20, errors: 0, timeouts: 0, shortCircuited: 0 });
    expect(store.breaker.state).toBe('closed');
    expect(store.breaker.stats.calls).toBe(0);

    await server.restart();
    const readyIn = await until(() => store.isReady, 5000, 'the client ready');
    // Redis decides from the first request after ready: a fresh quota of 3 in Redis.
    const warm = [];
    for (let i = 0; i < 5; i++) warm.push(await get());
    console.log(
      `cold start: 20 decisions before Redis was up, all from the fallback (worst ${Math.max(...cold.map((a) => a.ms)).toFixed(1)} ms), ` +
        `breaker ${store.breaker.state} with ${store.breaker.stats.calls} calls; client ready ${readyIn.toFixed(0)} ms after Redis started; ` +
        `then ${store.stats.decisions} of 5 decisions from Redis`,
    );
    expect(warm.map((a) => a.status)).toEqual([200, 200, 200, 429, 429]);
    expect(store.stats.decisions).toBe(5);
  });

  test('startup.wait: decisions before ready wait (bounded) and come from Redis', async () => {
    const server = await startRedis();
    const pool = new RedisPool({ name: 'cold-wait', url: server.url, healthCheck: false });
    const store = new RedisRateLimitStore({
      pool,
      prefix: uniquePrefix('coldwait'),
      startup: { wait: '2s' },
    });
    cleanups.push(async () => {
      await pool.close();
      await server.kill();
    });
    expect(store.isReady).toBe(false);
    const windows = [
      Object.freeze({ name: 'h', algorithm: 'fixed-window' as const, limit: 2, windowMs: 60_000, burst: 2 }),
    ];
    const ds = await Promise.all(Array.from({ length: 4 }, () => store.consume('k', windows, 1)));
    expect(ds.map((d) => d.allowed)).toEqual([true, true, false, false]);
    expect(store.stats).toMatchObject({ notReady: 0, decisions: 4 });
    // Bounded: against nothing at all, the wait ends at its bound with the fallback.
    await server.kill();
    const never = new RedisPool({ name: 'never', url: server.url, healthCheck: false });
    const s2 = new RedisRateLimitStore({ pool: never, startup: { wait: '150ms' } });
    cleanups.push(() => never.close());
    const t0 = performance.now();
    const err = await s2.consume('k', windows, 1).catch((e: unknown) => e);
    const waited = performance.now() - t0;
    expect((err as { reason?: string }).reason).toBe('not_ready');
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(400);
    expect(s2.breaker.stats.calls).toBe(0);
  });
});
