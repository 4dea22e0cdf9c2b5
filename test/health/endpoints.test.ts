/**
 * Health and admin endpoints through the four adapters: pass, warn, fail, readiness during
 * shutdown, and admin actions behind a token check.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { breakwater as expressBreakwater } from '@breakwater/express';
import { breakwater as fastifyBreakwater } from '@breakwater/fastify';
import { breakwater as honoBreakwater } from '@breakwater/hono';
import { breakwater as koaBreakwater } from '@breakwater/koa';
import { getRequestListener } from '@hono/node-server';
import Router from '@koa/router';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';

type Handler = Parameters<typeof request>[0];
interface Instance {
  bw:
    | ReturnType<typeof expressBreakwater>
    | ReturnType<typeof koaBreakwater>
    | ReturnType<typeof fastifyBreakwater>
    | ReturnType<typeof honoBreakwater>;
  handler: Handler;
  /** Mounts `GET /guarded` under `policy`: 500 with `?fail=1`, else 200. */
  guarded(policy: Record<string, unknown>): void;
}

const TOKEN = 'sesame';
function tokenOk(header: string | undefined): boolean {
  const given = Buffer.from(header ?? '');
  const want = Buffer.from(`Bearer ${TOKEN}`);
  return given.length === want.length && timingSafeEqual(given, want);
}

function expressApp(): Instance {
  const bw = expressBreakwater({ registry: new Registry(), breakers: { upstream: {} } });
  const app = express();
  app.use(bw.middleware());
  app.get('/health/live', bw.health('live'));
  app.get('/health/ready', bw.health('ready'));
  app.get('/health', bw.health());
  app.use(
    '/admin',
    (req, res, next) => (tokenOk(req.headers.authorization) ? next() : res.status(401).end()),
    express.json(),
    bw.admin(),
  );
  const guarded = (policy: Record<string, unknown>) => {
    app.get('/guarded', bw.route(policy), (req, res) => {
      res.status(req.query.fail ? 500 : 200).end();
    });
  };
  return { bw, handler: app, guarded };
}

function koaApp(): Instance {
  const bw = koaBreakwater({ registry: new Registry(), breakers: { upstream: {} } });
  const app = new Koa();
  const router = new Router();
  app.use(bw.middleware());
  router.get('/health/live', bw.health('live'));
  router.get('/health/ready', bw.health('ready'));
  router.get('/health', bw.health());
  router.all(
    '/admin',
    async (ctx, next) => {
      if (!tokenOk(ctx.get('Authorization') || undefined)) {
        ctx.status = 401;
        return;
      }
      await next();
    },
    bw.admin(),
  );
  app.use(router.routes());
  const guarded = (policy: Record<string, unknown>) => {
    router.get('/guarded', bw.route(policy), (ctx) => {
      ctx.status = ctx.query.fail ? 500 : 200;
    });
  };
  return { bw, handler: app.callback(), guarded };
}

/** Fastify takes no routes once started: the app is built on the first request, with every route declared by then. */
function fastifyApp(): Instance {
  const bw = fastifyBreakwater({ registry: new Registry(), breakers: { upstream: {} } });
  const policies: Record<string, unknown>[] = [];
  let ready: Promise<(req: IncomingMessage, res: ServerResponse) => void> | undefined;
  const build = async () => {
    const app = Fastify();
    await app.register(bw.plugin);
    app.get('/health/live', bw.health('live'));
    app.get('/health/ready', bw.health('ready'));
    app.get('/health', bw.health());
    app.route({
      method: ['GET', 'POST'],
      url: '/admin',
      preHandler: async (request, reply) => {
        if (!tokenOk(request.headers.authorization)) return reply.code(401).send();
      },
      handler: bw.admin(),
    });
    for (const policy of policies)
      app.get<{ Querystring: { fail?: string } }>(
        '/guarded',
        { onRequest: bw.route(policy) },
        async (request, reply) => reply.code(request.query.fail ? 500 : 200).send(),
      );
    await app.ready();
    instances.push({ bw: { close: () => app.close() } } as Instance);
    return (req: IncomingMessage, res: ServerResponse) => app.routing(req, res);
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    (ready ??= build()).then((h) => h(req, res));
  };
  return { bw, handler, guarded: (policy) => void policies.push(policy) };
}

function honoApp(): Instance {
  const bw = honoBreakwater({ registry: new Registry(), breakers: { upstream: {} } });
  const app = new Hono();
  app.use(bw.middleware());
  app.get('/health/live', bw.health('live'));
  app.get('/health/ready', bw.health('ready'));
  app.get('/health', bw.health());
  app.on(
    ['GET', 'POST'],
    '/admin',
    async (c, next) => (tokenOk(c.req.header('authorization')) ? next() : c.body(null, 401)),
    bw.admin(),
  );
  const guarded = (policy: Record<string, unknown>) => {
    app.get('/guarded', bw.route(policy), (c) => c.body(null, c.req.query('fail') ? 500 : 200));
  };
  return { bw, handler: getRequestListener(app.fetch), guarded };
}

const instances: Instance[] = [];
afterEach(async () => {
  await Promise.all(instances.splice(0).map((i) => i.bw.close()));
});

describe.each([
  ['Express', expressApp],
  ['Koa', koaApp],
  ['Fastify', fastifyApp],
  ['Hono', honoApp],
])('%s health', (_name, make) => {
  function setup() {
    const i = make();
    instances.push(i);
    return i;
  }

  test('pass: 200 application/health+json with one entry per pool and check', async () => {
    const { bw, handler } = setup();
    bw.pools.add({
      name: 'api',
      stats: () => ({ active: 0, idle: 1, pending: 0, max: 2 }),
      health: async () => ({ status: 'pass', latencyMs: 2, time: new Date().toISOString() }),
      close: async () => {},
    });
    bw.health.register('db', async () => ({ status: 'pass', observedValue: 4, observedUnit: 'ms' }));
    const r = await request(handler).get('/health');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/health\+json/);
    const body = JSON.parse(r.text);
    expect(body.status).toBe('pass');
    expect(Object.keys(body.checks).sort()).toEqual(['breaker:upstream', 'db', 'pool:api']);
    expect(body.checks.db[0]).toMatchObject({ status: 'pass', observedValue: 4, observedUnit: 'ms' });
    expect((await request(handler).get('/health/ready')).status).toBe(200);
  });

  test('warn: a failing non-critical check, or an open breaker', async () => {
    const { bw, handler } = setup();
    bw.breakers.get('upstream')!.open();
    const r = await request(handler).get('/health');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).status).toBe('warn');
    expect((await request(handler).get('/health/ready')).status).toBe(200);
  });

  test('fail: a failing critical check → 503 on ready and detailed', async () => {
    const { bw, handler } = setup();
    bw.health.register('db', () => false, { critical: true });
    const r = await request(handler).get('/health/ready');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text)).toMatchObject({ status: 'fail', checks: { db: [{ status: 'fail' }] } });
    expect((await request(handler).get('/health')).status).toBe(503);
    expect((await request(handler).get('/health/live')).status).toBe(200);
  });

  test('readiness turns 503 as soon as close begins, while pools still drain', async () => {
    const { bw, handler } = setup();
    let release!: () => void;
    bw.pools.add({
      name: 'draining',
      stats: () => ({ active: 1, idle: 0, pending: 0, max: 1 }),
      health: async () => ({ status: 'pass', time: new Date().toISOString() }),
      close: () => new Promise<void>((r) => (release = r)),
    });
    expect((await request(handler).get('/health/ready')).status).toBe(200);
    const closing = bw.close();
    const r = await request(handler).get('/health/ready');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text)).toMatchObject({ status: 'fail', output: 'shutting down' });
    expect((await request(handler).get('/health/live')).status).toBe(200);
    release();
    await closing;
  });

  test('admin: listing and breaker actions behind a token', async () => {
    const { bw, handler } = setup();
    expect((await request(handler).get('/admin')).status).toBe(401);
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const list = await request(handler).get('/admin').set(auth);
    expect(list.status).toBe(200);
    expect(JSON.parse(list.text).breakers).toEqual([
      expect.objectContaining({ name: 'upstream', state: 'closed' }),
    ]);
    const opened = await request(handler)
      .post('/admin')
      .set(auth)
      .send({ breaker: 'upstream', action: 'open' });
    expect(opened.status).toBe(200);
    expect(bw.breakers.get('upstream')!.state).toBe('open');
    const reset = await request(handler).post('/admin?breaker=upstream&action=reset').set(auth);
    expect(reset.status).toBe(200);
    expect(bw.breakers.get('upstream')!.state).toBe('closed');
    expect(
      (await request(handler).post('/admin').set(auth).send({ breaker: 'x', action: 'open' })).status,
    ).toBe(404);
  });

  test("detailed: breakers, bulkheads, pools with their stats, and rate-limit stores, each in the draft's terms", async () => {
    const { bw, handler, guarded } = setup();
    let storeDown = false;
    const store = {
      consume(_k: string, windows: ReadonlyArray<{ limit: number }>) {
        if (storeDown)
          return Promise.reject(Object.assign(new Error('down at 10.0.0.7'), { code: 'ECONNREFUSED' }));
        return Promise.resolve({
          allowed: true,
          remaining: windows.map((w) => w.limit),
          resetMs: windows.map(() => 0),
          retryAfterMs: 0,
          violated: [],
        });
      },
    };
    bw.pools.add({
      name: 'api',
      stats: () => ({ active: 1, idle: 2, pending: 0, max: 3 }),
      health: async () => ({ status: 'pass', latencyMs: 2, time: '2024-05-01T00:00:00.000Z' }),
      close: async () => {},
    });
    const policy = {
      rateLimit: { limit: 100, window: '1m', store, onStoreError: 'memory' as const },
      bulkhead: { maxConcurrent: 2 },
      circuitBreaker: { consecutiveFailures: 1 },
    };
    guarded(policy);
    expect((await request(handler).get('/guarded?fail=1')).status).toBe(500);
    storeDown = true;
    expect((await request(handler).get('/guarded')).status).toBe(503);
    const r = await request(handler).get('/health');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/health\+json/);
    const body = JSON.parse(r.text);
    expect(body.status).toBe('warn');
    expect(Object.keys(body.checks).sort()).toEqual([
      'breaker:GET /guarded',
      'breaker:upstream',
      'bulkhead:GET /guarded',
      'pool:api',
      'rateLimitStore:GET /guarded',
    ]);
    const fields = ['componentId', 'componentType', 'status', 'observedValue', 'observedUnit', 'time'];
    for (const [key, [entry]] of Object.entries(body.checks) as Array<
      [string, Array<Record<string, unknown>>]
    >)
      for (const f of fields) expect(entry, `${key}.${f}`).toHaveProperty(f);
    expect(body.checks['breaker:GET /guarded'][0]).toMatchObject({
      componentType: 'circuit-breaker',
      status: 'warn',
      observedValue: 'open',
      calls: 1,
      failures: 1,
      failureRate: 1,
      lastFailure: { code: 'HTTP_500' },
    });
    expect(Date.parse(body.checks['breaker:GET /guarded'][0].since)).not.toBeNaN();
    expect(body.checks['breaker:upstream'][0]).toMatchObject({
      status: 'pass',
      observedValue: 'closed',
      calls: 0,
    });
    expect(body.checks['bulkhead:GET /guarded'][0]).toMatchObject({
      componentType: 'bulkhead',
      status: 'pass',
      observedValue: 0,
      active: 0,
      queued: 0,
      limit: 2,
    });
    expect(body.checks['pool:api'][0]).toMatchObject({
      status: 'pass',
      observedValue: 2,
      observedUnit: 'ms',
      time: '2024-05-01T00:00:00.000Z',
      stats: { active: 1, idle: 2, pending: 0, max: 3 },
    });
    expect(body.checks['rateLimitStore:GET /guarded'][0]).toMatchObject({
      componentType: 'rate-limit-store',
      status: 'warn',
      observedValue: 'fallback',
      onStoreError: 'memory',
    });
    expect(r.text).not.toContain('10.0.0.7');
    // Readiness still passes: nothing here fails.
    expect((await request(handler).get('/health/ready')).status).toBe(200);
  });

  test('an unknown health kind fails at mount time', () => {
    const { bw } = setup();
    expect(() => (bw.health as (k: string) => unknown)('readiness')).toThrow(/health\(kind\)/);
  });
});
