/**
 * Two app instances, one Express and one Koa, each with its own Redis client and store,
 * share one Redis: together they never admit more than the limit, also with several
 * windows (where a refusal must consume from no window).
 */

import { breakwater as expressBreakwater } from '@breakwater/express';
import { breakwater as koaBreakwater } from '@breakwater/koa';
import { RedisPool, RedisRateLimitStore } from '@breakwater/redis-pool';
import Router from '@koa/router';
import express from 'express';
import { Redis } from 'ioredis';
import Koa from 'koa';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { REDIS_URL, redisOrSkip, uniquePrefix } from '../helpers/redis-server.js';
import { whenReady } from './servers.js';

const up = await redisOrSkip('Express + Koa sharing Redis limits');

describe.skipIf(!up)('Express and Koa instances share limits through Redis', () => {
  const prefix = uniquePrefix('shared');
  let admin: Redis;
  let pool: RedisPool;
  let clientB: Redis;
  let expressBw: ReturnType<typeof expressBreakwater>;
  let koaBw: ReturnType<typeof koaBreakwater>;
  let expressApp: express.Express;
  let koaHandler: ReturnType<Koa['callback']>;

  const single = { limit: 20, window: '1h', key: { header: 'x-client' } } as const;
  // Token bucket 5/h beside a sliding window 3/24h: the second binds first.
  const multi = [
    { limit: 5, window: '1h', key: { header: 'x-client' } },
    { limit: 3, window: '24h', algorithm: 'sliding-window' },
  ] as const;
  // Here the first (fixed window 4/h) binds before the token bucket 10/h.
  const multi2 = [
    { limit: 4, window: '1h', algorithm: 'fixed-window', key: { header: 'x-client' } },
    { limit: 10, window: '2h' },
  ] as const;

  beforeAll(async () => {
    admin = new Redis(REDIS_URL);
    // Instance A decides through a RedisPool, instance B through a plain ioredis client.
    pool = new RedisPool({ url: REDIS_URL, name: 'shared-a', healthCheck: false });
    clientB = new Redis(REDIS_URL);
    const timeout = '1s'; // generous: CI machines stall; the outage tests cover short timeouts
    expressBw = expressBreakwater({ store: new RedisRateLimitStore({ pool, prefix, timeout }) });
    koaBw = koaBreakwater({ store: new RedisRateLimitStore({ client: clientB, prefix, timeout }) });
    // Until its client is first ready a store falls back (cold start): these tests count Redis's decisions.
    await Promise.all([whenReady(pool.client), whenReady(clientB)]);

    expressApp = express();
    expressApp.use(expressBw.middleware());
    expressApp.get(
      '/x',
      expressBw.route({ rateLimit: { ...single } }),
      (_req, res) => void res.json({ ok: true }),
    );
    expressApp.get('/multi', expressBw.route({ rateLimit: multi.map((w) => ({ ...w })) }), (_req, res) => {
      res.json({ ok: true });
    });
    expressApp.get('/multi2', expressBw.route({ rateLimit: multi2.map((w) => ({ ...w })) }), (_req, res) => {
      res.json({ ok: true });
    });

    const koa = new Koa();
    const router = new Router();
    koa.use(koaBw.middleware());
    router.get('/x', koaBw.route({ rateLimit: { ...single } }), (ctx) => {
      ctx.body = { ok: true };
    });
    router.get('/multi', koaBw.route({ rateLimit: multi.map((w) => ({ ...w })) }), (ctx) => {
      ctx.body = { ok: true };
    });
    router.get('/multi2', koaBw.route({ rateLimit: multi2.map((w) => ({ ...w })) }), (ctx) => {
      ctx.body = { ok: true };
    });
    koa.use(router.routes());
    koaHandler = koa.callback();
  });

  afterAll(async () => {
    await expressBw?.close();
    await koaBw?.close();
    await pool?.close();
    await clientB?.quit();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  /** `n` concurrent GETs alternating between the two apps; returns their responses. */
  async function burst(path: string, client: string, n: number) {
    return Promise.all(
      Array.from({ length: n }, (_, i) =>
        (i % 2 === 0 ? request(expressApp) : request(koaHandler)).get(path).set('x-client', client),
      ),
    );
  }

  test('one window: combined admissions equal the limit exactly', async () => {
    // Express takes 12 of 20; Koa then gets exactly the 8 left; then nobody gets more.
    const viaExpress = await Promise.all(
      Array.from({ length: 12 }, () => request(expressApp).get('/x').set('x-client', 'c1')),
    );
    expect(viaExpress.map((r) => r.status)).toEqual(Array(12).fill(200));
    const viaKoa = await Promise.all(
      Array.from({ length: 20 }, () => request(koaHandler).get('/x').set('x-client', 'c1')),
    );
    expect(viaKoa.filter((r) => r.status === 200).length).toBe(8);
    expect(viaKoa.filter((r) => r.status === 429).length).toBe(12);
    const mixed = await burst('/x', 'c1', 28);
    expect(mixed.filter((r) => r.status === 200).length).toBe(0);
    const limited = [...viaKoa, ...mixed].filter((r) => r.status === 429);
    for (const r of limited) {
      expect(r.headers['content-type']).toContain('application/problem+json');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    // A concurrent mixed burst on a fresh key: still exactly the limit.
    const rs = await burst('/x', 'c3', 60);
    expect(rs.filter((r) => r.status === 200).length).toBe(20);
    expect(rs.filter((r) => r.status === 429).length).toBe(40);
    // Another client has its own quota.
    const other = await request(koaHandler).get('/x').set('x-client', 'c2');
    expect(other.status).toBe(200);
  });

  test('several windows: the tightest binds, and refusals consume from no window', async () => {
    const rs = await burst('/multi', 'm1', 30);
    expect(rs.filter((r) => r.status === 200).length).toBe(3);
    expect(rs.filter((r) => r.status === 429).length).toBe(27);
    // 27 refusals later the hourly bucket still holds 5 - 3 = 2.
    const last = await request(expressApp).get('/multi').set('x-client', 'm1');
    expect(last.status).toBe(429);
    expect(last.headers.ratelimit).toMatch(/"per-hour";r=2;t=\d+/);
    expect(last.headers.ratelimit).toMatch(/;r=0;t=\d+/);

    const rs2 = await burst('/multi2', 'm2', 30);
    expect(rs2.filter((r) => r.status === 200).length).toBe(4);
    const last2 = await request(koaHandler).get('/multi2').set('x-client', 'm2');
    expect(last2.status).toBe(429);
    expect(last2.headers['ratelimit-policy']).toContain('q=4');
    expect(last2.headers['ratelimit-policy']).toContain('q=10');
  });
});
