import type { Server } from 'node:http';
import { breakwater } from '@breakwater/koa';
import Router from '@koa/router';
import Koa from 'koa';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, test } from 'vitest';
import { Client, type Gates, newGates, POLICIES, runCardinality, runScenario } from './scenario.js';
import { ManualClock } from './support.js';

function build(clock: ManualClock, gates: Gates, registry = new Registry()) {
  const bw = breakwater({ registry, clock });
  const app = new Koa();
  const router = new Router();
  app.use(bw.middleware());
  router.get('/metrics', bw.metrics());
  router.get('/limited', bw.route(POLICIES.limited), (ctx) => {
    ctx.body = 'ok';
  });
  router.get('/flaky', bw.route(POLICIES.flaky), (ctx) => {
    ctx.status = ctx.query.fail ? 500 : 200;
    ctx.body = 'x';
  });
  router.get('/bulk', bw.route(POLICIES.bulk), async (ctx) => {
    gates.inBulk.open();
    await gates.bulk.promise;
    ctx.body = 'ok';
  });
  router.get('/slow', bw.route(POLICIES.slow), async (ctx) => {
    gates.inSlow.open();
    await gates.slow.promise;
    ctx.body = 'late';
  });
  const users = new Router({ prefix: '/users' });
  users.get('/:id', (ctx) => {
    ctx.body = 'u';
  });
  app.use(router.routes());
  app.use(users.routes());
  return { bw, app };
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of open.splice(0).reverse()) await f();
});

async function start(app: Koa, bw: { close(): Promise<void> }): Promise<Client> {
  const server: Server = await new Promise((r) => {
    const s = app.listen(0, '127.0.0.1', () => r(s));
  });
  const client = Client.of(server);
  open.push(async () => {
    await client.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await bw.close();
  });
  return client;
}

describe('Koa metrics', () => {
  test('a scripted sequence leaves exact counters, gauges and histogram counts', async () => {
    const clock = new ManualClock();
    const gates = newGates();
    const { bw, app } = build(clock, gates);
    const c = await start(app, bw);
    open.push(async () => gates.openAll());
    await runScenario(c, clock, gates);
  });

  test('10,000 distinct URLs of one prefixed route add one label set', async () => {
    const { bw, app } = build(new ManualClock(), newGates());
    await runCardinality(await start(app, bw));
  });

  test('OpenMetrics when the scraper asks for it', async () => {
    const { bw, app } = build(new ManualClock(), newGates());
    const c = await start(app, bw);
    await c.get('/limited');
    const om = await c.get('/metrics', { accept: 'application/openmetrics-text; version=1.0.0' });
    expect(om.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(om.text).toMatch(
      /breakwater_rate_limit_requests_total\{limiter="GET \/limited",result="allowed"\} 1/,
    );
    expect(om.text.endsWith('# EOF\n')).toBe(true);
    const text = await c.get('/metrics');
    expect(text.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});
