/**
 * Rate-limit headers in each mode and the client-identity guardrails, on real Express and
 * Koa apps listening on 127.0.0.1: what a client reads (parsed as Structured Fields where
 * the draft says so) and what the logger is told, once, however many requests come.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger, RateLimitOptions } from '@breakwater/core';
import { breakwater as expressBreakwater } from '@breakwater/express';
import { breakwater as honoBreakwater } from '@breakwater/hono';
import { breakwater as koaBreakwater } from '@breakwater/koa';
import { createAdaptorServer } from '@hono/node-server';
import Router from '@koa/router';
import express from 'express';
import express4 from 'express4';
import { Hono } from 'hono';
import Koa from 'koa';
import Koa2 from 'koa2';
import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';
import { parseDictionary, parseList, readDraft10 } from '../helpers/structured-fields.js';

interface Line {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

function recorder(): Logger & { lines: Line[]; warnings(): Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj: obj as Record<string, unknown>, msg });
  };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    warnings: () => lines.filter((l) => l.level === 'warn' && l.obj.event === 'misconfiguration'),
  };
}

/** `proxy`: Express's `trust proxy` value, or Koa's `app.proxy` (a number: `maxIpsCount`). */
type Proxy = false | true | number;

interface App {
  url: string;
  close(): Promise<void>;
}

const open: App[] = [];
afterEach(async () => {
  for (const a of open.splice(0)) await a.close();
});

async function listen(server: http.Server, closeBw: () => Promise<void>): Promise<App> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const app: App = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await closeBw();
    },
  };
  open.push(app);
  return app;
}

type Start = (
  rateLimit: RateLimitOptions | RateLimitOptions[],
  logger: Logger,
  proxy?: Proxy,
) => Promise<App>;

function expressApp(make: typeof express): Start {
  return async (rateLimit, logger, proxy = false) => {
    const bw = expressBreakwater({ logger });
    const app = make();
    if (proxy !== false) app.set('trust proxy', proxy);
    app.use(bw.middleware());
    app.get('/r', bw.route({ rateLimit }), (req, res) => {
      res.json({ ip: req.ip });
    });
    return listen(http.createServer(app), () => bw.close());
  };
}

function koaApp(K: typeof Koa): Start {
  return async (rateLimit, logger, proxy = false) => {
    const bw = koaBreakwater({ logger });
    const app = new K();
    app.silent = true;
    if (proxy !== false) {
      app.proxy = true;
      if (typeof proxy === 'number') app.maxIpsCount = proxy;
    }
    app.use(bw.middleware());
    const router = new Router();
    router.get('/r', bw.route({ rateLimit }) as never, (ctx) => {
      ctx.body = { ip: ctx.ip };
    });
    app.use(router.routes());
    return listen(http.createServer(app.callback()), () => bw.close());
  };
}

const frameworks: Array<[string, Start]> = [
  ['express 5', expressApp(express)],
  ['express 4', expressApp(express4 as unknown as typeof express)],
  ['koa 3', koaApp(Koa)],
  ['koa 2', koaApp(Koa2 as unknown as typeof Koa)],
];

describe.each(frameworks)('%s', (name, start) => {
  describe('header modes', () => {
    test("'draft-10' (the default and `true`): Structured Field lists; Retry-After on the refusal", async () => {
      for (const headers of [undefined, true, 'draft-10'] as const) {
        const { url } = await start(
          { limit: 2, window: '1m', ...(headers === undefined ? {} : { headers }) },
          recorder(),
        );
        const a = await request(url).get('/r');
        expect(a.status).toBe(200);
        const h = readDraft10(a.headers['ratelimit-policy'], a.headers.ratelimit);
        expect(h.policies.get('per-minute')).toEqual({ q: 2, w: 60 });
        // One unit of a 2-a-minute bucket is back in 30 s.
        expect(h.limits.get('per-minute')).toEqual({ r: 1, t: 30 });
        expect(a.headers['x-ratelimit-limit']).toBeUndefined();
        await request(url).get('/r');
        const r = await request(url).get('/r');
        expect(r.status).toBe(429);
        const hr = readDraft10(r.headers['ratelimit-policy'], r.headers.ratelimit);
        expect(hr.limits.get('per-minute')!.r).toBe(0);
        const t = hr.limits.get('per-minute')!.t;
        expect(t).toBeGreaterThanOrEqual(29);
        expect(t).toBeLessThanOrEqual(30);
        expect(Number(r.headers['retry-after'])).toBe(t);
      }
    });

    test('token bucket t: time to the next unit, so a nearly full bucket does not look empty', async () => {
      const { url } = await start({ limit: 60, window: '1m' }, recorder());
      const a = await request(url).get('/r');
      // 59 left of 60; the spent unit is back within a second (time to full would be the same here).
      expect(
        readDraft10(a.headers['ratelimit-policy'], a.headers.ratelimit).limits.get('per-minute'),
      ).toEqual({
        r: 59,
        t: 1,
      });
      for (let i = 0; i < 4; i++) await request(url).get('/r');
      const b = await request(url).get('/r');
      // Six spent: a full bucket is about 6 s away, the next unit at most 1 s.
      const l = readDraft10(b.headers['ratelimit-policy'], b.headers.ratelimit).limits.get('per-minute')!;
      expect(l.r).toBeGreaterThanOrEqual(54);
      expect(l.r).toBeLessThanOrEqual(55);
      expect(l.t).toBe(1);
    });

    test('burst above limit: r never exceeds q (the bucket is advertised over its refill time)', async () => {
      const { url } = await start({ limit: 100, window: '1s', burst: 150 }, recorder());
      for (let i = 0; i < 5; i++) {
        const res = await request(url).get('/r');
        expect(res.status).toBe(200);
        const h = readDraft10(res.headers['ratelimit-policy'], res.headers.ratelimit);
        const q = h.policies.get('per-second')!;
        const r = h.limits.get('per-second')!.r;
        expect(q).toEqual({ q: 150, w: 2 });
        expect(r).toBeLessThanOrEqual(q.q);
        expect(r).toBeGreaterThanOrEqual(140);
      }
    });

    test("'draft-7': a dictionary RateLimit and an integer-list RateLimit-Policy", async () => {
      const { url } = await start(
        [
          { limit: 2, window: '1m', algorithm: 'fixed-window', headers: 'draft-7' },
          { limit: 100, window: '1h', algorithm: 'fixed-window' },
        ],
        recorder(),
      );
      const a = await request(url).get('/r');
      const policy = parseList(a.headers['ratelimit-policy']);
      expect(policy.map((p) => [p.value, p.params.w])).toEqual([
        [2, 60],
        [100, 3600],
      ]);
      const rl = parseDictionary(a.headers.ratelimit);
      expect(rl.get('limit')!.value).toBe(2);
      expect(rl.get('remaining')!.value).toBe(1);
      const reset = rl.get('reset')!.value as number;
      expect(reset).toBeGreaterThanOrEqual(1);
      expect(reset).toBeLessThanOrEqual(60);
      await request(url).get('/r');
      const r = await request(url).get('/r');
      expect(r.status).toBe(429);
      const rr = parseDictionary(r.headers.ratelimit);
      expect(rr.get('limit')!.value).toBe(2);
      expect(rr.get('remaining')!.value).toBe(0);
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(rr.get('reset')!.value as number);
    });

    test("'legacy': X-RateLimit-Limit/Remaining/Reset (Unix seconds) and Retry-After, no RateLimit", async () => {
      const { url } = await start({ limit: 2, window: '1m', headers: 'legacy' }, recorder());
      const before = Date.now();
      const a = await request(url).get('/r');
      expect(a.headers['x-ratelimit-limit']).toBe('2');
      expect(a.headers['x-ratelimit-remaining']).toBe('1');
      const reset = Number(a.headers['x-ratelimit-reset']);
      expect(Number.isInteger(reset)).toBe(true);
      // The spent unit is back in 30 s.
      expect(reset).toBeGreaterThanOrEqual(Math.floor(before / 1000) + 29);
      expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 31);
      expect(a.headers.ratelimit).toBeUndefined();
      expect(a.headers['ratelimit-policy']).toBeUndefined();
      await request(url).get('/r');
      const r = await request(url).get('/r');
      expect(r.status).toBe(429);
      expect(r.headers['x-ratelimit-remaining']).toBe('0');
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(r.headers.ratelimit).toBeUndefined();
    });

    test('false: no rate-limit header at all, Retry-After included; the refusal is still a 429 problem', async () => {
      const { url } = await start({ limit: 1, window: '1m', headers: false }, recorder());
      const a = await request(url).get('/r');
      expect(a.status).toBe(200);
      const r = await request(url).get('/r');
      expect(r.status).toBe(429);
      expect(r.body.code).toBe('RATE_LIMITED');
      for (const res of [a, r])
        for (const h of ['ratelimit', 'ratelimit-policy', 'x-ratelimit-limit', 'retry-after'])
          expect(res.headers[h]).toBeUndefined();
    });

    test('a bad mode is a ConfigError naming rateLimit.headers', async () => {
      await expect(
        start({ limit: 1, window: '1m', headers: 'draft-8' as never }, recorder()),
      ).rejects.toThrow(
        /rateLimit\.headers: expected true, false, 'draft-10', 'draft-7' or 'legacy', got "draft-8"/,
      );
    });
  });

  describe('guardrails, each reported once', () => {
    const proxyOption = name.startsWith('express') ? "app.set('trust proxy')" : 'app.proxy';

    test('X-Forwarded-For reaching an app that trusts no proxy: one warning over many requests', async () => {
      const log = recorder();
      const { url } = await start({ limit: 1000, window: '1m' }, log);
      for (let i = 0; i < 5; i++) expect((await request(url).get('/r')).status).toBe(200);
      expect(log.warnings()).toHaveLength(0);
      for (let i = 0; i < 20; i++)
        expect((await request(url).get('/r').set('x-forwarded-for', `198.51.100.${i}`)).status).toBe(200);
      const w = log.warnings();
      expect(w).toHaveLength(1);
      expect(w[0]!.obj).toMatchObject({
        event: 'misconfiguration',
        option: proxyOption,
        route: expect.any(String),
      });
      expect(w[0]!.msg).toMatch(/X-Forwarded-For but no proxy is trusted/);
    });

    test('a trust-all proxy setting: one warning at the first request', async () => {
      const log = recorder();
      const { url } = await start({ limit: 1000, window: '1m' }, log, true);
      for (let i = 0; i < 10; i++)
        expect((await request(url).get('/r').set('x-forwarded-for', `198.51.100.${i}`)).status).toBe(200);
      const w = log.warnings();
      expect(w).toHaveLength(1);
      expect(w[0]!.obj.option).toBe(proxyOption);
      expect(w[0]!.msg).toMatch(/trusts every X-Forwarded-For entry/);
    });

    test('a logger that throws on the warning: every request is still answered', async () => {
      const log = recorder();
      let thrown = 0;
      log.warn = () => {
        thrown++;
        throw new Error('log sink down');
      };
      const { url } = await start({ limit: 1000, window: '1m', key: () => '' }, log, true);
      for (let i = 0; i < 5; i++)
        expect((await request(url).get('/r').set('x-forwarded-for', `198.51.100.${i}`)).status).toBe(200);
      // The empty key is reported once, and not again after the logger failed (the proxy
      // checks are for 'ip' keys only).
      expect(thrown).toBe(1);
    });

    test('a counted proxy setting: no warning', async () => {
      const log = recorder();
      const { url } = await start({ limit: 1000, window: '1m' }, log, 1);
      for (let i = 0; i < 5; i++) await request(url).get('/r').set('x-forwarded-for', `198.51.100.${i}`);
      await request(url).get('/r');
      expect(log.warnings()).toHaveLength(0);
    });

    test('a key function answering nothing: counted by client IP, one warning, never a 500', async () => {
      const log = recorder();
      const { url } = await start(
        { limit: 2, window: '1m', key: () => undefined as unknown as string },
        log,
        1,
      );
      const from = (ip: string) => request(url).get('/r').set('x-forwarded-for', ip);
      expect((await from('198.51.100.1')).status).toBe(200);
      expect((await from('198.51.100.1')).status).toBe(200);
      expect((await from('198.51.100.1')).status).toBe(429);
      // Another client has its own quota: not one bucket for every keyless request.
      expect((await from('198.51.100.2')).status).toBe(200);
      for (let i = 0; i < 10; i++) await from(`203.0.113.${i}`);
      const w = log.warnings();
      expect(w).toHaveLength(1);
      expect(w[0]!.obj.option).toBe('route.rateLimit.key');
      expect(w[0]!.msg).toMatch(/key function returned undefined: such requests are counted by client IP/);
    });

    test('ipv6Subnet: IPv6 clients in one /56 share a quota by default; 64 splits them', async () => {
      const a = '2001:db8:1:2300::1';
      const b = '2001:db8:1:23ff:ffff::9'; // same /56, another /64
      const c = '2001:db8:1:2400::1'; // the next /56
      const def = await start({ limit: 1, window: '1m' }, recorder(), 1);
      const via = (url: string, ip: string) => request(url).get('/r').set('x-forwarded-for', ip);
      expect((await via(def.url, a)).status).toBe(200);
      expect((await via(def.url, b)).status).toBe(429);
      expect((await via(def.url, c)).status).toBe(200);
      // IPv4 and IPv4-mapped addresses are counted per address.
      expect((await via(def.url, '198.51.100.7')).status).toBe(200);
      expect((await via(def.url, '198.51.100.8')).status).toBe(200);
      const per64 = await start({ limit: 1, window: '1m', ipv6Subnet: 64 }, recorder(), 1);
      expect((await via(per64.url, a)).status).toBe(200);
      expect((await via(per64.url, b)).status).toBe(200);
      expect((await via(per64.url, '2001:db8:1:2300::2')).status).toBe(429);
      await expect(start({ limit: 1, window: '1m', ipv6Subnet: 72 }, recorder())).rejects.toThrow(
        /rateLimit\.ipv6Subnet: expected an integer prefix length from 32 to 64, got 72/,
      );
    });
  });
});

describe('hono 4 (no proxy setting to trust)', () => {
  test('X-Forwarded-For on an ip-keyed route: one warning to key by the proxy’s address; every request answered', async () => {
    const log = recorder();
    const bw = honoBreakwater({ logger: log });
    const app = new Hono();
    app.use(bw.middleware());
    app.get('/r', bw.route({ rateLimit: { limit: 1000, window: '1m', headers: 'legacy' } }), (c) =>
      c.json({}),
    );
    const { url } = await listen(createAdaptorServer({ fetch: app.fetch }) as http.Server, () => bw.close());
    const first = await request(url).get('/r');
    expect(first.headers['x-ratelimit-limit']).toBe('1000');
    expect(log.warnings()).toHaveLength(0);
    for (let i = 0; i < 10; i++)
      expect((await request(url).get('/r').set('x-forwarded-for', `198.51.100.${i}`)).status).toBe(200);
    const w = log.warnings();
    expect(w).toHaveLength(1);
    expect(w[0]!.obj.option).toBe('rateLimit.key');
    expect(w[0]!.msg).toMatch(/X-Forwarded-For.*key by the address your proxy sets/);
  });
});
