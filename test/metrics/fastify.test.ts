import { breakwater, type FastifyRoutePolicy } from '@breakwater/fastify';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, test } from 'vitest';
import { Client, type Gates, newGates, POLICIES, runCardinality, runScenario } from './scenario.js';
import { ManualClock } from './support.js';

const policy = (p: object) => p as FastifyRoutePolicy;

async function build(clock: ManualClock, gates: Gates, registry = new Registry()) {
  const bw = breakwater({ registry, clock });
  const app = Fastify();
  await app.register(bw.plugin);
  app.get('/metrics', bw.metrics());
  // Both ways of giving a route its policy: the route's config, and bw.route() as a hook.
  app.get('/limited', { config: { breakwater: policy(POLICIES.limited) } }, async () => 'ok');
  app.get<{ Querystring: { fail?: string } }>(
    '/flaky',
    { onRequest: bw.route(policy(POLICIES.flaky)) },
    async (request, reply) => {
      reply.code(request.query.fail ? 500 : 200);
      return 'x';
    },
  );
  app.get('/bulk', { config: { breakwater: policy(POLICIES.bulk) } }, async () => {
    gates.inBulk.open();
    await gates.bulk.promise;
    return 'ok';
  });
  app.get('/slow', { onRequest: bw.route(policy(POLICIES.slow)) }, async () => {
    gates.inSlow.open();
    await gates.slow.promise;
    return 'late';
  });
  await app.register(
    async (users) => {
      users.get('/:id', async () => 'u');
    },
    { prefix: '/users' },
  );
  return { bw, app };
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of open.splice(0).reverse()) await f();
});

async function start({ bw, app }: Awaited<ReturnType<typeof build>>): Promise<Client> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const client = Client.of(app.server);
  open.push(async () => {
    await client.close();
    app.server.closeAllConnections();
    await app.close();
    await bw.close();
  });
  return client;
}

describe('Fastify metrics', () => {
  test('a scripted sequence leaves exact counters, gauges and histogram counts', async () => {
    const clock = new ManualClock();
    const gates = newGates();
    const c = await start(await build(clock, gates));
    open.push(async () => gates.openAll());
    await runScenario(c, clock, gates);
  });

  test('10,000 distinct URLs of one prefixed route add one label set', async () => {
    await runCardinality(await start(await build(new ManualClock(), newGates())));
  });

  test('a plugin mounted at a prefix with parameters never puts the values in labels', async () => {
    const bw = breakwater({ registry: new Registry() });
    const app = Fastify();
    await app.register(bw.plugin);
    app.get('/metrics', bw.metrics());
    await app.register(
      async (posts) => {
        posts.get(
          '/:pid',
          { config: { breakwater: policy({ rateLimit: { limit: 1000, window: '1m' } }) } },
          async () => 'p',
        );
      },
      { prefix: '/users/:id/posts' },
    );
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
    const c = await start(await build(new ManualClock(), newGates()));
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
