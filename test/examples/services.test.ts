/**
 * The demo service's endpoints, the same in Express, Koa, Fastify and Hono: health, metrics,
 * the outbound call with the inbound deadline flowing into it, the Redis cache, bad and
 * oversized bodies, the worker pool, the error-prone route's breaker, the admin endpoints
 * behind their token; and a short chaos scenario on Koa and on Hono.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { REDIS_URL, reachable } from '../helpers/redis-server.js';
import { ADMIN_TOKEN, FRAMEWORKS, path, run, type Stack, startStack } from './helpers.js';

const redisUp = await reachable(REDIS_URL);
if (!redisUp && process.env.CI === 'true')
  throw new Error(`Redis is not reachable at ${REDIS_URL} (CI=true)`);
if (!redisUp)
  console.warn(`\n!!! Redis not reachable at ${REDIS_URL}: SKIPPING the Redis-backed cache assertions\n`);

const admin = { 'x-admin-token': ADMIN_TOKEN };

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    headers: { 'x-client-id': 'services-test', connection: 'close', ...headers },
  });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body };
}

async function send(method: string, url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method,
    headers: {
      'content-type': 'application/json',
      'x-client-id': 'services-test',
      connection: 'close',
      ...headers,
    },
    // A string goes as it is (a malformed body); anything else as JSON.
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

describe.each(FRAMEWORKS)('the %s demo service', (framework) => {
  let stack: Stack;
  let url: string;
  beforeAll(async () => {
    stack = await startStack(framework);
    url = stack.service.url;
  });
  afterAll(async () => {
    await stack?.close();
  });

  test('health: detailed report with every pool and check, live and ready', async () => {
    const h = await get(`${url}/health`);
    expect(h.headers.get('content-type')).toContain('application/health+json');
    expect(Object.keys(h.body.checks)).toEqual(
      expect.arrayContaining(['pool:upstream', 'pool:redis', 'cache', 'workers', 'breaker:upstream']),
    );
    if (redisUp) {
      expect(h.body.status).toBe('pass');
      expect(h.body.checks.cache[0]).toMatchObject({ status: 'pass', output: 'redis' });
    }
    expect((await get(`${url}/health/live`)).status).toBe(200);
    expect((await get(`${url}/health/ready`)).status).toBe(200);
  });

  test('metrics: the Prometheus exposition with request, breaker, bulkhead and pool series', async () => {
    await get(`${url}/api/external-data`);
    const m = await get(`${url}/metrics`);
    expect(m.status).toBe(200);
    for (const name of [
      'breakwater_http_request_duration_seconds',
      'breakwater_circuit_breaker_state',
      'breakwater_bulkhead_limit',
      'breakwater_pool_healthy',
      'breakwater_rate_limit_requests_total',
    ])
      expect(m.body, name).toContain(name);
  });

  test('external-data: the upstream answers through the pool, within the route’s deadline', async () => {
    const r = await get(`${url}/api/external-data`);
    expect(r.status).toBe(200);
    expect(r.body.source).toBe('upstream');
    expect(r.body.data.items.length).toBeGreaterThan(0);
    // The handler saw the route's 1 s budget, which caps the outbound call (the pool's own timeout is 3 s).
    expect(r.body.budgetMs).toBeGreaterThan(500);
    expect(r.body.budgetMs).toBeLessThanOrEqual(1000);
    // The 100/s bucket holds 150: advertised as the bucket over its refill time, so r never exceeds q.
    expect(r.headers.get('ratelimit-policy')).toContain('"per-second";q=150;w=2');
  });

  test('external-data: a slow upstream is cut at the inbound deadline, and the outbound call with it', async () => {
    stack.upstream.set({ latencyMs: 4000, jitterMs: 0 });
    try {
      const t0 = performance.now();
      const r = await get(`${url}/api/external-data`);
      const took = performance.now() - t0;
      // At the deadline either the route's timeout fires or, a hair earlier, the outbound call
      // capped by the same deadline gives up (504 UPSTREAM_TIMEOUT, an error): not the pool's
      // own 3 s timeout, not the upstream's 4 s. Either way the route degrades to its last
      // good answer (staleIfError), marked with the reason.
      expect(r.status).toBe(200);
      expect(['timeout', 'error']).toContain(r.headers.get('breakwater-fallback'));
      expect(r.body.source).toBe('upstream');
      expect(Number(r.headers.get('age'))).toBeGreaterThanOrEqual(0);
      expect(took).toBeGreaterThan(900);
      expect(took).toBeLessThan(2000);
      // The outbound call was aborted with the inbound request, not left running for 4 s.
      await new Promise((res) => setTimeout(res, 100));
      const snap = await get(`${url}/admin`, admin);
      const pool = snap.body.pools.find((p: any) => p.name === 'upstream');
      expect(pool.stats.inFlight).toBe(0);
    } finally {
      stack.upstream.set({ latencyMs: 5, jitterMs: 3 });
    }
  });

  test('cache: POST then GET a key, through Redis when Redis is there', async () => {
    const key = `k-${framework}-${Date.now()}`;
    const w = await send('POST', `${url}/api/cache/${key}`, { value: { n: 1 }, ttlMs: 60_000 });
    expect(w.status).toBe(201);
    const r = await get(`${url}/api/cache/${key}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ key, found: true, value: { n: 1 } });
    if (redisUp) {
      expect(w.body.store).toBe('redis');
      expect(r.body.store).toBe('redis');
      expect(r.headers.get('x-cache-store')).toBe('redis');
    }
    expect((await get(`${url}/api/cache/${key}-missing`)).status).toBe(404);
    expect((await send('POST', `${url}/api/cache/${key}`, { nope: 1 })).status).toBe(400);
    expect((await get(`${url}/api/cache/${'x'.repeat(200)}`)).status).toBe(400);
  });

  test('bodies: bad JSON is a 400 problem, one over 64 KiB a 413 problem, both counted', async () => {
    const key = `body-${framework}`;
    const bad = await send('POST', `${url}/api/cache/${key}`, '{"value": nope');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    // The same problem on all four services.
    expect(bad.body).toMatchObject({
      status: 400,
      title: 'Bad Request',
      code: 'BAD_BODY',
    });
    const big = await send('POST', `${url}/api/cache/${key}`, { value: 'x'.repeat(70 * 1024) });
    expect(big.status).toBe(413);
    expect(big.headers.get('content-type')).toContain('application/problem+json');
    expect(big.body).toMatchObject({ status: 413, code: 'BAD_BODY' });
    // Nothing was stored, and a body just under the limit still goes through.
    expect((await get(`${url}/api/cache/${key}`)).status).toBe(404);
    expect((await send('POST', `${url}/api/cache/${key}`, { value: 'x'.repeat(60 * 1024) })).status).toBe(
      201,
    );
    const adminBad = await send('PUT', `${url}/admin/error-prone`, '{', admin);
    expect(adminBad.status).toBe(400);
    expect(adminBad.body.status).toBe(400);
    const metrics = (await get(`${url}/metrics`)).body as string;
    expect(metrics).toMatch(
      /breakwater_http_request_duration_seconds_count\{method="POST",route="\/api\/cache\/:key",status_code="413"\} 1\n/,
    );
  });

  test('heavy-computation: runs in a worker thread, not on the event loop', async () => {
    const r = await get(`${url}/api/heavy-computation?ms=20`);
    expect(r.status).toBe(200);
    expect(r.body.thread).toBeGreaterThan(0); // the main thread's id is 0
    expect(r.body.rounds).toBeGreaterThan(0);
    expect((await get(`${url}/api/heavy-computation?ms=100000`)).status).toBe(400);
  });

  test('error-prone: fails at the configured rate; its breaker opens and refuses with CIRCUIT_OPEN', async () => {
    expect((await send('PUT', `${url}/admin/error-prone`, { failureRate: 1 }, admin)).status).toBe(200);
    try {
      const statuses: number[] = [];
      let refusal: any;
      for (let i = 0; i < 14; i++) {
        const r = await get(`${url}/api/error-prone`);
        statuses.push(r.status);
        if (r.status === 503) refusal = r;
      }
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(500));
      expect(statuses.at(-1)).toBe(503);
      expect(refusal.body.code).toBe('CIRCUIT_OPEN');
      expect(Number(refusal.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    } finally {
      await send('PUT', `${url}/admin/error-prone`, { failureRate: 0 }, admin);
      await send('POST', `${url}/admin`, { breaker: 'GET /api/error-prone', action: 'reset' }, admin);
    }
    expect((await get(`${url}/api/error-prone`)).status).toBe(200);
  });

  test('admin: 401 without the token; with it, the snapshot and breaker actions', async () => {
    const denied = await get(`${url}/admin`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toContain('Bearer');
    expect((await get(`${url}/admin`, { 'x-admin-token': 'wrong' })).status).toBe(401);
    expect((await get(`${url}/admin/events`, { authorization: 'Bearer nope' })).status).toBe(401);

    const snap = await get(`${url}/admin`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(snap.status).toBe(200);
    expect(snap.body.pools.map((p: any) => p.name).sort()).toEqual(['redis', 'upstream']);
    const open = await send('POST', `${url}/admin`, { breaker: 'upstream', action: 'open' }, admin);
    expect(open.body.state).toBe('open');
    // The open breaker refuses the upstream call; the route serves its stale copy instead.
    const degraded = await get(`${url}/api/external-data`);
    expect(degraded.status).toBe(200);
    expect(degraded.headers.get('breakwater-fallback')).toBe('circuit_open');
    expect(degraded.body.source).toBe('upstream');
    const refusals = (await get(`${url}/metrics`)).body as string;
    expect(refusals).toMatch(
      /breakwater_fallbacks_total\{route="GET \/api\/external-data",reason="circuit_open",result="served"\} [1-9]/,
    );
    expect(refusals).toMatch(
      /breakwater_rejections_total\{route="GET \/api\/external-data",reason="circuit_open"\} [1-9]/,
    );
    await send('POST', `${url}/admin`, { breaker: 'upstream', action: 'close' }, admin);
    const fresh = await get(`${url}/api/external-data`);
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('breakwater-fallback')).toBeNull();
    const events = await get(`${url}/admin/events?since=0`, admin);
    const manual = events.body.events.filter((e: any) => e.type === 'breaker' && e.breaker === 'upstream');
    expect(manual.map((e: any) => `${e.from}>${e.to}`)).toEqual(['closed>open', 'open>closed']);
  });

  test('admin/chaos: faults on a route at run time, counted, then off again', async () => {
    const route = 'GET /api/cache/:key';
    const body = { route, enabled: true, fault: { rate: 1, status: 502 } };
    expect((await send('POST', `${url}/admin/chaos`, body)).status).toBe(401);
    const on = await send('POST', `${url}/admin/chaos`, body, admin);
    // 200 once the route has served a request; 202 (pending) before its first one.
    expect([200, 202]).toContain(on.status);
    if (on.status === 202) expect(on.body.pending).toBe(route);
    const hit = await get(`${url}/api/cache/chaos-key`);
    expect(hit.status).toBe(502);
    expect(hit.body.code).toBe('CHAOS_FAULT');
    const off = await send('POST', `${url}/admin/chaos`, { route, enabled: false }, admin);
    expect(off.status).toBe(200);
    expect(off.body.changed).toEqual([expect.objectContaining({ route, enabled: false })]);
    expect((await get(`${url}/api/cache/chaos-key`)).status).not.toBe(502);
    const metrics = (await get(`${url}/metrics`)).body as string;
    expect(metrics).toMatch(
      /breakwater_chaos_injected_total\{route="GET \/api\/cache\/:key",kind="fault"\} 1\b/,
    );
  });

  test.runIf(framework === 'koa' || framework === 'hono')(
    `${framework}: the chaos scenario shows the same breaker cycle`,
    async () => {
      const r = await run(stack, 'chaos');
      expect(r.summary.unanswered).toBe(0);
      expect(r.summary.refusals.circuit_open).toBeGreaterThan(0);
      expect(
        r.summary.refusals.rate_limited + r.summary.refusals.bulkhead_full + r.summary.refusals.timeout,
      ).toBe(0);
      // external-data degraded to its stale copy instead of refusing.
      expect(r.streams['external-data']!.fallbacks).toBeGreaterThan(0);
      for (const breaker of ['upstream', 'GET /api/error-prone']) {
        const p = path(r, breaker);
        expect(p[0], p.join(' ')).toBe('closed>open');
        expect(p.at(-1), p.join(' ')).toBe('half-open>closed');
      }
    },
  );
});
