import type { Server } from 'node:http';
import { breakwater, type HonoRoutePolicy } from '@breakwater/hono';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, test } from 'vitest';
import { Client, type Gates, newGates, POLICIES, runCardinality, runScenario } from './scenario.js';
import { ManualClock } from './support.js';

const policy = (p: object) => p as HonoRoutePolicy;

function build(clock: ManualClock, gates: Gates, registry = new Registry()) {
  const bw = breakwater({ registry, clock });
  const app = new Hono();
  app.use(bw.middleware());
  app.get('/metrics', bw.metrics());
  app.get('/limited', bw.route(policy(POLICIES.limited)), (c) => c.text('ok'));
  app.get('/flaky', bw.route(policy(POLICIES.flaky)), (c) => c.text('x', c.req.query('fail') ? 500 : 200));
  app.get('/bulk', bw.route(policy(POLICIES.bulk)), async (c) => {
    gates.inBulk.open();
    await gates.bulk.promise;
    return c.text('ok');
  });
  app.get('/slow', bw.route(policy(POLICIES.slow)), async (c) => {
    gates.inSlow.open();
    await gates.slow.promise;
    return c.text('late');
  });
  app.route(
    '/users',
    new Hono().get('/:id', (c) => c.text('u')),
  );
  return { bw, app };
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of open.splice(0).reverse()) await f();
});

async function start({ bw, app }: ReturnType<typeof build>): Promise<Client> {
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = Client.of(server);
  open.push(async () => {
    await client.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await bw.close();
  });
  return client;
}

describe('Hono metrics', () => {
  test('a scripted sequence leaves exact counters, gauges and histogram counts', async () => {
    const clock = new ManualClock();
    const gates = newGates();
    const c = await start(build(clock, gates));
    open.push(async () => gates.openAll());
    await runScenario(c, clock, gates);
  });

  test('10,000 distinct URLs of one prefixed route add one label set', async () => {
    await runCardinality(await start(build(new ManualClock(), newGates())));
  });

  test('a sub-app mounted at a path with parameters never puts the values in labels', async () => {
    const bw = breakwater({ registry: new Registry() });
    const app = new Hono();
    app.use(bw.middleware());
    app.get('/metrics', bw.metrics());
    const posts = new Hono().get(
      '/:pid',
      bw.route(policy({ rateLimit: { limit: 1000, window: '1m' } })),
      (c) => c.text('p'),
    );
    app.route('/users/:id/posts', posts);
    const c = await start({ bw, app });
    for (let i = 0; i < 50; i++) expect((await c.get(`/users/${i}/posts/${i}`)).status).toBe(200);
    const series = (await c.scrape()).filter(
      (s) => s.name === 'breakwater_http_request_duration_seconds_count' && s.labels.route !== '/metrics',
    );
    expect(series.map((s) => [s.labels.route, s.value])).toEqual([['/users/:id/posts/:pid', 50]]);
    const limited = (await c.scrape()).filter((s) => s.name === 'breakwater_rate_limit_requests_total');
    expect(new Set(limited.map((s) => s.labels.limiter))).toEqual(new Set(['GET /users/:id/posts/:pid']));
  });

  test('OpenMetrics when the scraper asks for it', async () => {
    const c = await start(build(new ManualClock(), newGates()));
    await c.get('/limited');
    const om = await c.get('/metrics', { accept: 'application/openmetrics-text; version=1.0.0' });
    expect(om.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(om.text).toMatch(
      /breakwater_rate_limit_requests_total\{limiter="GET \/limited",result="allowed"\} 1/,
    );
    const text = await c.get('/metrics');
    expect(text.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});
