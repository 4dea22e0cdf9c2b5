import {
  isPoolClosedError,
  isPoolQueueFullError,
  isPoolQueueTimeoutError,
  isTimeoutError,
} from '@breakwater/core';
import { HttpPool } from '@breakwater/http-pool';
import { afterEach, describe, expect, test } from 'vitest';
import { ok, type Upstream, until, upstream } from './upstream.js';

let up: Upstream | undefined;
let pool: HttpPool | undefined;
afterEach(async () => {
  await pool?.destroy();
  await up?.stop();
  pool = undefined;
  up = undefined;
});

describe('HttpPool requests', () => {
  test('GET with query and headers returns status, headers, json() and text()', async () => {
    up = await upstream((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-echo', String(req.headers['x-a']));
      res.end(JSON.stringify({ url: req.url, method: req.method }));
    });
    pool = new HttpPool({ name: 'api', baseUrl: `${up.url}/v1` });
    const r = await pool.request({
      path: '/items',
      query: { a: 1, b: ['x', 'y z'], c: undefined },
      headers: { 'X-A': 'hi' },
    });
    expect(r.status).toBe(200);
    expect(r.headers['x-echo']).toBe('hi');
    expect(await r.json()).toEqual({ url: '/v1/items?a=1&b=x&b=y%20z', method: 'GET' });
    expect(JSON.parse(await r.text())).toEqual({ url: '/v1/items?a=1&b=x&b=y%20z', method: 'GET' });
  });

  test('post sends an object as JSON', async () => {
    up = await upstream((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () =>
        res.end(JSON.stringify({ ct: req.headers['content-type'], body: JSON.parse(body) })),
      );
    });
    pool = new HttpPool({ name: 'api', baseUrl: up.url });
    const r = await pool.post('/x', { a: 1 });
    expect(await r.json()).toEqual({ ct: 'application/json', body: { a: 1 } });
  });

  test('a timeout aborts the request and the upstream sees its socket close', async () => {
    up = await upstream(() => {
      /* never answers */
    });
    pool = new HttpPool({ name: 'api', baseUrl: up.url, timeout: 50 });
    const t0 = Date.now();
    const e = await pool.get('/hang').catch((x) => x);
    expect(isTimeoutError(e)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(await until(() => up!.abortedRequests === 1)).toBe(true);
  });

  test('bad options fail at construction naming the option', () => {
    expect(() => new HttpPool({ name: 'a', baseUrl: 'ftp://x' })).toThrow(/httpPool\[a\]\.baseUrl/);
    expect(() => new HttpPool({ name: 'a', baseUrl: 'http://x', connections: 0 })).toThrow(/connections/);
    expect(() => new HttpPool({ name: 'a', baseUrl: 'http://x', queueTimeout: 'soon' })).toThrow(
      /httpPool\[a\]\.queueTimeout: expected a duration/,
    );
    expect(() => new HttpPool({ name: 'a', baseUrl: 'http://x', healthCheck: { path: 'health' } })).toThrow(
      /healthCheck\.path/,
    );
  });
});

describe('HttpPool queue', () => {
  test('queue full refuses at once with POOL_QUEUE_FULL; queue timeout with POOL_QUEUE_TIMEOUT', async () => {
    const held: Array<() => void> = [];
    up = await upstream((_req, res) => held.push(() => res.end('late')));
    pool = new HttpPool({
      name: 'api',
      baseUrl: up.url,
      connections: 2,
      maxQueue: 2,
      queueTimeout: 80,
      timeout: '5s',
    });
    const running = [pool.get('/a'), pool.get('/b')];
    expect(await until(() => held.length === 2)).toBe(true);
    const queued = [pool.get('/c'), pool.get('/d')];
    const t0 = Date.now();
    const full = await pool.get('/e').catch((x) => x);
    expect(isPoolQueueFullError(full)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(20);
    expect(pool.stats()).toMatchObject({ active: 2, queued: 2, pending: 2, max: 2, inFlight: 2 });
    const timedOut = await Promise.allSettled(queued);
    expect(timedOut.every((r) => r.status === 'rejected' && isPoolQueueTimeoutError(r.reason))).toBe(true);
    expect(Date.now() - t0).toBeLessThan(400);
    for (const h of held) h();
    const done = await Promise.all(running);
    expect(done.map((r) => r.status)).toEqual([200, 200]);
    expect(up.hits).toBe(2);
  });

  test('a queued call runs when a connection frees up', async () => {
    const held: Array<() => void> = [];
    up = await upstream((req, res) =>
      req.url === '/hold' ? held.push(() => res.end('h')) : ok(req, res, up!),
    );
    pool = new HttpPool({ name: 'api', baseUrl: up.url, connections: 1, queueTimeout: '2s' });
    const waits: number[] = [];
    pool.events.onAcquire((ms) => waits.push(ms));
    const first = pool.get('/hold');
    expect(await until(() => held.length === 1)).toBe(true);
    const second = pool.get('/next');
    expect(pool.stats().queued).toBe(1);
    held[0]!();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(waits.length).toBe(2);
    expect(waits[0]).toBe(0);
  });

  test('close() lets in-flight calls finish, then refuses with POOL_CLOSED; safe twice', async () => {
    const held: Array<() => void> = [];
    up = await upstream((_req, res) => held.push(() => res.end('done')));
    const p = new HttpPool({ name: 'api', baseUrl: up.url });
    const inflight = p.get('/slow');
    expect(await until(() => held.length === 1)).toBe(true);
    const closing = p.close();
    expect(p.close()).toBe(closing);
    const refused = await p.get('/x').catch((x) => x);
    expect(isPoolClosedError(refused)).toBe(true);
    held[0]!();
    expect(await (await inflight).text()).toBe('done');
    await closing;
    await p.destroy();
    expect((await p.health()).status).toBe('fail');
  });

  test('destroy() in the middle of a close aborts the in-flight call and settles the close', async () => {
    up = await upstream(() => {
      /* never answers */
    });
    const p = new HttpPool({ name: 'api', baseUrl: up.url, closeTimeout: '1m' });
    pool = p;
    const inflight = p.get('/hang').catch((x) => x);
    expect(await until(() => up!.hits === 1)).toBe(true);
    const closing = p.close();
    const t0 = performance.now();
    await p.destroy();
    await closing;
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(await inflight).toBeInstanceOf(Error);
    expect(isPoolClosedError(await p.get('/x').catch((x) => x))).toBe(true);
  });
});

describe('HttpPool context and breaker', () => {
  test("the context's remaining budget caps the timeout; its abort ends the call", async () => {
    up = await upstream(() => {
      /* never answers */
    });
    pool = new HttpPool({ name: 'api', baseUrl: up.url, timeout: '5s' });
    const ac = new AbortController();
    const context = {
      signal: ac.signal,
      deadline: Date.now() + 60,
      remainingMs: () => 60,
      route: 'GET /t',
      header: () => undefined,
    };
    const e = await pool.get('/a', { context }).catch((x) => x);
    expect(isTimeoutError(e)).toBe(true);
    expect(e.timeoutMs).toBe(60);
    const p = pool.get('/b', { context: { ...context, remainingMs: () => 5_000 } }).catch((x) => x);
    expect(await until(() => up!.hits === 2)).toBe(true);
    ac.abort(new Error('client left'));
    expect((await p).message).toBe('client left');
    expect(await until(() => up!.abortedRequests === 2)).toBe(true);
  });

  test('a circuit breaker opens on 5xx and refuses without reaching the upstream', async () => {
    up = await upstream((_req, res) => {
      res.statusCode = 502;
      res.end();
    });
    pool = new HttpPool({
      name: 'api',
      baseUrl: up.url,
      passiveHealth: false,
      circuitBreaker: { consecutiveFailures: 2, openFor: '10s' },
    });
    const outcomes: string[] = [];
    pool.events.onRequest((o) => outcomes.push(o));
    await pool.get('/x');
    await pool.get('/x');
    const e = await pool.get('/x').catch((x) => x);
    expect(e.code).toBe('CIRCUIT_OPEN');
    expect(up.hits).toBe(2);
    expect(outcomes).toEqual(['failure', 'failure', 'rejected']);
    expect((await pool.health()).status).toBe('warn');
  });
});
