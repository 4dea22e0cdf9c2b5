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
