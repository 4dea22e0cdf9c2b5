/**
 * Handler and client faults through the four adapters, all six flavors. For each fault: every
 * request gets exactly one response on the wire (status lines counted on raw sockets),
 * the breaker records each call once, no unhandled rejection or uncaught exception (the
 * shared setup fails the file), and afterwards every bulkhead is back to 0 active and
 * 0 queued, in its stats and in the breakwater_bulkhead_active/_queued gauges of a scrape.
 */
import http from 'node:http';
import { Readable } from 'node:stream';
import type { CallResult } from '@breakwater/core';
import type { RouteGuard } from '@breakwater/core/adapter';
import { HTTPException } from 'hono/http-exception';
import { afterEach, describe, expect, test } from 'vitest';
import { gate, type HApp, hflavors, raw, rawGet, sample, serve, sleep, until } from './support.js';

const TIMEOUT_MS = 200;
const policy = {
  timeout: `${TIMEOUT_MS}ms`,
  bulkhead: { maxConcurrent: 4, maxQueue: 4 },
  // Never opens here: each call must be recorded, not refused.
  circuitBreaker: { consecutiveFailures: 10_000, minimumCalls: 10_000 },
};
const N = 4; // concurrent requests per fault: every one gets a slot

describe.each(hflavors)('$name', (flavor) => {
  let app: HApp | undefined;
  let hang = gate();
  let ran = 0;
  let sawAbort = 0;
  const calls = new Map<string, CallResult[]>();

  afterEach(async () => {
    hang.open();
    await app?.close();
    app = undefined;
  });

  const rejects = !(flavor.kind === 'express' && flavor.major === 4);

  async function start(): Promise<HApp> {
    ran = 0;
    sawAbort = 0;
    hang = gate();
    calls.clear();
    app = await serve(flavor, {
      express(a, bw) {
        const r = () => bw.route(policy);
        a.get('/sync-throw', r(), () => {
          throw new Error('sync boom');
        });
        // Express 4 never sees a returned promise: a rejecting handler there is the app's own unhandled rejection.
        if (rejects)
          a.get('/reject', r(), async () => {
            await sleep(5);
            throw new Error('async boom');
          });
        a.get('/next-err', r(), (_req, _res, next) => void setTimeout(() => next(new Error('next boom')), 5));
        a.get('/never', r(), async (req, res) => {
          await hang.promise;
          res.json({ late: true, aborted: req.breakwater!.signal.aborted });
        });
        a.get('/twice', r(), (_req, res) => {
          res.json({ first: true });
          res.json({ second: true }); // Express throws ERR_HTTP_HEADERS_SENT
        });
        a.get('/stream-fail', r(), (_req, res, next) => {
          res.setHeader('content-type', 'text/plain');
          res.write('partial body ');
          setTimeout(() => next(new Error('stream broke')), 10);
        });
        a.get('/stream-late', r(), async (_req, res) => {
          res.write('started ');
          await hang.promise;
          res.end('never seen');
        });
        a.get('/held', r(), async (req, res) => {
          ran++;
          const signal = req.breakwater!.signal;
          await new Promise<void>((done) => {
            signal.addEventListener('abort', () => {
              sawAbort++;
              done();
            });
            void hang.promise.then(() => done());
          });
          await sleep(20);
          res.json({ ok: true });
        });
        a.get('/quick', r(), (_req, res) => void res.json({ ok: true }));
      },
      koa(router, bw) {
        const r = () => bw.route(policy);
        router.get('/sync-throw', r(), () => {
          throw new Error('sync boom');
        });
        router.get('/reject', r(), async () => {
          await sleep(5);
          throw new Error('async boom');
        });
        router.get('/next-err', r(), async (ctx) => {
          await sleep(5);
          ctx.throw(500, 'thrown with ctx.throw');
        });
        router.get('/never', r(), async (ctx) => {
          await hang.promise;
          ctx.body = { late: true };
        });
        router.get('/twice', r(), (ctx) => {
          ctx.res.statusCode = 200;
          ctx.res.end('raw first');
          ctx.body = { second: true }; // Koa must not send this
        });
        router.get('/stream-fail', r(), (ctx) => {
          let sent = false;
          ctx.type = 'text/plain';
          ctx.body = new Readable({
            read() {
              if (!sent) {
                sent = true;
                this.push('partial body ');
              } else setTimeout(() => this.destroy(new Error('stream broke')), 10);
            },
          });
        });
        router.get('/stream-late', r(), async (ctx) => {
          ctx.res.statusCode = 200;
          ctx.res.write('started ');
          await hang.promise;
          ctx.body = 'never seen';
        });
        router.get('/held', r(), async (ctx) => {
          ran++;
          const signal = ctx.state.breakwater!.signal;
          await new Promise<void>((done) => {
            signal.addEventListener('abort', () => {
              sawAbort++;
              done();
            });
            void hang.promise.then(() => done());
          });
          await sleep(20);
          ctx.body = { ok: true };
        });
        router.get('/quick', r(), (ctx) => void (ctx.body = { ok: true }));
      },
      fastify(a) {
        const r = { config: { breakwater: policy } };
        a.get('/sync-throw', r, () => {
          throw new Error('sync boom');
        });
        a.get('/reject', r, async () => {
          await sleep(5);
          throw new Error('async boom');
        });
        // Fastify's way to hand an error on: reply.send(error).
        a.get(
          '/next-err',
          r,
          (_request, reply) => void setTimeout(() => reply.send(new Error('next boom')), 5),
        );
        a.get('/never', r, async (request) => {
          await hang.promise;
          return { late: true, aborted: request.breakwater!.signal.aborted };
        });
        a.get('/twice', r, (_request, reply) => {
          reply.send({ first: true });
          reply.send({ second: true }); // Fastify ignores it (and would log a warning)
        });
        a.get('/stream-fail', r, (_request, reply) => {
          let sent = false;
          reply.type('text/plain').send(
            new Readable({
              read() {
                if (!sent) {
                  sent = true;
                  this.push('partial body ');
                } else setTimeout(() => this.destroy(new Error('stream broke')), 10);
              },
            }),
          );
        });
        a.get('/stream-late', r, async (_request, reply) => {
          reply.raw.write('started ');
          await hang.promise;
          return reply.send('never seen');
        });
        a.get('/held', r, async (request) => {
          ran++;
          const signal = request.breakwater!.signal;
          await new Promise<void>((done) => {
            signal.addEventListener('abort', () => {
              sawAbort++;
              done();
            });
            void hang.promise.then(() => done());
          });
          await sleep(20);
          return { ok: true };
        });
        a.get('/quick', r, async () => ({ ok: true }));
      },
      hono(a, bw) {
        const r = () => bw.route(policy);
        a.get('/sync-throw', r(), () => {
          throw new Error('sync boom');
        });
        a.get('/reject', r(), async () => {
          await sleep(5);
          throw new Error('async boom');
        });
        a.get('/next-err', r(), async () => {
          await sleep(5);
          throw new HTTPException(500, { message: 'thrown as an HTTPException' });
        });
        a.get('/never', r(), async (c) => {
          await hang.promise;
          return c.json({ late: true });
        });
        a.get('/stream-fail', r(), (c) => {
          let sent = false;
          const body = new ReadableStream<Uint8Array>({
            pull(ctl) {
              if (!sent) {
                sent = true;
                ctl.enqueue(new TextEncoder().encode('partial body '));
              } else return sleep(10).then(() => ctl.error(new Error('stream broke')));
            },
          });
          return c.body(body, 200, { 'content-type': 'text/plain' });
        });
        a.get('/held', r(), async (c) => {
          ran++;
          const signal = c.get('breakwater')!.signal;
          await new Promise<void>((done) => {
            signal.addEventListener('abort', () => {
              sawAbort++;
              done();
            });
            void hang.promise.then(() => done());
          });
          await sleep(20);
          return c.json({ ok: true });
        });
        a.get('/quick', r(), (c) => c.json({ ok: true }));
      },
    });
    // Guards are built at a route's first request (Fastify's as its routes are declared).
    const watch = (g: RouteGuard) => {
      const list: CallResult[] = [];
      calls.set(g.name, list);
      g.breaker!.onCall((c) => list.push(c));
    };
    for (const g of app.bw.core.guards) watch(g);
    app.bw.core.onGuard(watch);
    return app;
  }

  const guard = (path: string): RouteGuard => app!.bw.core.guards.find((g) => g.name === `GET ${path}`)!;

  /** Every guard idle, by stats and by the gauges of a scrape. */
  async function expectIdle(): Promise<void> {
    for (const g of app!.bw.core.guards) {
      await until(
        () => g.bulkhead!.activeCount === 0 && g.bulkhead!.queuedCount === 0,
        3000,
        `${g.name} idle`,
      );
      expect(g.bulkhead!.stats, g.name).toMatchObject({ active: 0, queued: 0 });
      expect(g.pendingDeadlines, g.name).toBe(0);
    }
    const s = await app!.scrape();
    const names = app!.bw.core.guards.map((g) => g.name);
    for (const name of names) {
      expect(sample(s, 'breakwater_bulkhead_active', { bulkhead: name }), name).toBe(0);
      expect(sample(s, 'breakwater_bulkhead_queued', { bulkhead: name }), name).toBe(0);
    }
  }

  /** N concurrent raw requests to `path`; each result's status lines. */
  const burst = (path: string, waitMs = 1500) =>
    Promise.all(Array.from({ length: N }, () => raw(app!.port, rawGet(path), { waitMs })));

  test('handler throws synchronously, rejects, or hands an error on: one 500 each, each call recorded once as a failure', async () => {
    await start();
    const paths = ['/sync-throw', '/next-err', ...(rejects ? ['/reject'] : [])];
    for (const p of paths) {
      const results = await burst(p);
      for (const r of results) {
        expect(r.statuses, p).toEqual([500]);
        expect(r.closed, p).toBe(true);
      }
      await until(() => calls.get(`GET ${p}`)!.length === N, 1000, `${p} recorded`);
      expect(calls.get(`GET ${p}`), p).toEqual(Array(N).fill('failure'));
    }
    await sleep(30);
    for (const p of paths) expect(calls.get(`GET ${p}`)!.length, `${p} recorded twice?`).toBe(N);
    await expectIdle();
  });

  test('handler never responds: the timeout answers once at the deadline; slots return when the handlers end', async () => {
    await start();
    const t0 = Date.now();
    const results = await burst('/never');
    for (const r of results) {
      expect(r.statuses).toEqual([503]);
      expect(r.text).toContain('"code":"TIMEOUT"');
      expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 10);
      expect(r.ms).toBeLessThan(TIMEOUT_MS + 800);
    }
    expect(Date.now() - t0).toBeLessThan(TIMEOUT_MS + 1000);
    // Late handlers still run and hold their slots (by design) ...
    expect(guard('/never').bulkhead!.activeCount).toBe(N);
    expect(calls.get('GET /never')).toEqual(Array(N).fill('failure'));
    // ... until they end; what they write then reaches nobody and throws nothing.
    hang.open();
    await expectIdle();
    expect(calls.get('GET /never')!.length).toBe(N);
  });

  // A Hono handler answers by returning one Response: there is no second to send.
  test.skipIf(flavor.kind === 'hono')(
    'handler responds twice: exactly one response reaches the wire (not Hono: one returned Response)',
    async () => {
      await start();
      // (Writing a chunk with Node's raw res.end() after the end is an uncaught 'write after
      // end' in plain Node, with or without Breakwater: not exercised here.)
      for (const p of ['/twice']) {
        const results = await burst(p);
        for (const r of results) {
          expect(r.statuses, p).toEqual([200]);
          expect(r.text, p).not.toContain('second');
        }
        await until(() => calls.get(`GET ${p}`)!.length === N, 1000, `${p} recorded`);
      }
      // Also on one keep-alive connection: two requests, two responses, nothing extra.
      const pipelined = await raw(app!.port, rawGet('/twice', {}, true) + rawGet('/quick', {}, true), {
        waitMs: 600,
        untilStatuses: 2,
      });
      expect(pipelined.statuses.length).toBeLessThanOrEqual(2);
      expect(pipelined.statuses[0]).toBe(200);
      await expectIdle();
    },
  );

  test('handler streams a body and then fails: one truncated response, the connection is cut, the slot returns', async () => {
    await start();
    const results = await burst('/stream-fail', 800);
    for (const r of results) {
      expect(r.statuses).toEqual([200]);
      expect(r.text).toContain('partial body');
      // Chunked framing never reaches its terminating chunk: the client can tell it was cut.
      expect(r.text.endsWith('0\r\n\r\n')).toBe(false);
      // Koa 2 leaves a response whose body stream failed open (Koa 3 destroys it); with or
      // without Breakwater, since the handler has returned before the body streams.
      if (!(flavor.kind === 'koa' && flavor.major === 2)) expect(r.closed).toBe(true);
    }
    await expectIdle();
  });

  // A Hono handler has ended once it returns its Response; a body streaming after that is
  // past the route's timeout, which bounds the handler.
  test.skipIf(flavor.kind === 'hono')(
    'handler started streaming and then hangs past the deadline: the response is cut at the deadline, not answered twice (not Hono: the handler ends as it returns its streaming Response)',
    async () => {
      await start();
      const results = await burst('/stream-late');
      for (const r of results) {
        expect(r.statuses).toEqual([200]);
        expect(r.text).toContain('started');
        expect(r.text).not.toContain('TIMEOUT');
        expect(r.closed).toBe(true);
        expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 10);
        expect(r.ms).toBeLessThan(TIMEOUT_MS + 800);
      }
      hang.open();
      await expectIdle();
    },
  );

  test('client disconnects before its handler runs (queued): it leaves the queue, the handler never runs', async () => {
    await start();
    const held = Array.from({ length: 4 }, () => raw(app!.port, rawGet('/held'), { waitMs: 3000 }));
    await until(() => guard('/held').bulkhead!.activeCount === 4);
    const sockets = Array.from({ length: 4 }, () => {
      const req = http.get(`${app!.url}/held`, { agent: false });
      req.on('error', () => {});
      return req;
    });
    await until(() => guard('/held').bulkhead!.queuedCount === 4);
    for (const s of sockets) s.destroy();
    await until(() => guard('/held').bulkhead!.queuedCount === 0, 500, 'queue emptied at once');
    expect(ran).toBe(4);
    hang.open();
    for (const r of await Promise.all(held)) expect(r.statuses).toEqual([200]);
    expect(ran).toBe(4);
    await expectIdle();
  });

  test('client disconnects during its handler: the signal aborts, the slot returns when the handler ends, nothing is written', async () => {
    await start();
    const results = Array.from({ length: N }, () =>
      raw(app!.port, rawGet('/held'), { waitMs: 2000, destroyAfterMs: 60 }),
    );
    for (const r of await Promise.all(results)) expect(r.statuses).toEqual([]);
    await until(() => sawAbort === N, 1000, 'every handler saw its abort');
    await expectIdle();
    // A client that left says nothing about the dependency: no failure recorded.
    expect(calls.get('GET /held')!.filter((c) => c === 'failure')).toEqual([]);
  });

  test('client disconnects after its response: nothing more happens, each call recorded once', async () => {
    await start();
    const results = await Promise.all(
      Array.from({ length: N }, () =>
        raw(app!.port, rawGet('/quick', {}, true), { waitMs: 1000, untilStatuses: 1 }),
      ),
    );
    for (const r of results) expect(r.statuses).toEqual([200]);
    await sleep(50);
    expect(calls.get('GET /quick')).toEqual(Array(N).fill('success'));
    await expectIdle();
    // The app keeps serving.
    expect((await raw(app!.port, rawGet('/quick'), { waitMs: 1000 })).statuses).toEqual([200]);
  });
});
