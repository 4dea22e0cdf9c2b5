/**
 * Upstream faults through HttpPool inside guarded handlers, all six flavors: an upstream
 * that hangs, resets connections, answers garbage, cuts its body, or trickles it past the
 * deadline. Every inbound request gets exactly one response (502 from the handler, or the
 * route's 503 at its deadline), and afterwards the pool has nothing in flight, no active
 * connection and nothing pending, by its stats and by the pool gauges of a scrape; the
 * route's bulkhead is back to 0/0.
 */
import { HttpPool } from '@breakwater/http-pool';
import { afterEach, describe, expect, test } from 'vitest';
import { type Upstream, upstream } from '../http-pool/upstream.js';
import { type HApp, hflavors, raw, rawGet, sample, serve, until } from './support.js';

const TIMEOUT_MS = 300;
const N = 6;

let up: Upstream | undefined;
afterEach(async () => {
  await up?.stop();
  up = undefined;
});

async function faultyUpstream(): Promise<Upstream> {
  return upstream((req, res) => {
    switch (req.url) {
      case '/ok':
        res.end('fine');
        return;
      case '/hang':
        return; // never answers
      case '/reset':
        req.socket.destroy();
        return;
      case '/garbage':
        req.socket.end('HTTP/1.1 ninety-nine bottles\r\nX: \u0000\r\n\r\n\u00ff\u00fe');
        return;
      case '/half':
        res.writeHead(200, { 'content-length': '1000' });
        res.write('only part of it');
        setTimeout(() => req.socket.destroy(), 10);
        return;
      case '/trickle': {
        res.writeHead(200);
        const t = setInterval(() => res.write('.'), 50);
        res.on('close', () => clearInterval(t));
        return;
      }
    }
  });
}

describe.each(hflavors)('$name', (flavor) => {
  let app: HApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  const policy = { timeout: `${TIMEOUT_MS}ms`, bulkhead: { maxConcurrent: N, maxQueue: N } };

  async function start(): Promise<{ app: HApp; pool: HttpPool }> {
    up = await faultyUpstream();
    const pool = new HttpPool({
      name: 'upstream',
      baseUrl: up.url,
      connections: 4,
      timeout: '5s',
      passiveHealth: false,
    });
    app = await serve(flavor, {
      express(a, bw) {
        bw.pools.add(pool);
        a.get('/proxy/:what', bw.route(policy), async (req, res) => {
          try {
            const r = await pool.get(`/${req.params.what}`, { context: req.breakwater });
            res.status(200).send(await r.text());
          } catch (e) {
            res.status(502).json({ error: (e as { code?: string }).code ?? 'upstream' });
          }
        });
      },
      koa(router, bw) {
        bw.pools.add(pool);
        router.get('/proxy/:what', bw.route(policy), async (ctx) => {
          try {
            const r = await pool.get(`/${ctx.params.what}`, { context: ctx.state.breakwater });
            ctx.status = 200;
            ctx.body = await r.text();
          } catch (e) {
            ctx.status = 502;
            ctx.body = { error: (e as { code?: string }).code ?? 'upstream' };
          }
        });
      },
      fastify(a, bw) {
        bw.pools.add(pool);
        a.get<{ Params: { what: string } }>(
          '/proxy/:what',
          { config: { breakwater: policy } },
          async (request, reply) => {
            try {
              const r = await pool.get(`/${request.params.what}`, { context: request.breakwater });
              return reply.code(200).send(await r.text());
            } catch (e) {
              return reply.code(502).send({ error: (e as { code?: string }).code ?? 'upstream' });
            }
          },
        );
      },
      hono(a, bw) {
        bw.pools.add(pool);
        a.get('/proxy/:what', bw.route(policy), async (c) => {
          try {
            const r = await pool.get(`/${c.req.param('what')}`, { context: c.get('breakwater') });
            return c.text(await r.text(), 200);
          } catch (e) {
            return c.json({ error: (e as { code?: string }).code ?? 'upstream' }, 502);
          }
        });
      },
    });
    return { app, pool };
  }

  async function expectPoolIdle(a: HApp, pool: HttpPool): Promise<void> {
    await until(
      () => pool.stats().inFlight === 0 && pool.stats().active === 0 && pool.stats().pending === 0,
      3000,
      'pool idle',
    );
    expect(pool.stats()).toMatchObject({ inFlight: 0, active: 0, pending: 0, queued: 0 });
    const g = a.bw.core.guards[0]!;
    await until(() => g.bulkhead!.activeCount === 0, 3000, 'bulkhead idle');
    const s = await a.scrape();
    expect(sample(s, 'breakwater_pool_connections', { pool: 'upstream', state: 'active' })).toBe(0);
    expect(sample(s, 'breakwater_pool_pending_acquires', { pool: 'upstream' })).toBe(0);
    expect(sample(s, 'breakwater_bulkhead_active', { bulkhead: g.name })).toBe(0);
    expect(sample(s, 'breakwater_bulkhead_queued', { bulkhead: g.name })).toBe(0);
  }

  const burst = (a: HApp, what: string) =>
    Promise.all(Array.from({ length: N }, () => raw(a.port, rawGet(`/proxy/${what}`), { waitMs: 2000 })));

  /**
   * The outbound call's timeout is capped by the inbound remaining budget, so either the
   * pool's timeout (the handler's 502) or the route's (503) answers, at the deadline.
   */
  const timedOut = (r: { statuses: number[]; text: string }) => {
    expect(r.statuses.length).toBe(1);
    expect([502, 503]).toContain(r.statuses[0]);
    expect(r.text).toContain('TIMEOUT');
  };

  test('upstream hangs: one answer at the deadline, the outbound calls are aborted, the pool drains', async () => {
    const { app: a, pool } = await start();
    for (const r of await burst(a, 'hang')) {
      timedOut(r);
      expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 10);
      expect(r.ms).toBeLessThan(TIMEOUT_MS + 1000);
    }
    await expectPoolIdle(a, pool);
    // The upstream saw its requests abandoned, not left open for undici's 300 s.
    await until(() => up!.abortedRequests >= 1, 2000, 'upstream saw aborts');
  });

  test('upstream resets connections, answers garbage, or cuts its body: one 502 each, the pool drains and still works', async () => {
    const { app: a, pool } = await start();
    for (const what of ['reset', 'garbage', 'half']) {
      for (const r of await burst(a, what)) {
        expect(r.statuses, what).toEqual([502]);
        expect(r.ms, what).toBeLessThan(TIMEOUT_MS + 1000);
      }
      await expectPoolIdle(a, pool);
    }
    expect((await raw(a.port, rawGet('/proxy/ok'), { waitMs: 2000 })).statuses).toEqual([200]);
  });

  test('upstream trickles its body past the deadline: one answer at the deadline, the body read is abandoned', async () => {
    const { app: a, pool } = await start();
    for (const r of await burst(a, 'trickle')) {
      timedOut(r);
      expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 10);
      expect(r.ms).toBeLessThan(TIMEOUT_MS + 1000);
    }
    await expectPoolIdle(a, pool);
  });
});
