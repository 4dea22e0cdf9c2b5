/**
 * Graceful shutdown: `bw.close()` during load. Readiness turns 503 at once; requests in
 * flight finish with their own answers; requests arriving afterwards get a clean answer
 * (never a hang, a reset or a stack); the pool drains to nothing in flight; and a child
 * process running a whole app (HttpPool and RedisPool with health timers, all policies)
 * exits by itself after close(), without process.exit.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HttpPool } from '@breakwater/http-pool';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { type PrivateRedis, redisOrSkip, startRedis } from '../helpers/redis-server.js';
import { type Upstream, upstream } from '../http-pool/upstream.js';
import {
  bundle,
  gate,
  get,
  type HApp,
  hflavors,
  runNode,
  scratchDir,
  serve,
  sleep,
  until,
} from './support.js';

let up: Upstream | undefined;
afterEach(async () => {
  await up?.stop();
  up = undefined;
});

describe.each(hflavors)('$name', (flavor) => {
  let app: HApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  test('close() under load: ready turns 503 at once, in-flight requests finish, later ones get a clean answer, the pool drains', async () => {
    // Calls to /x wait until the test lets them go, so "in flight" is a state, not a race.
    const release = gate();
    up = await upstream((req, res) => {
      if (req.url === '/health') res.end('ok');
      else void release.promise.then(() => res.end('upstream ok'));
    });
    const pool = new HttpPool({
      name: 'api',
      baseUrl: up.url,
      connections: 8,
      healthCheck: { path: '/health', interval: '50ms', timeout: '500ms' },
    });
    const policy = {
      timeout: '2s',
      bulkhead: { maxConcurrent: 16, maxQueue: 16 },
      rateLimit: { limit: 10_000, window: '1m' },
    };
    app = await serve(flavor, {
      express(a, bw) {
        bw.pools.add(pool);
        a.get('/ready', bw.health('ready'));
        a.get('/work', bw.route(policy), async (req, res) => {
          try {
            const r = await pool.get('/x', { context: req.breakwater });
            res.status(200).send(await r.text());
          } catch (e) {
            res.status(503).json({ error: (e as { code?: string }).code });
          }
        });
      },
      koa(router, bw) {
        bw.pools.add(pool);
        router.get('/ready', bw.health('ready'));
        router.get('/work', bw.route(policy), async (ctx) => {
          try {
            const r = await pool.get('/x', { context: ctx.state.breakwater });
            ctx.body = await r.text();
          } catch (e) {
            ctx.status = 503;
            ctx.body = { error: (e as { code?: string }).code };
          }
        });
      },
      fastify(a, bw) {
        bw.pools.add(pool);
        a.get('/ready', bw.health('ready'));
        a.get('/work', { config: { breakwater: policy } }, async (request, reply) => {
          try {
            const r = await pool.get('/x', { context: request.breakwater });
            return await r.text();
          } catch (e) {
            return reply.code(503).send({ error: (e as { code?: string }).code });
          }
        });
      },
      hono(a, bw) {
        bw.pools.add(pool);
        a.get('/ready', bw.health('ready'));
        a.get('/work', bw.route(policy), async (c) => {
          try {
            const r = await pool.get('/x', { context: c.get('breakwater') });
            return c.text(await r.text());
          } catch (e) {
            return c.json({ error: (e as { code?: string }).code }, 503);
          }
        });
      },
    });
    const url = app.url;
    expect((await get(`${url}/ready`)).status).toBe(200);
    const inFlight = Array.from({ length: 12 }, () => get(`${url}/work`));
    // Eight calls on the wire and four queued in the pool for a connection.
    await until(
      () => pool.stats().inFlight === 8 && pool.stats().queued === 4,
      2000,
      'calls in flight and queued',
    );
    await until(() => up!.count('/health') > 0, 3000, 'a health probe ran');
    const closed = app.bw.close();
    // At once: before any in-flight call has ended.
    const ready = await get(`${url}/ready`);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'fail' });
    expect(pool.stats().inFlight).toBeGreaterThan(0);
    // New work after close() began: a clean, prompt answer.
    const late = await get(`${url}/work`);
    expect([503]).toContain(late.status);
    expect(late.ms).toBeLessThan(2000);
    release.open();
    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.status)).toEqual(Array(12).fill(200));
    await closed;
    expect(pool.stats()).toMatchObject({ inFlight: 0, active: 0, pending: 0, connected: 0 });
    const probes = up.count('/health');
    await sleep(150);
    expect(probes).toBeGreaterThan(0);
    expect(up.count('/health')).toBe(probes); // health checks stopped
    expect(app.bw.core.guards[0]!.bulkhead!.stats).toMatchObject({ active: 0, queued: 0 });
  });
});

const dir = scratchDir('shutdown');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const canRedis = await redisOrSkip('hardening: shutdown child with a RedisPool', ['private']);
let redis: PrivateRedis | undefined;
afterAll(async () => {
  await redis?.kill();
});

const childScript = `
import http from 'node:http';
import { Pool } from 'undici';
import { HttpPool } from '@breakwater/http-pool';
import { RedisPool, RedisRateLimitStore } from '@breakwater/redis-pool';
const kind = process.argv[2];
const { UPSTREAM, REDIS } = process.env;
const pools = [new HttpPool({ name: 'api', baseUrl: UPSTREAM, connections: 4, healthCheck: { path: '/', interval: '20ms', timeout: '200ms' } })];
let store;
if (REDIS) {
  const redisPool = new RedisPool({ name: 'redis', url: REDIS, min: 1, healthCheck: { interval: '20ms', timeout: '200ms' } });
  pools.push(redisPool);
  store = new RedisRateLimitStore({ pool: redisPool });
}
const policy = {
  timeout: '1s',
  rateLimit: { limit: 100000, window: '1m' },
  circuitBreaker: { consecutiveFailures: 1000 },
  bulkhead: { maxConcurrent: 8, maxQueue: 8, queueTimeout: '500ms' },
};
let handler;
let bw;
if (kind === 'express') {
  const { breakwater } = await import('@breakwater/express');
  const express = (await import('express')).default;
  bw = breakwater(store ? { store } : {});
  const app = express();
  app.use(bw.middleware());
  app.get('/ready', bw.health('ready'));
  app.get('/work', bw.route(policy), async (req, res) => {
    try { const r = await pools[0].get('/x', { context: req.breakwater }); res.send(await r.text()); }
    catch (e) { res.status(503).json({ error: e.code }); }
  });
  handler = app;
} else if (kind === 'fastify') {
  const { breakwater } = await import('@breakwater/fastify');
  const Fastify = (await import('fastify')).default;
  bw = breakwater(store ? { store } : {});
  const app = Fastify({ serverFactory: (h) => (handler = h, http.createServer(h)) });
  await app.register(bw.plugin);
  app.get('/ready', bw.health('ready'));
  app.get('/work', { config: { breakwater: policy } }, async (request, reply) => {
    try { const r = await pools[0].get('/x', { context: request.breakwater }); return await r.text(); }
    catch (e) { return reply.code(503).send({ error: e.code }); }
  });
  await app.ready();
} else if (kind === 'hono') {
  const { breakwater } = await import('@breakwater/hono');
  const { Hono } = await import('hono');
  const { getRequestListener } = await import('@hono/node-server');
  bw = breakwater(store ? { store } : {});
  const app = new Hono();
  app.use(bw.middleware());
  app.get('/ready', bw.health('ready'));
  app.get('/work', bw.route(policy), async (c) => {
    try { const r = await pools[0].get('/x', { context: c.get('breakwater') }); return c.text(await r.text()); }
    catch (e) { return c.json({ error: e.code }, 503); }
  });
  handler = getRequestListener(app.fetch);
} else {
  const { breakwater } = await import('@breakwater/koa');
  const Koa = (await import('koa')).default;
  const Router = (await import('@koa/router')).default;
  bw = breakwater(store ? { store } : {});
  const app = new Koa();
  const router = new Router();
  app.use(bw.middleware());
  router.get('/ready', bw.health('ready'));
  router.get('/work', bw.route(policy), async (ctx) => {
    try { const r = await pools[0].get('/x', { context: ctx.state.breakwater }); ctx.body = await r.text(); }
    catch (e) { ctx.status = 503; ctx.body = { error: e.code }; }
  });
  app.use(router.routes());
  handler = app.callback();
}
for (const p of pools) bw.pools.add(p);
const server = http.createServer(handler);
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = 'http://127.0.0.1:' + server.address().port;
const client = new Pool(url, { connections: 8 });
const statuses = {};
let running = true;
const worker = async () => {
  while (running) {
    const r = await client.request({ method: 'GET', path: '/work' });
    await r.body.dump();
    statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
  }
};
const workers = Promise.all(Array.from({ length: 8 }, worker));
await new Promise((r) => setTimeout(r, 300));
const closing = bw.close();
const readyAfterClose = (await (await client.request({ method: 'GET', path: '/ready' })).body.text()).includes('"fail"');
running = false;
await workers;
await closing;
await client.close();
server.close();
server.on('close', () => {
  console.log(JSON.stringify({ statuses, readyAfterClose, closedAt: Date.now(), pools: pools.map((p) => p.stats()) }));
});
`;

describe.each(['express', 'koa', 'fastify', 'hono'])('a child process running a %s app', (kind) => {
  test('exits by itself after bw.close() under load (no process.exit): no timer, socket or pool left', async () => {
    up ??= await upstream((_req, res) => void setTimeout(() => res.end('ok'), 5));
    if (canRedis) redis ??= await startRedis();
    const src = join(dir, 'child.mjs');
    const out = join(dir, 'child.bundle.mjs');
    writeFileSync(src, childScript);
    await bundle(src, out);
    const r = await runNode(out, [kind], {
      timeoutMs: 15_000,
      env: { UPSTREAM: up.url, ...(redis ? { REDIS: redis.url } : {}) },
    });
    expect(r.stderr).toBe('');
    expect(r.killed, 'still running 15 s after start: something keeps the loop alive after close()').toBe(
      false,
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      statuses: Record<string, number>;
      readyAfterClose: boolean;
      closedAt: number;
      pools: Array<Record<string, number>>;
    };
    console.log(
      `${kind} child: ${JSON.stringify(report.statuses)}, exited ${Date.now() - report.closedAt} ms after close`,
    );
    expect(report.readyAfterClose).toBe(true);
    expect(report.statuses['200']).toBeGreaterThan(20);
    expect(Object.keys(report.statuses).every((s) => s === '200' || s === '503')).toBe(true);
    for (const p of report.pools) expect(p).toMatchObject({ active: 0, pending: 0 });
  }, 30_000);
});
