/**
 * One scenario table, run against Express 5, Express 4, Koa 3, Koa 2, Fastify 5 and Hono 4:
 * each refusal's status, headers and body; per-route isolation; late handlers; client
 * aborts; bad config.
 */
import http from 'node:http';
import { ConfigError } from '@breakwater/core';
import request from 'supertest';
import { describe, expect, test } from 'vitest';
import { appPerTest, flavors, gate, sleep, until } from '../helpers/apps.js';

const ok = () => ({ status: 200, body: { ok: true } });

describe.each(flavors)('$name', (flavor) => {
  const { start, guard } = appPerTest(flavor);

  test('rate limit: allowed requests carry RateLimit headers; the refusal is a 429 problem', async () => {
    const { url } = await start([
      {
        path: '/rl',
        policy: {
          rateLimit: [
            { limit: 2, window: '1h', algorithm: 'fixed-window' },
            { limit: 100, window: '1m' },
          ],
        },
        handler: ok,
      },
    ]);
    const a = await request(url).get('/rl');
    expect(a.status).toBe(200);
    expect(a.headers['ratelimit-policy']).toBe('"per-hour";q=2;w=3600, "per-minute";q=100;w=60');
    expect(a.headers.ratelimit).toMatch(/^"per-hour";r=1;t=\d+, "per-minute";r=99;t=\d+$/);
    await request(url).get('/rl');
    const r = await request(url).get('/rl');
    expect(r.status).toBe(429);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    const retryAfter = Number(r.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    const t = Number(/"per-hour";r=0;t=(\d+)/.exec(String(r.headers.ratelimit))![1]);
    expect(retryAfter).toBeGreaterThanOrEqual(t);
    expect(r.body).toEqual({
      type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
      title: 'Too Many Requests',
      status: 429,
      detail: expect.stringMatching(/^Request quota exceeded; retry after \d+ seconds?\.$/),
      code: 'RATE_LIMITED',
      'violated-policies': ['per-hour'],
    });
  });

  test('rate limit keyed by header: clients are counted apart; absent header shares one bucket', async () => {
    const { url } = await start([
      {
        path: '/k',
        policy: { rateLimit: { limit: 1, window: '1m', key: { header: 'x-api-key' } } },
        handler: ok,
      },
    ]);
    expect((await request(url).get('/k').set('x-api-key', 'a')).status).toBe(200);
    expect((await request(url).get('/k').set('x-api-key', 'b')).status).toBe(200);
    expect((await request(url).get('/k').set('x-api-key', 'a')).status).toBe(429);
    expect((await request(url).get('/k')).status).toBe(200);
    expect((await request(url).get('/k')).status).toBe(429);
  });

  test('circuit breaker: failures open it; the refusal is a 503 with Retry-After; other routes are untouched', async () => {
    const { url } = await start([
      {
        path: '/flaky',
        policy: { circuitBreaker: { consecutiveFailures: 3, openFor: '30s' } },
        handler: () => ({ status: 500, body: { e: 1 } }),
      },
      {
        path: '/thrower',
        policy: { circuitBreaker: { consecutiveFailures: 2 } },
        handler: () => {
          throw new Error('boom');
        },
      },
      { path: '/fine', policy: { circuitBreaker: { consecutiveFailures: 1 } }, handler: ok },
    ]);
    for (let i = 0; i < 3; i++) expect((await request(url).get('/flaky')).status).toBe(500);
    const r = await request(url).get('/flaky');
    expect(r.status).toBe(503);
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(29);
    expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(30);
    expect(r.body).toMatchObject({
      type: 'https://iana.org/assignments/http-problem-types#temporary-reduced-capacity',
      status: 503,
      code: 'CIRCUIT_OPEN',
    });
    expect((await request(url).get('/thrower')).status).toBe(500);
    expect((await request(url).get('/thrower')).status).toBe(500);
    expect((await request(url).get('/thrower')).body.code).toBe('CIRCUIT_OPEN');
    expect((await request(url).get('/fine')).status).toBe(200);
    expect(guard('GET /fine').breaker!.state).toBe('closed');
  });

  test('bulkhead: full → 503 BULKHEAD_FULL; queued requests run when a slot frees; queue wait expiry refuses', async () => {
    const g = gate();
    const { url } = await start([
      {
        path: '/b',
        policy: { bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: '10s' } },
        handler: async () => {
          await g.promise;
          return ok();
        },
      },
      {
        path: '/q',
        policy: { bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: '50ms' } },
        handler: async () => {
          await sleep(300);
          return ok();
        },
      },
    ]);
    const first = request(url)
      .get('/b')
      .then((r) => r.status);
    await until(() => guard('GET /b').bulkhead!.activeCount === 1);
    const second = request(url)
      .get('/b')
      .then((r) => r.status);
    await until(() => guard('GET /b').bulkhead!.queuedCount === 1);
    const third = await request(url).get('/b');
    expect(third.status).toBe(503);
    expect(third.headers['retry-after']).toBe('1');
    expect(third.body).toMatchObject({ code: 'BULKHEAD_FULL', status: 503 });
    g.open();
    expect(await first).toBe(200);
    expect(await second).toBe(200);
    expect(guard('GET /b').bulkhead!.stats).toMatchObject({ active: 0, queued: 0, rejected: 1 });

    const running = request(url)
      .get('/q')
      .then((r) => r);
    await until(() => guard('GET /q').bulkhead!.activeCount === 1);
    const t0 = Date.now();
    const expired = await request(url).get('/q');
    expect(expired.status).toBe(503);
    expect(expired.body.code).toBe('BULKHEAD_FULL');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
    expect((await running).status).toBe(200);
  });

  test('timeout: 503 TIMEOUT problem, or 504 when configured; the handler sees its signal abort', async () => {
    let aborted: unknown;
    let deadlineSeen = 0;
    const { url } = await start([
      {
        path: '/slow',
        policy: { timeout: '60ms' },
        handler: async (ctx) => {
          deadlineSeen = ctx!.deadline;
          await new Promise<void>((r) => ctx!.signal.addEventListener('abort', () => r()));
          aborted = ctx!.signal.reason;
          return { status: 200, body: { late: true } };
        },
      },
      {
        path: '/gw',
        policy: { timeout: { after: '30ms', status: 504 } },
        handler: async () => {
          await sleep(200);
          return ok();
        },
      },
    ]);
    const t0 = Date.now();
    const r = await request(url).get('/slow');
    const took = Date.now() - t0;
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({
      code: 'TIMEOUT',
      status: 503,
      type: 'https://iana.org/assignments/http-problem-types#temporary-reduced-capacity',
    });
    expect(took).toBeGreaterThanOrEqual(55);
    expect(took).toBeLessThan(1000);
    expect(deadlineSeen).toBeGreaterThan(t0);
    await until(() => aborted !== undefined);
    expect((aborted as { code: string }).code).toBe('TIMEOUT');
    const gw = await request(url).get('/gw');
    expect(gw.status).toBe(504);
    expect(gw.body.title).toBe('Gateway Timeout');
    await sleep(250); // let the late handler end before the leak check
  });

  test('late handler after a timeout: writes nothing, throws nothing, keeps its slot until it ends', async () => {
    const release = gate();
    const { url } = await start([
      {
        path: '/late',
        policy: { timeout: '40ms', bulkhead: { maxConcurrent: 1 } },
        handler: async () => {
          await release.promise;
          return { status: 201, body: { late: true } };
        },
      },
      {
        path: '/late-throw',
        policy: { timeout: '40ms', bulkhead: { maxConcurrent: 1 } },
        handler: async () => {
          await sleep(80);
          throw new Error('after the deadline');
        },
      },
    ]);
    const r = await request(url).get('/late');
    expect(r.status).toBe(503);
    expect(r.body.code).toBe('TIMEOUT');
    expect(guard('GET /late').bulkhead!.activeCount).toBe(1);
    // While the late handler holds its slot, the route is full.
    expect((await request(url).get('/late')).body.code).toBe('BULKHEAD_FULL');
    release.open();
    await until(() => guard('GET /late').bulkhead!.activeCount === 0);
    expect((await request(url).get('/late')).status).toBe(201);

    const t = await request(url).get('/late-throw');
    expect(t.status).toBe(503);
    await until(() => guard('GET /late-throw').bulkhead!.activeCount === 0);
  });

  test('timeout covers time queued in the bulkhead', async () => {
    const g = gate();
    const { url } = await start([
      {
        path: '/tq',
        policy: { timeout: '80ms', bulkhead: { maxConcurrent: 1, maxQueue: 5 } },
        handler: async () => {
          await g.promise;
          return ok();
        },
      },
    ]);
    const first = request(url)
      .get('/tq')
      .then((r) => r);
    await until(() => guard('GET /tq').bulkhead!.activeCount === 1);
    const t0 = Date.now();
    const queued = await request(url).get('/tq');
    expect(queued.status).toBe(503);
    expect(queued.body.code).toBe('TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(guard('GET /tq').bulkhead!.queuedCount).toBe(0);
    g.open();
    await first;
    await until(() => guard('GET /tq').bulkhead!.activeCount === 0);
  });

  test('a client that disconnects leaves the bulkhead queue at once and its handler never runs', async () => {
    const g = gate();
    let runs = 0;
    const { url } = await start([
      {
        path: '/hold',
        policy: { bulkhead: { maxConcurrent: 1, maxQueue: 5 } },
        handler: async () => {
          runs++;
          await g.promise;
          return ok();
        },
      },
    ]);
    const first = request(url)
      .get('/hold')
      .then((r) => r);
    await until(() => guard('GET /hold').bulkhead!.activeCount === 1);
    const req = http.get(`${url}/hold`);
    req.on('error', () => {});
    await until(() => guard('GET /hold').bulkhead!.queuedCount === 1);
    req.destroy();
    await until(() => guard('GET /hold').bulkhead!.queuedCount === 0, 500);
    g.open();
    expect((await first).status).toBe(200);
    await sleep(20);
    expect(runs).toBe(1);
    expect(guard('GET /hold').bulkhead!.activeCount).toBe(0);
  });

  test("a running handler's client disconnect aborts its signal; the slot is released when the handler ends", async () => {
    let sawAbort = false;
    const { url } = await start([
      {
        path: '/running',
        policy: { bulkhead: { maxConcurrent: 2 } },
        handler: async (ctx) => {
          await new Promise<void>((r) => ctx!.signal.addEventListener('abort', () => r()));
          sawAbort = true;
          await sleep(30);
          return ok();
        },
      },
    ]);
    const req = http.get(`${url}/running`);
    req.on('error', () => {});
    await until(() => guard('GET /running').bulkhead!.activeCount === 1);
    req.destroy();
    await until(() => sawAbort);
    expect(guard('GET /running').bulkhead!.activeCount).toBe(1);
    await until(() => guard('GET /running').bulkhead!.activeCount === 0);
  });

  test('routes config applies policies by pattern; route() options merge over the entry', async () => {
    const { url } = await start(
      [
        { path: '/cfg/:id', policy: false, handler: ok },
        {
          path: '/merged',
          policy: { rateLimit: { limit: 1, window: '1m' } },
          handler: async () => {
            await sleep(100);
            return ok();
          },
        },
      ],
      {
        routes: {
          'GET /cfg/:id': { rateLimit: { limit: 1, window: '1m' } },
          'GET /merged': { timeout: '30ms', rateLimit: { limit: 50, window: '1m' } },
        },
      },
    );
    expect((await request(url).get('/cfg/1')).status).toBe(200);
    expect((await request(url).get('/cfg/2')).status).toBe(429);
    // First request: guarded by the entry alone (the route() takes over from then on).
    expect((await request(url).get('/merged')).body.code).toBe('TIMEOUT');
    // Merged: the entry's timeout stays, the route's rate limit replaces the entry's.
    const m = await request(url).get('/merged');
    expect(m.body.code).toBe('TIMEOUT');
    expect(m.headers['ratelimit-policy']).toBe('"per-minute";q=1;w=60');
    expect((await request(url).get('/merged')).status).toBe(429);
    await sleep(120);
  });

  test('a routes entry taken over by route() leaves one guard and one breaker behind', async () => {
    const { url, bw } = await start(
      [{ path: '/both', policy: { circuitBreaker: { consecutiveFailures: 5 } }, handler: ok }],
      { routes: { 'GET /both': { circuitBreaker: { consecutiveFailures: 1 }, timeout: '1s' } } },
    );
    expect((await request(url).get('/both')).status).toBe(200);
    expect((await request(url).get('/both')).status).toBe(200);
    const core = bw.core;
    expect([...core.breakers].map((b) => b.name)).toEqual(['GET /both']);
    expect(core.guards.map((g) => g.name)).toEqual(['GET /both']);
    // The route's options won over the entry's.
    expect(core.breakers.get('GET /both')!.options.consecutiveFailures).toBe(5);
    expect(core.guards[0]!.timeoutMs).toBe(1000);
  });

  test('onReject renders refusals itself', async () => {
    const onReject = flavor.onReject((refusal) => ({
      status: refusal.status,
      body: { custom: refusal.reason },
    }));
    const { url } = await start([
      { path: '/own', policy: { rateLimit: { limit: 1, window: '1m' }, onReject }, handler: ok },
    ]);
    await request(url).get('/own');
    const r = await request(url).get('/own');
    expect(r.status).toBe(429);
    expect(r.body).toEqual({ custom: 'rate_limited' });
  });

  test('invalid configuration fails at start-up naming the option and value', async () => {
    await expect(start([{ path: '/x', policy: { timeout: 'soon' }, handler: ok }])).rejects.toThrow(
      /route\.timeout: expected a duration .*got "soon"/,
    );
    await expect(
      start([{ path: '/x', policy: { bulkhead: { maxConcurrent: 0 } }, handler: ok }]),
    ).rejects.toThrow(/route\.bulkhead\.maxConcurrent: expected an integer >= 1, got 0/);
    await expect(
      start([
        {
          path: '/x',
          policy: { rateLimit: { limit: 5, window: '1m', algorithm: 'magic' as never } },
          handler: ok,
        },
      ]),
    ).rejects.toThrow(ConfigError);
    await expect(start([{ path: '/x', policy: { retries: 3 } as never, handler: ok }])).rejects.toThrow(
      /route\.retries: expected one of the known options/,
    );
    await expect(start([], { routes: { 'FETCH /x': {} } })).rejects.toThrow(/breakwater\.routes/);
    await expect(
      start([], { routes: { 'GET /x': { circuitBreaker: { failureRateThreshold: 5 } } } }),
    ).rejects.toThrow(/breakwater\.routes\['GET \/x'\]\.circuitBreaker\.failureRateThreshold/);
  });

  test('a shared breaker by name opens for every route that names it', async () => {
    const { url } = await start(
      [
        { path: '/s1', policy: { circuitBreaker: 'upstream' }, handler: () => ({ status: 502 }) },
        { path: '/s2', policy: { circuitBreaker: 'upstream' }, handler: ok },
      ],
      { breakers: { upstream: { consecutiveFailures: 2 } } },
    );
    await request(url).get('/s1');
    await request(url).get('/s1');
    expect((await request(url).get('/s2')).body.code).toBe('CIRCUIT_OPEN');
  });

  test("HEAD shares the GET route's policies: the same quota, the same breaker, the same bulkhead", async () => {
    const { url, bw } = await start([
      {
        path: '/quota',
        policy: { rateLimit: { limit: 2, window: '1h', algorithm: 'fixed-window' } },
        handler: ok,
      },
      {
        path: '/down',
        policy: { circuitBreaker: { consecutiveFailures: 1, openFor: '30s' } },
        handler: () => ({ status: 500, body: { e: 1 } }),
      },
    ]);
    // GET and HEAD draw from one quota: the HEAD after two GETs is refused, with r=0.
    expect((await request(url).get('/quota')).status).toBe(200);
    const h = await request(url).head('/quota');
    expect(h.status).toBe(200);
    expect(h.headers.ratelimit).toMatch(/^"per-hour";r=0;t=\d+$/);
    const refused = await request(url).head('/quota');
    expect(refused.status).toBe(429);
    expect(refused.headers.ratelimit).toMatch(/^"per-hour";r=0;t=\d+$/);
    expect((await request(url).get('/quota')).status).toBe(429);
    // One failed GET opens the breaker for HEAD too.
    expect((await request(url).get('/down')).status).toBe(500);
    const open = await request(url).head('/down');
    expect(open.status).toBe(503);
    expect(Number(open.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // One guard per route, shared by both methods (its bulkhead too, had it one).
    const names = bw.core.guards.map((g) => g.name);
    expect(names.filter((n) => n.endsWith(' /quota'))).toEqual(['GET /quota']);
    expect(guard('GET /down').breaker?.state).toBe('open');
  });

  test('unguarded routes are untouched', async () => {
    const { url } = await start([{ path: '/plain', policy: false, handler: ok }]);
    const r = await request(url).get('/plain');
    expect(r.status).toBe(200);
    expect(r.headers.ratelimit).toBeUndefined();
  });
});
