import type { Server } from 'node:http';
import { breakwater } from '@breakwater/express';
import express from 'express';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, test } from 'vitest';
import { Client, type Gates, newGates, POLICIES, runCardinality, runScenario } from './scenario.js';
import { ManualClock } from './support.js';

function build(clock: ManualClock, gates: Gates, registry = new Registry()) {
  const bw = breakwater({ registry, clock });
  const app = express();
  app.use(bw.middleware());
  app.get('/metrics', bw.metrics());
  app.get('/limited', bw.route(POLICIES.limited), (_req, res) => {
    res.send('ok');
  });
  app.get('/flaky', bw.route(POLICIES.flaky), (req, res) => {
    res.status(req.query.fail ? 500 : 200).send('x');
  });
  app.get('/bulk', bw.route(POLICIES.bulk), async (_req, res) => {
    gates.inBulk.open();
    await gates.bulk.promise;
    res.send('ok');
  });
  app.get('/slow', bw.route(POLICIES.slow), async (_req, res) => {
    gates.inSlow.open();
    await gates.slow.promise;
    res.send('late');
  });
  const users = express.Router();
  users.get('/:id', (_req, res) => {
    res.send('u');
  });
  app.use('/users', users);
  return { bw, app };
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of open.splice(0).reverse()) await f();
});

async function start(app: express.Express, bw: { close(): Promise<void> }): Promise<Client> {
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

describe('Express metrics', () => {
  test('a scripted sequence leaves exact counters, gauges and histogram counts', async () => {
    const clock = new ManualClock();
    const gates = newGates();
    const { bw, app } = build(clock, gates);
    const c = await start(app, bw);
    // Registered after the server: cleanup runs in reverse, so held handlers end first.
    open.push(async () => gates.openAll());
    await runScenario(c, clock, gates);
  });

  test('10,000 distinct URLs of one mounted route add one label set', async () => {
    const { bw, app } = build(new ManualClock(), newGates());
    await runCardinality(await start(app, bw));
  });

  test('a router mounted at a path with parameters never puts the values in labels', async () => {
    const bw = breakwater({ registry: new Registry() });
    const app = express();
    app.use(bw.middleware());
    app.get('/metrics', bw.metrics());
    const posts = express.Router({ mergeParams: true });
    posts.get('/:pid', (_req, res) => {
      res.send('p');
    });
    app.use('/users/:id/posts', posts);
    const c = await start(app, bw);
    for (let i = 0; i < 50; i++) expect((await c.get(`/users/${i}/posts/${i}`)).status).toBe(200);
    const routes = new Set(
      (await c.scrape())
        .filter(
          (s) => s.name === 'breakwater_http_request_duration_seconds_count' && s.labels.route !== '/metrics',
        )
        .map((s) => s.labels.route),
    );
    // The mount's parameter is put back as its name: one label, the full pattern.
    expect([...routes]).toEqual(['/users/:id/posts/:pid']);
  });

  test('OpenMetrics when the scraper asks for it, text otherwise', async () => {
    const { bw, app } = build(new ManualClock(), newGates());
    const c = await start(app, bw);
    await c.get('/limited');
    const om = await c.get('/metrics', {
      accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
    });
    expect(om.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(om.text).toMatch(/# TYPE breakwater_rate_limit_requests counter\n/);
    expect(om.text).toMatch(
      /breakwater_rate_limit_requests_total\{limiter="GET \/limited",result="allowed"\} 1/,
    );
    expect(om.text.endsWith('# EOF\n')).toBe(true);
    const text = await c.get('/metrics', { accept: 'text/plain' });
    expect(text.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    // Rendering OpenMetrics did not rename the counters of the text format.
    expect(text.text).toMatch(/# TYPE breakwater_rate_limit_requests_total counter\n/);
    expect(text.text).not.toContain('# EOF');
  });
});
