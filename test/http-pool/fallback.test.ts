/**
 * HttpPool fallbacks against a real upstream on 127.0.0.1: a response in place of the
 * call's error (breaker open, upstream down, timeout, queue full), the refusal still
 * counted; a fallback that declines or throws leaves the original error.
 */
import type { Readable } from 'node:stream';
import { CircuitOpenError, ConfigError, isTimeoutError } from '@breakwater/core';
import {
  type HttpFallbackContext,
  type HttpFallbackEvent,
  HttpPool,
  HttpResponse,
} from '@breakwater/http-pool';
import { afterEach, describe, expect, test } from 'vitest';
import { ok, sleep, type Upstream, upstream } from './upstream.js';

const pools: HttpPool[] = [];
const ups: Upstream[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
  await Promise.all(ups.splice(0).map((u) => u.stop()));
});

async function up(handler = ok): Promise<Upstream> {
  const u = await upstream(handler);
  ups.push(u);
  return u;
}

function pool(o: Partial<ConstructorParameters<typeof HttpPool>[0]> & { baseUrl: string }): HttpPool {
  const p = new HttpPool({ name: 'fb', passiveHealth: false, ...o });
  pools.push(p);
  return p;
}

/** A URL nothing listens on. */
async function deadUrl(): Promise<string> {
  const u = await upstream(ok);
  const url = u.url;
  await u.stop();
  return url;
}

describe('HttpPool fallback', () => {
  test('upstream down: the fallback answers as an HttpResponse, marked; the failure is still counted', async () => {
    const seen: HttpFallbackContext[] = [];
    const events: HttpFallbackEvent[] = [];
    const outcomes: string[] = [];
    const p = pool({
      baseUrl: await deadUrl(),
      fallback: (ctx) => {
        seen.push(ctx);
        return { status: 200, headers: { 'Cache-Control': 'no-store' }, body: { cached: true } };
      },
    });
    p.onFallback((e) => events.push(e));
    p.events.onRequest((o) => outcomes.push(o));
    const r = await p.get('/items', { query: { q: 'a' } });
    expect(r).toBeInstanceOf(HttpResponse);
    expect(r.status).toBe(200);
    expect(r.ok).toBe(true);
    expect(r.origin).toBe('fallback');
    expect(r.headers['breakwater-fallback']).toBe('error');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['content-length']).toBe(String(r.body.length));
    expect(await r.json()).toEqual({ cached: true });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ reason: 'error', pool: 'fb', method: 'GET', path: '/items' });
    expect((seen[0]!.error as { code: string }).code).toBe('ECONNREFUSED');
    expect(seen[0]!.request.query).toEqual({ q: 'a' });
    expect(outcomes).toEqual(['failure']);
    expect(events).toEqual([{ reason: 'error', result: 'served', error: seen[0]!.error }]);
  });

  test('breaker open: circuit_open, the upstream is not called and the breaker stays open', async () => {
    const u = await up((_req, res) => {
      res.statusCode = 503;
      res.end('down');
    });
    const reasons: string[] = [];
    const p = pool({
      baseUrl: u.url,
      circuitBreaker: { consecutiveFailures: 2, openFor: '30s' },
      fallback: ({ reason, error }) => {
        reasons.push(reason);
        expect(error).toBeInstanceOf(CircuitOpenError);
        return { body: 'stale' };
      },
    });
    // A 503 is the upstream's answer, not an error: it comes back as it is.
    expect((await p.get('/x')).status).toBe(503);
    expect((await p.get('/x')).status).toBe(503);
    expect(p.breaker!.state).toBe('open');
    const hits = u.hits;
    const r = await p.get('/x');
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('stale');
    expect(r.headers['breakwater-fallback']).toBe('circuit_open');
    expect(r.headers['content-type']).toBeUndefined();
    expect(u.hits).toBe(hits);
    expect(reasons).toEqual(['circuit_open']);
    expect(p.breaker!.state).toBe('open');
  });

  test('timeout: answered at the timeout, async fallback; per-request fallback replaces the pool one', async () => {
    const u = await up(() => {
      // never answers
    });
    const p = pool({ baseUrl: u.url, timeout: '100ms', fallback: () => ({ body: 'pool' }) });
    const t0 = Date.now();
    const r = await p.get('/slow', {
      fallback: async ({ reason, error }) => {
        await sleep(10);
        return { status: 203, body: { reason, timeout: isTimeoutError(error) } };
      },
    });
    const ms = Date.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(95);
    expect(ms).toBeLessThan(1000);
    expect(r.status).toBe(203);
    expect(await r.json()).toEqual({ reason: 'timeout', timeout: true });
    expect(r.headers['breakwater-fallback']).toBe('timeout');
    // `false`: none for this call, the error is thrown.
    await expect(p.get('/slow', { fallback: false })).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  test('queue full: bulkhead_full', async () => {
    const u = await up(() => {});
    const p = pool({ baseUrl: u.url, connections: 1, maxQueue: 0, timeout: '300ms' });
    const first = p.get('/a').catch((e: unknown) => e);
    await sleep(20);
    const r = await p.get('/b', { fallback: ({ reason }) => ({ status: 503, body: reason }) });
    expect(r.status).toBe(503);
    expect(await r.text()).toBe('bulkhead_full');
    expect(await first).toMatchObject({ code: 'TIMEOUT' });
  });

  test('a fallback that throws, rejects, declines or answers nonsense: the original error, announced as failed', async () => {
    const url = await deadUrl();
    const events: string[] = [];
    const p = pool({ baseUrl: url });
    p.onFallback((e) => events.push(`${e.reason}:${e.result}`));
    const cases = [
      () => {
        throw new Error('fallback broke');
      },
      async () => {
        throw new Error('fallback broke');
      },
      () => undefined,
      () => ({ status: 42, body: 'x' }),
      () => ({ headers: { a: 1 as unknown as string }, body: 'x' }),
    ];
    for (const fallback of cases) {
      const e = await p.get('/x', { fallback }).catch((err: unknown) => err);
      expect(e).toMatchObject({ code: 'ECONNREFUSED' });
    }
    expect(events).toEqual(Array(cases.length).fill('error:failed'));
  });

  test("the caller's abort is not handed to the fallback", async () => {
    const u = await up(() => {});
    let called = 0;
    const p = pool({
      baseUrl: u.url,
      fallback: () => {
        called++;
        return { body: 'fb' };
      },
    });
    const ac = new AbortController();
    const pending = p.get('/x', { signal: ac.signal }).catch((e: unknown) => e);
    await sleep(20);
    ac.abort(new Error('caller left'));
    expect(await pending).toMatchObject({ message: 'caller left' });
    expect(called).toBe(0);
  });

  test('stream: true gets a Readable body; a returned HttpResponse is passed through', async () => {
    const good = await up(ok);
    const mirror = pool({ name: 'mirror', baseUrl: good.url });
    const p = pool({ baseUrl: await deadUrl(), fallback: () => ({ body: 'streamed' }) });
    const s = await p.get('/x', { stream: true });
    expect(typeof (s.body as Readable).pipe).toBe('function');
    expect(await s.text()).toBe('streamed');
    const r = await p.get('/y', { fallback: () => mirror.get('/from-mirror') });
    expect(r.origin).toBe(good.url);
    expect(await r.json()).toEqual({ path: '/from-mirror' });
  });

  test('invalid fallbacks name the option', async () => {
    expect(
      () => new HttpPool({ name: 'bad', baseUrl: 'http://127.0.0.1:1', fallback: 'x' as never }),
    ).toThrow(/httpPool\[bad\]\.fallback/);
    const p = pool({ baseUrl: await deadUrl() });
    await expect(p.get('/x', { fallback: 1 as never })).rejects.toBeInstanceOf(ConfigError);
    // A mistake in the call is not an outage: no fallback for it.
    const q = pool({ name: 'q', baseUrl: await deadUrl(), fallback: () => ({ body: 'fb' }) });
    await expect(q.get('no-slash')).rejects.toBeInstanceOf(ConfigError);
  });
});
