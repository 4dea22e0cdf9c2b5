/**
 * Outbound metrics of an HttpPool against a real upstream on port 0:
 * `breakwater_pool_request_duration_seconds{pool, method, status_class}` and
 * `breakwater_pool_requests_total{pool, outcome, status_class}`, with status classes
 * 2xx..5xx and `error` for a call that got no answer. Labels stay bounded: no path, no
 * status code, only the class.
 */
import { BreakwaterCore } from '@breakwater/core/adapter';
import { HttpPool } from '@breakwater/http-pool';
import { Registry } from 'prom-client';
import { afterEach, expect, test } from 'vitest';
import { Upstream } from '../http-pool/upstream.js';

let up: Upstream | undefined;
let core: BreakwaterCore | undefined;
afterEach(async () => {
  await core?.close();
  await up?.stop();
  core = undefined;
  up = undefined;
});

test('requests are counted and timed by method and status class, failures without an answer as error', async () => {
  up = await new Upstream((req, res) => {
    const status = Number((req.url ?? '/').slice(1)) || 200;
    if (status === 302) res.setHeader('Location', '/200');
    res.statusCode = status;
    res.end('x');
  }).start();
  const registry = new Registry();
  core = new BreakwaterCore({ registry });
  const pool = core.pools.add(new HttpPool({ name: 'api', baseUrl: up.url, timeout: '2s' }));
  for (const path of ['/200', '/201', '/302', '/404', '/503', '/500']) await pool.get(path);
  await pool.request({ method: 'POST', path: '/200', body: 'hi' });
  // Nothing listens on the stopped upstream: no answer at all.
  await up.stop();
  await expect(pool.get('/200')).rejects.toBeDefined();

  const text = await registry.getSingleMetricAsString('breakwater_pool_requests_total');
  expect(text).toContain('breakwater_pool_requests_total{pool="api",outcome="success",status_class="2xx"} 3');
  expect(text).toContain('breakwater_pool_requests_total{pool="api",outcome="success",status_class="3xx"} 1');
  expect(text).toContain('breakwater_pool_requests_total{pool="api",outcome="success",status_class="4xx"} 1');
  expect(text).toContain('breakwater_pool_requests_total{pool="api",outcome="failure",status_class="5xx"} 2');
  expect(text).toContain(
    'breakwater_pool_requests_total{pool="api",outcome="failure",status_class="error"} 1',
  );
  expect(text).not.toMatch(/status_class="(200|404|503)"/);

  const h = 'breakwater_pool_request_duration_seconds';
  const hist = await registry.getSingleMetricAsString(h);
  expect(hist).toContain(`${h}_count{pool="api",method="GET",status_class="2xx"} 2`);
  expect(hist).toContain(`${h}_count{pool="api",method="POST",status_class="2xx"} 1`);
  expect(hist).toContain(`${h}_count{pool="api",method="GET",status_class="3xx"} 1`);
  expect(hist).toContain(`${h}_count{pool="api",method="GET",status_class="4xx"} 1`);
  expect(hist).toContain(`${h}_count{pool="api",method="GET",status_class="5xx"} 2`);
  expect(hist).toContain(`${h}_count{pool="api",method="GET",status_class="error"} 1`);
  expect(hist).not.toMatch(/path=|\/200/);
});

test('a refusal before any attempt is an error-class request; pools that report only outcomes keep their series', async () => {
  up = await new Upstream((_req, res) => res.end('ok')).start();
  const registry = new Registry();
  core = new BreakwaterCore({ registry });
  const pool = core.pools.add(new HttpPool({ name: 'api', baseUrl: up.url }));
  const ac = new AbortController();
  ac.abort();
  await expect(pool.get('/', { signal: ac.signal })).rejects.toBeDefined();
  const text = await registry.getSingleMetricAsString('breakwater_pool_requests_total');
  expect(text).toContain(
    'breakwater_pool_requests_total{pool="api",outcome="aborted",status_class="error"} 1',
  );
  // A pool with `onRequest` alone (a Redis pool, a pool of your own) is counted by outcome only.
  const listeners: Array<(o: string) => void> = [];
  core.pools.add({
    name: 'legacy',
    stats: () => ({ active: 0, idle: 0, pending: 0, max: 1 }),
    health: async () => ({ status: 'pass', time: new Date().toISOString() }),
    events: {
      onRequest: (l) => {
        listeners.push(l);
        return { dispose() {} };
      },
    },
    close: async () => {},
  });
  for (const l of listeners) l('success');
  expect(await registry.getSingleMetricAsString('breakwater_pool_requests_total')).toContain(
    'breakwater_pool_requests_total{pool="legacy",outcome="success"} 1',
  );
});
