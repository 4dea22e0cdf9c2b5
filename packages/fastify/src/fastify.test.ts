import { Readable, Writable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';
import { breakwater, ConfigError, type FastifyBreakwater } from './index.js';

const open: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const f of open.splice(0).reverse()) await f();
});

/** A Fastify app whose log lines (warn and up) are kept, with its Breakwater instance. */
async function make(
  options: Parameters<typeof breakwater>[0] = {},
  fastify: FastifyServerOptions = {},
): Promise<{ app: FastifyInstance; bw: FastifyBreakwater; logs: Array<{ level: number; msg: string }> }> {
  const logs: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      const line = JSON.parse(String(chunk)) as { level: number; msg: string };
      if (line.level >= 40) logs.push(line);
      cb();
    },
  });
  const bw = breakwater({ registry: new Registry(), ...options });
  const app = Fastify({ logger: { level: 'warn', stream }, ...fastify });
  open.push(async () => {
    await app.close();
    await bw.close();
  });
  await app.register(bw.plugin);
  return { app, bw, logs };
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
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
    'sends later with reply.send()': (reply: { send(x: unknown): unknown }) => reply.send({ late: true }),
    'returns its value later': () => ({ late: true }),
    'throws later': () => {
      throw new Error('after the deadline');
    },
    'streams later': (reply: { send(x: unknown): unknown }) => reply.send(Readable.from(['a', 'b'])),
    'sends, then awaits the reply': async (reply: { send(x: unknown): unknown }) => {
      await reply.send({ late: true });
    },
  };
  for (const [how, act] of Object.entries(late)) {
    test(`${how}: the client gets the refusal alone, nothing throws or warns, the slot frees when it ends`, async () => {
      const { app, bw, logs } = await make();
      let ended = false;
      app.get(
        '/late',
        { config: { breakwater: { timeout: '40ms', bulkhead: { maxConcurrent: 1 } } } },
        async (_request, reply) => {
          await sleep(120);
          try {
            return await act(reply);
          } finally {
            ended = true;
          }
        },
      );
      const url = await listen(app);
      const r = await request(url).get('/late');
      expect(r.status).toBe(503);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(r.headers.connection).toBe('close');
      expect(r.body.code).toBe('TIMEOUT');
      const guard = bw.core.guards.find((g) => g.name === 'GET /late')!;
      expect(guard.bulkhead!.activeCount).toBe(1);
      await until(() => ended);
      await until(() => guard.bulkhead!.activeCount === 0);
      // A late error goes to Fastify's error handler (which logs it), never out of the process.
      expect(logs.filter((l) => !/after the deadline/.test(JSON.stringify(l)))).toEqual([]);
    });
  }
});

describe('onReject', () => {
  test('renders a timeout with the reply; the late handler is still cut off and its slot freed', async () => {
    const { app, bw } = await make();
    let ended = false;
    app.get(
      '/t',
      {
        config: {
          breakwater: {
            timeout: '30ms',
            bulkhead: { maxConcurrent: 1 },
            onReject: (refusal, _request, reply) => reply.code(504).send({ mine: refusal.reason }),
          },
        },
      },
      async () => {
        await sleep(80);
        ended = true;
        return { late: true };
      },
    );
    const url = await listen(app);
    const r = await request(url).get('/t');
    expect(r.status).toBe(504);
    expect(r.body).toEqual({ mine: 'timeout' });
    const guard = bw.core.guards[0]!;
    await until(() => ended);
    await until(() => guard.bulkhead!.activeCount === 0);
  });
});

describe('route config', () => {
  test("config.breakwater applies from the first request, merged over the routes entry; HEAD shares GET's guard", async () => {
    const { app, bw } = await make({
      routes: { 'GET /q': { timeout: '1s', rateLimit: { limit: 50, window: '1m' } } },
    });
    app.get('/q', { config: { breakwater: { rateLimit: { limit: 2, window: '1h' } } } }, async () => ({
      ok: 1,
    }));
    const url = await listen(app);
    const a = await request(url).get('/q');
    expect(a.headers['ratelimit-policy']).toBe('"per-hour";q=2;w=3600');
    expect((await request(url).head('/q')).status).toBe(200);
    expect((await request(url).get('/q')).status).toBe(429);
    expect(bw.core.guards.map((g) => [g.name, g.timeoutMs])).toEqual([['GET /q', 1000]]);
  });

  test('a bad config.breakwater fails as the route is declared, naming the option', async () => {
    const { app } = await make();
    expect(() => app.get('/x', { config: { breakwater: { timeout: 'soon' } } }, async () => 'x')).toThrow(
      ConfigError,
    );
    expect(() =>
      app.get('/y', { config: { breakwater: { bulkhead: { maxConcurrent: 0 } } } }, async () => 'y'),
    ).toThrow(/route\.bulkhead\.maxConcurrent: expected an integer >= 1, got 0/);
  });

  test('routes declared before the plugin has loaded still get their config.breakwater', async () => {
    const bw = breakwater({ registry: new Registry() });
    const app = Fastify();
    open.push(async () => {
      await app.close();
      await bw.close();
    });
    app.register(bw.plugin);
    app.get('/early', { config: { breakwater: { rateLimit: { limit: 1, window: '1m' } } } }, async () => 'x');
    const url = await listen(app);
    expect((await request(url).get('/early')).status).toBe(200);
    expect((await request(url).get('/early')).status).toBe(429);
  });

  test('bw.route() works as an onRequest hook in an encapsulated plugin with a prefix', async () => {
    const { app, bw } = await make();
    await app.register(
      async (api) => {
        api.get(
          '/items/:id',
          { onRequest: bw.route({ rateLimit: { limit: 1, window: '1m' } }) },
          async (req) => ({
            route: req.breakwater?.route,
          }),
        );
      },
      { prefix: '/api' },
    );
    const url = await listen(app);
    expect((await request(url).get('/api/items/1')).body).toEqual({ route: 'GET /api/items/:id' });
    expect((await request(url).get('/api/items/2')).status).toBe(429);
  });
});

describe('client IP', () => {
  const limited = { config: { breakwater: { rateLimit: { limit: 1, window: '1m' } } } };

  test('X-Forwarded-For counts only under trustProxy', async () => {
    const trusting = await make({}, { trustProxy: true });
    trusting.app.get('/ip', limited, async (req) => req.ip);
    const a = await listen(trusting.app);
    expect((await request(a).get('/ip').set('x-forwarded-for', '203.0.113.1')).status).toBe(200);
    expect((await request(a).get('/ip').set('x-forwarded-for', '203.0.113.2')).status).toBe(200);
    expect((await request(a).get('/ip').set('x-forwarded-for', '203.0.113.1')).status).toBe(429);

    const plain = await make();
    plain.app.get('/ip', limited, async (req) => req.ip);
    const b = await listen(plain.app);
    expect((await request(b).get('/ip').set('x-forwarded-for', '203.0.113.1')).status).toBe(200);
    expect((await request(b).get('/ip').set('x-forwarded-for', '203.0.113.2')).status).toBe(429);
  });
});

describe('endpoints', () => {
  test('health, admin and metrics are Fastify handlers', async () => {
    const { app, bw } = await make();
    app.get('/health/live', bw.health('live'));
    app.get('/health', bw.health());
    app.get('/admin', bw.admin());
    app.post('/admin', bw.admin());
    app.get('/metrics', bw.metrics());
    app.get(
      '/b',
      { config: { breakwater: { circuitBreaker: { consecutiveFailures: 1 } } } },
      async () => 'b',
    );
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
    expect((await request(url).get('/metrics')).text).toMatch(/breakwater_http_request_duration_seconds/);
  });
});

describe('staleIfError', () => {
  test('copies a serialized answer up to maxBodyBytes; a stream, a longer body, a 5xx and a POST are not kept', async () => {
    const { staleIfError } = await import('./index.js');
    const { app, bw } = await make({ breakers: { down: { openFor: '1m' } } });
    const breakwater = {
      circuitBreaker: 'down',
      fallback: staleIfError({ maxAge: '1m', maxBodyBytes: 64 }),
    } as const;
    const config = { config: { breakwater } };
    app.get('/json', config, async (_request, reply) => {
      reply.header('cache-control', 'max-age=5');
      return { n: 1 };
    });
    app.get('/text', config, async (_request, reply) => reply.type('text/plain').send('plain'));
    app.get('/stream', config, async (_request, reply) => reply.send(Readable.from(['a', 'b'])));
    app.get('/big', config, async () => ({ pad: 'x'.repeat(100) }));
    app.get('/err', config, async (_request, reply) => reply.code(500).send({ n: 1 }));
    app.post('/post', config, async () => ({ posted: true }));
    const url = await listen(app);
    for (const path of ['/json', '/text', '/stream', '/big'])
      expect((await request(url).get(path)).status).toBe(200);
    expect((await request(url).get('/err')).status).toBe(500);
    expect((await request(url).post('/post')).status).toBe(200);
    bw.breakers.get('down')!.open();
    const json = await request(url).get('/json');
    expect([json.status, json.body, json.headers['breakwater-fallback']]).toEqual([
      200,
      { n: 1 },
      'circuit_open',
    ]);
    expect(json.headers['cache-control']).toBe('max-age=5');
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    const text = await request(url).get('/text');
    expect([text.status, text.text]).toEqual([200, 'plain']);
    for (const path of ['/stream', '/big', '/err'])
      expect((await request(url).get(path)).status, path).toBe(503);
    expect((await request(url).post('/post')).status).toBe(503);
  });
});
