/**
 * Route fallbacks on every framework: a degraded answer in place of each refusal and of a
 * failing handler, async on every reason (the timeout included), bounded by its own time;
 * the policies record what happened whatever the client receives; a fallback that fails
 * leaves the default answer, exactly one either way.
 */
import { type Clock, ConfigError, type FallbackContext, staleIfError } from '@breakwater/core';
import { Registry } from 'prom-client';
import request from 'supertest';
import { describe, expect, test } from 'vitest';
import { appPerTest, flavors, gate, sleep, until } from '../helpers/apps.js';

const ok = () => ({ status: 200, body: { ok: true } });
const boom = () => {
  throw new Error('upstream exploded');
};

describe.each(flavors)('$name', (flavor) => {
  const { start, guard } = appPerTest(flavor);

  test('circuit open: the fallback answers, marked; the breaker stays open and the refusal is counted', async () => {
    const registry = new Registry();
    const seen: FallbackContext[] = [];
    const { url } = await start(
      [
        {
          path: '/cb',
          policy: {
            circuitBreaker: { consecutiveFailures: 2, openFor: '30s' },
            fallback: (ctx) => {
              seen.push(ctx);
              return { body: { cached: true }, headers: { 'Cache-Control': 'no-store' } };
            },
            fallbackOn: ['circuit_open'],
          },
          handler: () => ({ status: 500, body: { e: 1 } }),
        },
      ],
      { registry },
    );
    expect((await request(url).get('/cb')).status).toBe(500);
    expect((await request(url).get('/cb')).status).toBe(500);
    expect(guard('GET /cb').breaker!.state).toBe('open');
    const r = await request(url).get('/cb?x=1').set('x-trace', 't1');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ cached: true });
    expect(r.headers['breakwater-fallback']).toBe('circuit_open');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(guard('GET /cb').breaker!.state).toBe('open');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      reason: 'circuit_open',
      method: 'GET',
      route: 'GET /cb',
      path: '/cb?x=1',
    });
    expect(seen[0]!.headers['x-trace']).toBe('t1');
    expect(seen[0]!.signal.aborted).toBe(false);
    const text = await registry.metrics();
    expect(text).toMatch(/breakwater_rejections_total\{route="GET \/cb",reason="circuit_open"\} 1/);
    expect(text).toMatch(
      /breakwater_fallbacks_total\{route="GET \/cb",reason="circuit_open",result="served"\} 1/,
    );
  });

  test('a failing handler: the fallback answers for the error, and the breaker still counts it', async () => {
    const reasons: string[] = [];
    const { url } = await start([
      {
        path: '/err',
        policy: {
          circuitBreaker: { consecutiveFailures: 2, openFor: '30s' },
          fallback: ({ reason }) => {
            reasons.push(reason);
            return { body: `degraded: ${reason}` };
          },
        },
        handler: boom,
      },
      {
        path: '/five',
        policy: { fallback: () => ({ status: 203, body: 'stale' }) },
        handler: () => ({ status: 502, body: { e: 'bad gateway' } }),
      },
    ]);
    const a = await request(url).get('/err');
    expect([a.status, a.text, a.headers['breakwater-fallback']]).toEqual([200, 'degraded: error', 'error']);
    expect(a.headers['content-type']).toMatch(/^text\/plain/);
    await request(url).get('/err');
    // Two failures, fallbacks or not: the breaker opened, and the next answer is circuit_open's.
    expect(guard('GET /err').breaker!.state).toBe('open');
    const c = await request(url).get('/err');
    expect([c.status, c.headers['breakwater-fallback']]).toEqual([200, 'circuit_open']);
    expect(reasons).toEqual(['error', 'error', 'circuit_open']);

    const f = await request(url).get('/five');
    expect([f.status, f.text, f.headers['breakwater-fallback']]).toEqual([203, 'stale', 'error']);
  });

  test('timeout: an async fallback answers in time; the late handler writes nothing and keeps its slot', async () => {
    const release = gate();
    const { url } = await start([
      {
        path: '/slow',
        policy: {
          timeout: '40ms',
          bulkhead: { maxConcurrent: 1 },
          fallback: async ({ reason }) => {
            await sleep(30);
            return { status: 200, body: { reason } };
          },
          fallbackOn: ['timeout'],
        },
        handler: async () => {
          await release.promise;
          return { status: 201, body: { late: true } };
        },
      },
    ]);
    const t0 = Date.now();
    const r = await request(url).get('/slow');
    const took = Date.now() - t0;
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ reason: 'timeout' });
    expect(r.headers['breakwater-fallback']).toBe('timeout');
    expect(took).toBeGreaterThanOrEqual(60);
    expect(took).toBeLessThan(1000);
    expect(guard('GET /slow').bulkhead!.activeCount).toBe(1);
    release.open();
    await until(() => guard('GET /slow').bulkhead!.activeCount === 0);
  });

  test('a fallback that throws, rejects, answers late or answers nonsense leaves the default answer', async () => {
    const registry = new Registry();
    const down = { circuitBreaker: 'down' };
    const app = await start(
      [
        {
          path: '/throws',
          policy: {
            ...down,
            fallback: () => {
              throw new Error('fallback broke');
            },
          },
          handler: ok,
        },
        {
          path: '/rejects',
          policy: { ...down, fallback: async () => Promise.reject(new Error('no')) },
          handler: ok,
        },
        {
          path: '/late',
          policy: {
            ...down,
            fallbackTimeout: '50ms',
            fallback: async ({ signal }) => {
              await sleep(400);
              return { body: signal.aborted ? 'abandoned' : 'too late' };
            },
          },
          handler: ok,
        },
        {
          path: '/nonsense',
          policy: { ...down, fallback: () => ({ status: 42, body: 'x' }) },
          handler: ok,
        },
        { path: '/err', policy: { fallback: () => Promise.reject(new Error('no')) }, handler: boom },
      ],
      { registry, breakers: { down: { openFor: '1m' } } },
    );
    const { url } = app;
    app.bw.core.breakers.get('down')!.open();
    for (const p of ['/throws', '/rejects', '/late', '/nonsense']) {
      const t0 = Date.now();
      const r = await request(url).get(p);
      expect([p, r.status, r.body.code]).toEqual([p, 503, 'CIRCUIT_OPEN']);
      expect(r.headers['breakwater-fallback']).toBeUndefined();
      if (p === '/late') expect(Date.now() - t0).toBeLessThan(350);
    }
    // The handler's own error answer goes out, as without a fallback.
    const e = await request(url).get('/err');
    expect(e.status).toBe(500);
    expect(e.headers['breakwater-fallback']).toBeUndefined();
    const text = await registry.metrics();
    expect(text).toMatch(
      /breakwater_fallbacks_total\{route="GET \/throws",reason="circuit_open",result="failed"\} 1/,
    );
    expect(text).toMatch(/breakwater_fallbacks_total\{route="GET \/err",reason="error",result="failed"\} 1/);
    await sleep(400); // the abandoned fallback's timer ends before the leak check
  });

  test('rate_limited is answered only when asked for; HEAD shares the fallback with GET', async () => {
    const { url } = await start([
      {
        path: '/rl',
        policy: { rateLimit: { limit: 1, window: '1m' }, fallback: () => ({ body: 'fallback' }) },
        handler: ok,
      },
      {
        path: '/rl-fb',
        policy: {
          rateLimit: { limit: 1, window: '1m' },
          fallback: () => ({ body: 'fallback' }),
          fallbackOn: ['rate_limited'],
        },
        handler: ok,
      },
    ]);
    await request(url).get('/rl');
    expect((await request(url).get('/rl')).status).toBe(429);
    await request(url).get('/rl-fb');
    const r = await request(url).get('/rl-fb');
    expect([r.status, r.text, r.headers['breakwater-fallback']]).toEqual([200, 'fallback', 'rate_limited']);
    const h = await request(url).head('/rl-fb');
    expect([h.status, h.headers['breakwater-fallback']]).toEqual([200, 'rate_limited']);
  });

  test('staleIfError: the last good answer per key, served with Age while the route refuses', async () => {
    let now = Date.now();
    const clock = { now: () => now } as Clock;
    let n = 0;
    const app = await start(
      [
        {
          path: '/prices',
          policy: { circuitBreaker: 'down', fallback: staleIfError({ maxAge: '1m', clock }) },
          handler: () => ({ status: 200, body: { n: ++n }, headers: { 'Cache-Control': 'max-age=5' } }),
        },
      ],
      { breakers: { down: { openFor: '1m' } } },
    );
    const { url } = app;
    expect((await request(url).get('/prices?c=eur')).body).toEqual({ n: 1 });
    expect((await request(url).get('/prices?c=usd')).body).toEqual({ n: 2 });
    app.bw.core.breakers.get('down')!.open();
    now += 12_000;
    const eur = await request(url).get('/prices?c=eur');
    expect([eur.status, eur.body, eur.headers.age]).toEqual([200, { n: 1 }, '12']);
    expect(eur.headers['breakwater-fallback']).toBe('circuit_open');
    expect(eur.headers['cache-control']).toBe('max-age=5');
    expect(eur.headers['content-type']).toMatch(/^application\/json/);
    expect((await request(url).get('/prices?c=usd')).body).toEqual({ n: 2 });
    // No copy for this key: the refusal goes out.
    const gbp = await request(url).get('/prices?c=gbp');
    expect([gbp.status, gbp.body.code]).toEqual([503, 'CIRCUIT_OPEN']);
    // Too old: the refusal again.
    now += 60_000;
    expect((await request(url).get('/prices?c=eur')).status).toBe(503);
  });

  test('staleIfError keeps no 5xx, no answer over maxBodyBytes, and validates its options', async () => {
    const { url } = await start(
      [
        {
          path: '/big',
          policy: { circuitBreaker: 'down', fallback: staleIfError({ maxAge: '1m', maxBodyBytes: 64 }) },
          handler: () => ({ status: 200, body: { pad: 'x'.repeat(100) } }),
        },
      ],
      { breakers: { down: { openFor: '1m' } } },
    );
    expect((await request(url).get('/big')).status).toBe(200);
    expect(() => staleIfError({ maxAge: 0 })).toThrow(/staleIfError\.maxAge/);
    expect(() => staleIfError({ maxAge: '1m', maxEntries: 0 })).toThrow(/staleIfError\.maxEntries/);
    expect(() => staleIfError({ maxAge: '1m', store: {} as never })).toThrow(/staleIfError\.store/);
  });

  test('bad fallback options fail at start-up, naming the option', async () => {
    await expect(
      start([{ path: '/x', policy: { fallback: 'cached' as never }, handler: ok }]),
    ).rejects.toThrow(ConfigError);
    await expect(
      start([
        {
          path: '/x',
          policy: { fallback: () => ({ body: '' }), fallbackOn: ['nope' as never] },
          handler: ok,
        },
      ]),
    ).rejects.toThrow(/fallbackOn\[0\]/);
    await expect(
      start([{ path: '/x', policy: { fallback: () => ({ body: '' }), fallbackTimeout: 0 }, handler: ok }]),
    ).rejects.toThrow(/fallbackTimeout/);
    await expect(start([{ path: '/x', policy: { fallbackOn: ['timeout'] }, handler: ok }])).rejects.toThrow(
      /route\.fallback/,
    );
  });
});
