/**
 * Outbound pacing against a real upstream that enforces its own limit (20 req/s, 429 +
 * Retry-After, draft-10 RateLimit headers): unpaced, a burst earns 429s; paced too high
 * but adaptive, the pool hears the upstream and converges to its rate; refusals are typed
 * and fast; priorities are served in order; aborts and retries behave.
 */
import { breakwater } from '@breakwater/express';
import { HttpPool, isPoolPaceTimeoutError } from '@breakwater/http-pool';
import express from 'express';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';
import { limitedUpstream } from './limited.js';
import { sleep, type Upstream, upstream } from './upstream.js';

let up: Upstream | undefined;
let pool: HttpPool | undefined;
let closeBw: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeBw?.();
  await pool?.destroy();
  await up?.stop();
  closeBw = undefined;
  pool = undefined;
  up = undefined;
});

interface Outcome {
  at: number;
  ms: number;
  status?: number;
  code?: string;
}

/** Open-loop load: `rps` calls a second for `ms`, not waiting for answers; resolves when all are settled. */
async function drive(p: HttpPool, rps: number, ms: number): Promise<Outcome[]> {
  const start = Date.now();
  const calls: Promise<Outcome>[] = [];
  const n = Math.round((rps * ms) / 1000);
  for (let i = 0; i < n; i++) {
    const due = start + (i * 1000) / rps;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const t0 = Date.now();
    calls.push(
      p.get('/x').then(
        (r) => ({ at: t0 - start, ms: Date.now() - t0, status: r.status }),
        (e: { code?: string }) => ({ at: t0 - start, ms: Date.now() - t0, code: e.code ?? String(e) }),
      ),
    );
  }
  return Promise.all(calls);
}

const count = (os: Outcome[], f: (o: Outcome) => boolean) => os.filter(f).length;

describe('HttpPool pacing against an upstream that enforces 20 req/s', () => {
  test('unpaced, a 60 req/s stream earns many 429s', async () => {
    const { up: u } = await limitedUpstream({ rate: 20 });
    up = u;
    pool = new HttpPool({ name: 'partner', baseUrl: up.url, connections: 20 });
    const out = await drive(pool, 60, 2_000);
    expect(count(out, (o) => o.status === 429)).toBeGreaterThan(40);
  });

  test('paced too high (100/s) but adaptive: 429s near zero, the pool converges to 20/s, refusals typed and fast', async () => {
    const { up: u, counts } = await limitedUpstream({ rate: 20 });
    up = u;
    pool = new HttpPool({
      name: 'partner',
      baseUrl: up.url,
      connections: 20,
      pace: { rate: 100, burst: 10, maxWait: '500ms' },
    });
    const out = await drive(pool, 60, 3_000);
    const throttled = count(out, (o) => o.status === 429);
    const refused = out.filter((o) => o.code !== undefined);
    expect(throttled).toBeLessThanOrEqual(3);
    expect(refused.length).toBeGreaterThan(30);
    expect(refused.every((o) => o.code === 'POOL_PACE_TIMEOUT')).toBe(true);
    // Refused at once on arrival, or as soon as a slow-down made the wait too long: never after a wait in vain.
    expect(Math.max(...refused.map((o) => o.ms))).toBeLessThan(500);
    expect(count(refused, (o) => o.ms < 50)).toBeGreaterThan(refused.length * 0.8);
    // The pace the pool settled on, and what the upstream admitted in the last 2 s.
    expect(pool.pacer!.rate).toBeGreaterThan(12);
    expect(pool.pacer!.rate).toBeLessThanOrEqual(20.001);
    const last = counts.okTimes.at(-1)!;
    const recent = counts.okTimes.filter((t) => t > last - 2_000).length / 2;
    expect(recent).toBeGreaterThan(14);
    expect(recent).toBeLessThanOrEqual(22);
  });

  test('without RateLimit headers, 429 + Retry-After alone slow the pool down', async () => {
    const { up: u } = await limitedUpstream({ rate: 20, headers: false });
    up = u;
    pool = new HttpPool({
      name: 'partner',
      baseUrl: up.url,
      connections: 20,
      pace: { rate: 100, burst: 10, maxWait: '1500ms' },
    });
    const changes: string[] = [];
    pool.pacer!.onChange((c) => changes.push(c.reason));
    const out = await drive(pool, 60, 3_000);
    const throttled = count(out, (o) => o.status === 429);
    // The first wave of 429s pauses and halves the pace; later ones are rare.
    expect(changes).toContain('throttled');
    expect(changes).toContain('pause');
    expect(throttled).toBeLessThan(25);
    expect(count(out, (o) => o.status === 200)).toBeGreaterThan(40);
  });

  test("health warns while the upstream's pause lasts, and passes after it", async () => {
    const { up: u } = await limitedUpstream({ rate: 1, headers: false });
    up = u;
    pool = new HttpPool({
      name: 'partner',
      baseUrl: up.url,
      pace: { rate: 100, burst: 5, maxWait: '100ms' },
    });
    expect((await pool.health()).status).toBe('pass');
    const answers = await Promise.allSettled([pool.get('/a'), pool.get('/b'), pool.get('/c')]);
    expect(answers.some((a) => a.status === 'fulfilled' && a.value.status === 429)).toBe(true);
    const h = await pool.health();
    expect(h.status).toBe('warn');
    expect(h.output).toMatch(/^paced: the upstream asked for a pause until \d{4}-/);
    await sleep(pool.pacer!.paused - Date.now() + 20);
    expect((await pool.health()).status).toBe('pass');
  });

  test('maxWait: a call that would wait longer is refused at once with POOL_PACE_TIMEOUT, and metrics show it', async () => {
    up = await upstream((_req, res) => res.end('ok'));
    pool = new HttpPool({ name: 'partner', baseUrl: up.url, pace: { rate: 1, burst: 1, maxWait: '200ms' } });
    const registry = new Registry();
    const bw = breakwater({ registry });
    bw.pools.add(pool);
    closeBw = () => bw.close();
    const app = express();
    app.get('/metrics', bw.metrics());

    expect((await pool.get('/a')).status).toBe(200);
    const t0 = Date.now();
    const err = await pool.get('/b').catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(50);
    expect(isPoolPaceTimeoutError(err)).toBe(true);
    expect((err as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(700);
    expect(pool.stats().paceRate).toBe(1);

    const text = (await request(app).get('/metrics')).text;
    expect(text).toContain('breakwater_pool_pace_rate{pool="partner"} 1');
    expect(text).toContain('breakwater_pool_pace_refusals_total{pool="partner"} 1');
    expect(text).toContain('breakwater_pool_pace_wait_seconds_count{pool="partner"} 1');
    expect(text).toContain(
      'breakwater_pool_requests_total{pool="partner",outcome="rejected",status_class="error"} 1',
    );
    pool = undefined; // closed by bw.close()
  });

  test('waiting calls are served by priority: critical, then normal, then sheddable', async () => {
    const { up: u, counts } = await limitedUpstream({ rate: 1000 });
    up = u;
    pool = new HttpPool({ name: 'partner', baseUrl: up.url, pace: { rate: 20, burst: 1, maxWait: '2s' } });
    await pool.get('/first');
    const calls = [
      pool.get('/shed-1', { priority: 'sheddable' }),
      pool.get('/normal-1'),
      pool.get('/crit-1', { priority: 'critical' }),
      pool.get('/shed-2', { priority: 2 }),
      pool.get('/crit-2', { priority: 0 }),
      pool.get('/normal-2', { priority: 'normal' }),
    ];
    expect(pool.stats().paceQueued).toBe(6);
    await Promise.all(calls);
    expect(counts.order).toEqual([
      '/first',
      '/crit-1',
      '/crit-2',
      '/normal-1',
      '/normal-2',
      '/shed-1',
      '/shed-2',
    ]);
  });

  test('an aborted call leaves the pacing queue at once with its reason', async () => {
    up = await upstream((_req, res) => res.end('ok'));
    pool = new HttpPool({ name: 'partner', baseUrl: up.url, pace: { rate: 1, burst: 1, maxWait: '5s' } });
    await pool.get('/a');
    const ac = new AbortController();
    const call = pool.get('/b', { signal: ac.signal }).catch((e: unknown) => e);
    await sleep(20);
    expect(pool.stats().paceQueued).toBe(1);
    const t0 = Date.now();
    ac.abort(new Error('client left'));
    expect(((await call) as Error).message).toBe('client left');
    expect(Date.now() - t0).toBeLessThan(50);
    expect(pool.stats().paceQueued).toBe(0);
    expect(up.count('/b')).toBe(0);
  });

  test("a retried 429 waits out the upstream's Retry-After in the pacer, counted as a retry", async () => {
    const times: number[] = [];
    up = await upstream((_req, res) => {
      times.push(Date.now());
      if (times.length === 1) {
        res.writeHead(429, { 'retry-after': '1' });
        res.end('slow down');
      } else res.end('ok');
    });
    pool = new HttpPool({
      name: 'partner',
      baseUrl: up.url,
      timeout: '3s',
      pace: { rate: 50, maxWait: '3s' },
      retry: { attempts: 3, baseDelay: 1, respectRetryAfter: false },
    });
    const retries: string[] = [];
    pool.events.onRetry((r) => retries.push(r));
    const r = await pool.get('/x');
    expect(r.status).toBe(200);
    expect(retries).toEqual(['status_429']);
    // The retry's own backoff is ~0: the pacer held it for the Retry-After.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950);
    // Halved by the 429 (50 → 25), then climbing back a step after a calm second.
    expect(pool.pacer!.rate).toBeLessThan(50);
  });

  test('close refuses calls waiting for a token with POOL_CLOSED', async () => {
    up = await upstream((_req, res) => res.end('ok'));
    pool = new HttpPool({ name: 'partner', baseUrl: up.url, pace: { rate: 1, burst: 1, maxWait: '5s' } });
    await pool.get('/a');
    const call = pool.get('/b').catch((e: { code?: string }) => e.code);
    await sleep(10);
    await pool.close();
    expect(await call).toBe('POOL_CLOSED');
    expect(up.count('/b')).toBe(0);
  });

  test("a call inherits its inbound route's priority, and the route's remaining budget bounds its wait", async () => {
    const { up: u, counts } = await limitedUpstream({ rate: 1000 });
    up = u;
    const bw = breakwater({ registry: new Registry() });
    closeBw = () => bw.close();
    const partner = bw.pools.add(
      new HttpPool({ name: 'partner', baseUrl: up.url, pace: { rate: 10, burst: 1, maxWait: '2s' } }),
    );
    const app = express();
    app.use(bw.middleware());
    const handler =
      (path: string): express.RequestHandler =>
      async (req, res) => {
        try {
          const r = await partner.get(path, { context: req.breakwater });
          res.status(r.status).send(await r.text());
        } catch (e) {
          res.status(503).json({ code: (e as { code?: string }).code });
        }
      };
    app.get('/shed', bw.route({ priority: 'sheddable' }), handler('/shed'));
    app.get('/crit', bw.route({ priority: 'critical' }), handler('/crit'));
    app.get('/tight', bw.route({ timeout: '50ms' }), handler('/tight'));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      await partner.get('/first');
      const shed = request(server).get('/shed');
      const shedDone = shed.then((r) => r.status);
      await sleep(20);
      const critDone = request(server)
        .get('/crit')
        .then((r) => r.status);
      expect(await Promise.all([shedDone, critDone])).toEqual([200, 200]);
      expect(counts.order).toEqual(['/first', '/crit', '/shed']);

      // 100 ms to the next token, 50 ms of budget: refused at once (the route's own timeout
      // would have answered TIMEOUT), never sent.
      await partner.get('/drain');
      const tight = await request(server).get('/tight');
      expect(tight.status).toBe(503);
      expect(tight.body).toEqual({ code: 'POOL_PACE_TIMEOUT' });
      expect(up.count('/tight')).toBe(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('pace options are checked at construction, naming the path', () => {
    expect(() => new HttpPool({ name: 'p', baseUrl: 'http://127.0.0.1:1', pace: { rate: -1 } })).toThrow(
      /httpPool\[p\]\.pace\.rate: expected a number > 0, got -1/,
    );
    expect(
      () => new HttpPool({ name: 'p', baseUrl: 'http://127.0.0.1:1', pace: { rate: 5, maxWait: 'soon' } }),
    ).toThrow(/httpPool\[p\]\.pace\.maxWait/);
  });
});
