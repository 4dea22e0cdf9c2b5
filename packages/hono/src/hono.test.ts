import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';
import { breakwater, type HonoBreakwater } from './index.js';

const open: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const f of open.splice(0).reverse()) await f();
});

function make(options: Parameters<typeof breakwater>[0] = {}): { app: Hono; bw: HonoBreakwater } {
  const bw = breakwater({ registry: new Registry(), ...options });
  const app = new Hono();
  // Hono's default error handler logs what a handler throws: answer quietly instead.
  app.onError((err, c) => c.json({ error: err.message }, 500));
  app.use(bw.middleware());
  open.push(() => bw.close());
  return { app, bw };
}

async function listen(app: Hono): Promise<string> {
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  open.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(fn: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not met');
    await sleep(5);
  }
}

describe('a handler still running at its timeout', () => {
  const late = {
    'returns a Response later': () => new Response('late', { status: 201, headers: { 'x-late': '1' } }),
    'throws later': () => {
      throw new Error('after the deadline');
    },
  };
  for (const [how, act] of Object.entries(late)) {
    test(`${how}: the client gets the refusal alone and the slot frees when it ends`, async () => {
      const { app, bw } = make();
      let ended = false;
      app.get('/late', bw.route({ timeout: '40ms', bulkhead: { maxConcurrent: 1 } }), async (c) => {
        await sleep(100);
        c.header('x-late-header', '1');
        ended = true;
        return act();
      });
      const url = await listen(app);
      const r = await request(url).get('/late');
      expect(r.status).toBe(503);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(r.headers['x-late-header']).toBeUndefined();
      expect(r.body.code).toBe('TIMEOUT');
      const guard = bw.core.guards.find((g) => g.name === 'GET /late')!;
      expect(guard.bulkhead!.activeCount).toBe(1);
      await until(() => ended);
      await until(() => guard.bulkhead!.activeCount === 0);
    });
  }
});

describe('onReject', () => {
  test('renders a timeout too, with a Response returned at once; the late handler still writes nothing', async () => {
    const { app, bw } = make();
    const onReject = (refusal: { reason: string }, c: import('hono').Context) =>
      c.json({ mine: refusal.reason }, 504);
    app.get('/t', bw.route({ timeout: '30ms', onReject }), async (c) => {
      await sleep(80);
      return c.text('late');
    });
    const url = await listen(app);
    const r = await request(url).get('/t');
    expect(r.status).toBe(504);
    expect(r.body).toEqual({ mine: 'timeout' });
    await until(() => bw.core.guards[0]!.pendingDeadlines === 0);
    await sleep(80);
  });

  test('a timeout does not wait on an async onReject: the default refusal goes out at the deadline', async () => {
    const { app, bw } = make();
    const never = new Promise<Response>(() => {});
    app.get('/t', bw.route({ timeout: '30ms', onReject: () => never }), async (c) => {
      await sleep(80);
      return c.text('late');
    });
    const url = await listen(app);
    const t0 = Date.now();
    const r = await request(url).get('/t');
    expect([r.status, r.body.code]).toEqual([503, 'TIMEOUT']);
    expect(Date.now() - t0).toBeLessThan(500);
    await sleep(80);
  });
});

describe('answers', () => {
  test('RateLimit headers reach answers made by c.json() and raw Responses alike', async () => {
    const { app, bw } = make();
    const limit = bw.route({ rateLimit: { limit: 5, window: '1m' } });
    app.get('/json', limit, (c) => c.json({ ok: 1 }));
    app.get('/raw', limit, () => new Response('raw', { headers: { 'content-type': 'text/plain' } }));
    const url = await listen(app);
    for (const path of ['/json', '/raw']) {
      const r = await request(url).get(path);
      expect(r.status).toBe(200);
      expect(r.headers['ratelimit-policy']).toBe('"per-minute";q=5;w=60');
      expect(r.headers.ratelimit).toMatch(/^"per-minute";r=4;t=\d+$/);
    }
  });

  test("a sub-app's routes are named with their mount path; the context is c.get('breakwater')", async () => {
    const { app, bw } = make();
    const api = new Hono().get('/items/:id', bw.route({ timeout: '1s' }), (c) =>
      c.json({ route: c.get('breakwater')?.route, left: (c.get('breakwater')?.remainingMs() ?? 0) > 0 }),
    );
    app.route('/api', api);
    const url = await listen(app);
    expect((await request(url).get('/api/items/7')).body).toEqual({
      route: 'GET /api/items/:id',
      left: true,
    });
  });

  test('without @hono/node-server (app.request) the guard still applies', async () => {
    const { app, bw } = make();
    app.get('/x', bw.route({ rateLimit: { limit: 1, window: '1m' } }), (c) => c.text('x'));
    expect((await app.request('/x')).status).toBe(200);
    const r = await app.request('/x');
    expect(r.status).toBe(429);
    expect(((await r.json()) as { code: string }).code).toBe('RATE_LIMITED');
  });
});

describe('client IP', () => {
  test('the socket address: X-Forwarded-For is not trusted; a key function can read it behind a proxy', async () => {
    const { app, bw } = make();
    app.get('/ip', bw.route({ rateLimit: { limit: 1, window: '1m' } }), (c) => c.text('ok'));
    app.get(
      '/proxied',
      bw.route({ rateLimit: { limit: 1, window: '1m', key: (c) => c.req.header('x-forwarded-for') ?? '' } }),
      (c) => c.text('ok'),
    );
    const url = await listen(app);
    expect((await request(url).get('/ip').set('x-forwarded-for', '203.0.113.1')).status).toBe(200);
    expect((await request(url).get('/ip').set('x-forwarded-for', '203.0.113.2')).status).toBe(429);
    expect((await request(url).get('/proxied').set('x-forwarded-for', '203.0.113.1')).status).toBe(200);
    expect((await request(url).get('/proxied').set('x-forwarded-for', '203.0.113.2')).status).toBe(200);
  });
});

describe('endpoints', () => {
  test('health, admin and metrics are Hono handlers', async () => {
    const { app, bw } = make();
    app.get('/health/live', bw.health('live'));
    app.get('/health', bw.health());
    app.get('/admin', bw.admin());
    app.post('/admin', bw.admin());
    app.get('/metrics', bw.metrics());
    app.get('/b', bw.route({ circuitBreaker: { consecutiveFailures: 1 } }), (c) => c.text('b'));
    const url = await listen(app);
    const live = await request(url).get('/health/live');
    expect(live.status).toBe(200);
    expect(live.headers['content-type']).toMatch(/^application\/health\+json/);
    expect((await request(url).get('/health')).body.status).toBe('pass');
    await request(url).get('/b');
    expect((await request(url).get('/admin')).body.breakers.map((b: { name: string }) => b.name)).toEqual([
      'GET /b',
    ]);
    const post = await request(url).post('/admin').send({ breaker: 'GET /b', action: 'open' });
    expect(post.status).toBe(200);
    expect((await request(url).get('/b')).body.code).toBe('CIRCUIT_OPEN');
    const m = await request(url).get('/metrics');
    expect(m.text).toMatch(
      /breakwater_http_request_duration_seconds_count\{method="GET",route="\/b",status_code="503"\} 1/,
    );
  });
});

describe('staleIfError', () => {
  test('copies a streamed Response up to maxBodyBytes, after the answer; a longer one, a 5xx and a POST are not kept', async () => {
    const { app, bw } = make({ breakers: { down: { openFor: '1m' } } });
    const { staleIfError } = await import('./index.js');
    const route = bw.route({
      circuitBreaker: 'down',
      fallback: staleIfError({ maxAge: '1m', maxBodyBytes: 64 }),
    });
    const stream = (chunks: string[]) =>
      new ReadableStream<Uint8Array>({
        start(ctl) {
          for (const c of chunks) ctl.enqueue(new TextEncoder().encode(c));
          ctl.close();
        },
      });
    let fail = false;
    app.get('/small', route, (c) => c.body(stream(['ab', 'cd']), 200, { 'content-type': 'text/plain' }));
    app.get('/big', route, (c) => c.body(stream(['x'.repeat(40), 'y'.repeat(40)]), 200));
    app.get('/err', route, (c) => (fail ? c.json({ n: 2 }, 500) : c.json({ n: 1 }, 500)));
    app.post('/post', route, (c) => c.json({ posted: true }));
    const url = await listen(app);
    expect((await request(url).get('/small')).text).toBe('abcd');
    expect((await request(url).get('/big')).text).toHaveLength(80);
    expect((await request(url).get('/err')).status).toBe(500);
    expect((await request(url).post('/post')).status).toBe(200);
    fail = true;
    bw.breakers.get('down')!.open();
    const small = await request(url).get('/small');
    expect([small.status, small.text, small.headers['breakwater-fallback']]).toEqual([
      200,
      'abcd',
      'circuit_open',
    ]);
    expect(small.headers['content-type']).toBe('text/plain');
    for (const path of ['/big', '/err']) expect((await request(url).get(path)).status, path).toBe(503);
    expect((await request(url).post('/post')).status).toBe(503);
  });
});
