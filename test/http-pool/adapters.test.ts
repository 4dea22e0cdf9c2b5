/**
 * Handlers in Express 4 and Koa 2 calling an upstream through `bw.pools`: the inbound
 * request's deadline, abort and correlation headers reach the outbound call.
 */

import { createServer, get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isTimeoutError } from '@breakwater/core';
import { breakwater as expressBreakwater } from '@breakwater/express';
import { HttpPool } from '@breakwater/http-pool';
import { breakwater as koaBreakwater } from '@breakwater/koa';
import Router from '@koa/router';
import type ExpressT from 'express';
import type KoaT from 'koa';
import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';
import { sleep, type Upstream, until, upstream } from './upstream.js';

// Express 4 and Koa 2 are installed under aliases without types of their own.
const express4: typeof ExpressT = (await import('express4' as string)).default;
const Koa2: typeof KoaT = (await import('koa2' as string)).default;

type Outcome = { error?: unknown; ms: number; status?: number };

let up: Upstream | undefined;
let closeBw: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeBw?.();
  await up?.stop();
  closeBw = undefined;
  up = undefined;
});

async function hangingUpstream(): Promise<Upstream> {
  return upstream((req, res) => {
    if (req.url === '/echo') res.end(JSON.stringify(req.headers));
    // Everything else never answers: only an abort ends it.
  });
}

/** An app whose `/call` handler waits `delayMs`, then calls the upstream's `path` with its context. */
function expressApp(delayMs: number, path: string, outcome: Outcome[]) {
  const bw = expressBreakwater();
  bw.pools.add(new HttpPool({ name: 'api', baseUrl: up!.url, timeout: '5s' }));
  closeBw = () => bw.close();
  const app = express4();
  app.use(bw.middleware());
  app.get('/call', bw.route({ timeout: '200ms' }), async (req, res) => {
    if (delayMs) await sleep(delayMs);
    const t0 = Date.now();
    try {
      const r = await bw.pools.get<HttpPool>('api').get(path, { context: req.breakwater });
      outcome.push({ ms: Date.now() - t0, status: r.status });
      res.status(200).send(await r.text());
    } catch (error) {
      outcome.push({ error, ms: Date.now() - t0 });
      if (!res.headersSent) res.status(502).end();
    }
  });
  return app;
}

function koaApp(delayMs: number, path: string, outcome: Outcome[]) {
  const bw = koaBreakwater();
  bw.pools.add(new HttpPool({ name: 'api', baseUrl: up!.url, timeout: '5s' }));
  closeBw = () => bw.close();
  const app = new Koa2();
  const router = new Router();
  app.use(bw.middleware());
  router.get('/call', bw.route({ timeout: '200ms' }), async (ctx) => {
    if (delayMs) await sleep(delayMs);
    const t0 = Date.now();
    try {
      const r = await bw.pools.get<HttpPool>('api').get(path, { context: ctx.state.breakwater });
      outcome.push({ ms: Date.now() - t0, status: r.status });
      ctx.body = await r.text();
    } catch (error) {
      outcome.push({ error, ms: Date.now() - t0 });
      ctx.status = 502;
    }
  });
  app.use(router.routes());
  return app.callback();
}

const apps = { express: expressApp, koa: koaApp } as const;

describe.each(Object.keys(apps) as Array<keyof typeof apps>)('%s handler calling bw.pools', (kind) => {
  const make = apps[kind];

  test('the inbound timeout aborts the outbound request: the upstream sees the socket close', async () => {
    up = await hangingUpstream();
    const outcome: Outcome[] = [];
    const t0 = Date.now();
    const res = await request(make(0, '/hang', outcome)).get('/call');
    // 503 from the guard, or 502 from the handler when the capped outbound timeout fired a hair earlier.
    expect([502, 503]).toContain(res.status);
    expect(Date.now() - t0).toBeLessThan(1_000);
    // The pool's own timeout is 5 s: only the inbound deadline can end the call this soon.
    expect(await until(() => up!.abortedRequests === 1 && outcome.length === 1)).toBe(true);
    expect(outcome[0]!.ms).toBeGreaterThanOrEqual(150);
    expect(outcome[0]!.ms).toBeLessThan(1_000);
    expect(isTimeoutError(outcome[0]!.error)).toBe(true);
  });

  test('the client leaving aborts the outbound request', async () => {
    up = await hangingUpstream();
    const outcome: Outcome[] = [];
    const server = createServer(make(0, '/hang', outcome) as Parameters<typeof createServer>[0]);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const { port } = server.address() as AddressInfo;
      const req = httpGet(`http://127.0.0.1:${port}/call`);
      req.on('error', () => {});
      expect(await until(() => up!.hits === 1)).toBe(true);
      req.destroy();
      // Well before the 200 ms route timeout: the client's disconnect itself aborted it.
      const t0 = Date.now();
      expect(await until(() => up!.abortedRequests === 1 && outcome.length === 1, 150)).toBe(true);
      expect(Date.now() - t0).toBeLessThan(150);
      expect(isTimeoutError(outcome[0]!.error)).toBe(false);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test('the remaining budget shrinks the outbound timeout', async () => {
    up = await hangingUpstream();
    const outcome: Outcome[] = [];
    await request(make(120, '/hang', outcome)).get('/call');
    expect(await until(() => outcome.length === 1)).toBe(true);
    // Called with ~80 ms of the 200 ms budget left: it ended then, not at the pool's 5 s.
    expect(isTimeoutError(outcome[0]!.error)).toBe(true);
    expect(outcome[0]!.ms).toBeGreaterThanOrEqual(50);
    expect(outcome[0]!.ms).toBeLessThan(200);
    expect(await until(() => up!.abortedRequests === 1)).toBe(true);
  });

  test('x-request-id, traceparent and tracestate are forwarded upstream', async () => {
    up = await hangingUpstream();
    const outcome: Outcome[] = [];
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = await request(make(0, '/echo', outcome))
      .get('/call')
      .set('x-request-id', 'req-42')
      .set('traceparent', tp)
      .set('tracestate', 'congo=t61rcWkgMzE')
      .set('x-secret', 'no');
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.text);
    expect(seen['x-request-id']).toBe('req-42');
    expect(seen.traceparent).toBe(tp);
    expect(seen.tracestate).toBe('congo=t61rcWkgMzE');
    expect(seen['x-secret']).toBeUndefined();
  });
});
