/**
 * The adaptive bulkhead in a real Express app in front of a real upstream whose latency
 * grows with its concurrency: under load the route's limit (read from `/metrics`
 * `breakwater_bulkhead_limit`) falls; shared bulkheads by name serve the more important
 * route's queued requests first; bad configuration fails at start-up with the option path.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { breakwater } from '@breakwater/express';
import express from 'express';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of open.splice(0).reverse()) await f();
});

async function listen(server: http.Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  open.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An upstream that answers after `baseMs + perCallMs · (calls in flight)`: it degrades under load. */
async function degradingUpstream(baseMs: number, perCallMs: number) {
  let inflight = 0;
  let peak = 0;
  const server = http.createServer((_req, res) => {
    inflight++;
    peak = Math.max(peak, inflight);
    setTimeout(
      () => {
        inflight--;
        res.end('ok');
      },
      baseMs + perCallMs * inflight,
    );
  });
  const url = await listen(server);
  return { url, peak: () => peak };
}

/** GET without keep-alive, so no socket outlives the test. */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function metric(base: string, name: string, labels: string): Promise<number> {
  const text = (await get(`${base}/metrics`)).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  if (line === undefined) throw new Error(`${name}{${labels}} not in /metrics`);
  return Number(line.split(' ').at(-1));
}

describe('adaptive concurrency', () => {
  test('the adaptive limit falls when the upstream slows down under load', async () => {
    const upstream = await degradingUpstream(5, 3);
    const bw = breakwater({ registry: new Registry() });
    const app = express();
    app.use(bw.middleware());
    app.get('/metrics', bw.metrics());
    app.get(
      '/api/data',
      bw.route({ bulkhead: { maxConcurrent: 'adaptive', initial: 40, max: 40 }, timeout: '5s' }),
      async (_req, res) => {
        const r = await get(upstream.url);
        res.status(r.status).send(r.body);
      },
    );
    const base = await listen(http.createServer(app));
    open.push(() => bw.close());
    const label = 'bulkhead="GET /api/data"';

    // Light load first: the limit's long-term RTT learns what the upstream costs unloaded.
    // (4 callers, 160 calls: 16 windows of 10 samples, past the average's warm-up.)
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = 0; i < 40; i++) expect((await get(`${base}/api/data`)).status).toBe(200);
      }),
    );
    expect(await metric(base, 'breakwater_bulkhead_limit', label)).toBe(40);

    // Then 60 callers at once, each retrying a refusal after a short pause.
    const counts = { ok: 0, refused: 0, other: 0 };
    let stop = false;
    const caller = async () => {
      while (!stop) {
        const r = await get(`${base}/api/data`);
        if (r.status === 200) counts.ok++;
        else if (r.status === 503 && r.body.includes('BULKHEAD_FULL')) {
          counts.refused++;
          await sleep(10);
        } else counts.other++;
      }
    };
    const callers = Array.from({ length: 60 }, caller);
    let lowest = 40;
    for (let i = 0; i < 15; i++) {
      await sleep(100);
      lowest = Math.min(lowest, await metric(base, 'breakwater_bulkhead_limit', label));
    }
    stop = true;
    await Promise.all(callers);

    // 40 in flight would cost the upstream 125 ms a call; the limit gave way well below that.
    expect(lowest).toBeLessThan(25);
    expect(counts.ok).toBeGreaterThan(50);
    expect(counts.refused).toBeGreaterThan(0);
    expect(counts.other).toBe(0);
    const refusedMetric = await metric(base, 'breakwater_bulkhead_rejected_total', label);
    expect(refusedMetric).toBe(counts.refused);
    const stats = bw.core.guards.find((g) => g.name === 'GET /api/data')!.bulkhead!.stats;
    expect(stats).toMatchObject({ active: 0, queued: 0, limiter: 'gradient2' });
  });

  test('routes sharing a bulkhead by name: its queue serves critical before sheddable', async () => {
    const bw = breakwater({
      registry: new Registry(),
      bulkheads: { db: { maxConcurrent: 1, maxQueue: 10 } },
    });
    const app = express();
    app.use(bw.middleware());
    const served: string[] = [];
    let unblock!: () => void;
    const blocked = new Promise<void>((r) => {
      unblock = r;
    });
    app.get('/hold', bw.route({ bulkhead: 'db' }), async (_req, res) => {
      await blocked;
      res.send('held');
    });
    for (const priority of ['sheddable', 'normal', 'critical'] as const)
      app.get(`/${priority}`, bw.route({ bulkhead: 'db', priority }), (_req, res) => {
        served.push(priority);
        res.send(priority);
      });
    app.get('/admin', bw.admin());
    const base = await listen(http.createServer(app));
    open.push(() => bw.close());

    const hold = get(`${base}/hold`);
    await sleep(50);
    const answers: Array<Promise<{ status: number }>> = [];
    for (const p of ['sheddable', 'normal', 'critical', 'sheddable', 'critical']) {
      answers.push(get(`${base}/${p}`));
      await sleep(20); // arrive in this order
    }
    const bulkhead = bw.core.bulkheads.get('db')!;
    expect(bulkhead.stats).toMatchObject({ active: 1, queued: 5 });
    const admin = await request(base).get('/admin');
    expect(admin.body.bulkheads).toEqual([
      { name: 'db', stats: { active: 1, queued: 5, maxConcurrent: 1, maxQueue: 10, rejected: 0 } },
    ]);
    unblock();
    await hold;
    for (const a of await Promise.all(answers)) expect(a.status).toBe(200);
    expect(served).toEqual(['critical', 'critical', 'normal', 'sheddable', 'sheddable']);
  });

  test('bad bulkhead configuration fails at start-up, naming the option path', () => {
    expect(() =>
      breakwater({ registry: new Registry(), routes: { 'GET /x': { bulkhead: 'nope' } } }),
    ).toThrow(
      /breakwater\.routes\['GET \/x'\]\.bulkhead: expected the name of a bulkhead in breakwater\.bulkheads, got "nope"/,
    );
    expect(() =>
      breakwater({
        registry: new Registry(),
        routes: { 'GET /x': { bulkhead: { maxConcurrent: 'adaptive', limiter: 'tcp' as never } } },
      }),
    ).toThrow(
      /breakwater\.routes\['GET \/x'\]\.bulkhead\.limiter: expected one of 'gradient2', 'aimd', 'vegas'/,
    );
    expect(() =>
      breakwater({ registry: new Registry(), bulkheads: { db: { maxConcurrent: 'adaptive', min: 0 } } }),
    ).toThrow(/breakwater\.bulkheads\.db\.min: expected an integer >= 1, got 0/);
    const bw = breakwater({ registry: new Registry() });
    expect(() => bw.route({ bulkhead: { maxConcurrent: 'adaptive', initial: 5000 } })).toThrow(
      /route\.bulkhead\.initial: expected an integer from min \(1\) to max \(1000\), got 5000/,
    );
  });
});
