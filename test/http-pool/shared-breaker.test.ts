/**
 * A route and the pool it calls sharing one breaker by name: each call counts once, and the
 * breaker recovers through the route's half-open probe (the pool does not refuse it).
 */
import { breakwater } from '@breakwater/express';
import { HttpPool } from '@breakwater/http-pool';
import express from 'express';
import request from 'supertest';
import { afterEach, expect, test } from 'vitest';
import { sleep, type Upstream, upstream } from './upstream.js';

let up: Upstream | undefined;
let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  await up?.stop();
});

test('a breaker shared by a route and its pool counts each call once and recovers', async () => {
  let failing = true;
  up = await upstream((_req, res) => {
    res.statusCode = failing ? 503 : 200;
    res.end('{}');
  });
  const bw = breakwater({ breakers: { up: { consecutiveFailures: 2, openFor: 100 } } });
  close = () => bw.close();
  const pool = bw.pools.add(
    new HttpPool({ name: 'api', baseUrl: up.url, circuitBreaker: bw.breakers.get('up') }),
  );
  const app = express();
  app.use(bw.middleware());
  app.get('/x', bw.route({ circuitBreaker: 'up' }), async (req, res) => {
    const r = await pool.get('/', { context: req.breakwater });
    res.status(r.status >= 500 ? 502 : 200).json({ upstream: r.status });
  });
  const breaker = bw.breakers.get('up')!;
  expect((await request(app).get('/x')).status).toBe(502);
  expect(breaker.stats.calls).toBe(1); // once, not once per layer
  expect((await request(app).get('/x')).status).toBe(502);
  expect(breaker.state).toBe('open');
  expect((await request(app).get('/x')).body.code).toBe('CIRCUIT_OPEN');
  failing = false;
  await sleep(120);
  expect((await request(app).get('/x')).status).toBe(200); // the probe reaches the upstream
  expect(breaker.state).toBe('closed');
  // Without a route context the pool still guards its own calls.
  failing = true;
  await pool.get('/');
  await pool.get('/');
  expect(breaker.state).toBe('open');
});
