/**
 * Security review, as tests: refusal bodies and headers, metrics, health, the admin
 * snapshot and the console carry no key, IP, header value or stack trace by default;
 * header-derived keys reach a real Redis only as digests; the Redis store's Lua script
 * takes its key and arguments as KEYS/ARGV, never spliced into script text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RedisPool, RedisRateLimitStore } from '@breakwater/redis-pool';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { type PrivateRedis, redisOrSkip, startRedis } from '../helpers/redis-server.js';
import { type Answer, gate, get, type HApp, hflavors, repoRoot, serve, sleep, until } from './support.js';

const SECRET = 'sk_live_51Hx9SECRETvalue';
const CLIENT_IP = '203.0.113.77';
const MARKER = 'marker-8c1f7e';
const hostile = {
  'x-api-key': SECRET,
  'x-forwarded-for': CLIENT_IP,
  authorization: `Bearer ${SECRET}`,
  cookie: `session=${SECRET}`,
  'x-custom': MARKER,
  'user-agent': `evil/${MARKER}`,
};
const leaks = [SECRET, CLIENT_IP, MARKER, '12345678', 'q=needle'];

function expectClean(what: string, text: string): void {
  for (const l of leaks) expect(text, `${what} contains ${l}`).not.toContain(l);
  // No stack trace: no "at fn (file:line:col)" frames, no file paths.
  expect(text, `${what} has a stack trace`).not.toMatch(/\n\s+at |\.ts:\d+|\.js:\d+|node_modules|\/work\//);
}

const PROBLEM_MEMBERS = ['code', 'detail', 'status', 'title', 'type'];

describe.each(hflavors)('$name', (flavor) => {
  let app: HApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    vi.restoreAllMocks();
  });

  test('refusal bodies, headers, metrics, health and the admin snapshot leak no key, IP, header value or stack', async () => {
    const printed: unknown[] = [];
    for (const m of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const)
      vi.spyOn(console, m).mockImplementation((...a: unknown[]) => void printed.push(a));
    const hold = gate();
    const policies = {
      rl: { rateLimit: { limit: 1, window: '1m', key: { header: 'x-api-key' } } },
      ip: { rateLimit: { limit: 1, window: '1m' } },
      cb: { circuitBreaker: { consecutiveFailures: 1 } },
      bh: { bulkhead: { maxConcurrent: 1 } },
      to: { timeout: '30ms' },
      gw: { timeout: { after: '30ms', status: 504 as const } },
    };
    app = await serve(flavor, {
      trustProxy: true,
      express(a, bw) {
        for (const [k, p] of Object.entries(policies))
          a.get(`/${k}/:id`, bw.route(p), (req, res, next) => {
            // Express 4 ignores returned promises: errors go through next().
            if (k === 'cb') return next(new Error(`failure mentioning ${SECRET} from ${req.ip}`));
            const wait = k === 'bh' || k === 'to' || k === 'gw' ? hold.promise : Promise.resolve();
            void wait.then(() => res.json({ ok: true }));
          });
        a.get('/health', bw.health());
        a.get('/admin', bw.admin());
      },
      koa(router, bw) {
        for (const [k, p] of Object.entries(policies))
          router.get(`/${k}/:id`, bw.route(p), async (ctx) => {
            if (k === 'cb') throw new Error(`failure mentioning ${SECRET} from ${ctx.ip}`);
            if (k === 'bh' || k === 'to' || k === 'gw') await hold.promise;
            ctx.body = { ok: true };
          });
        router.get('/health', bw.health());
        router.get('/admin', bw.admin());
      },
      fastify(a, bw) {
        for (const [k, p] of Object.entries(policies))
          a.get(`/${k}/:id`, { config: { breakwater: p } }, async (request) => {
            if (k === 'cb') throw new Error(`failure mentioning ${SECRET} from ${request.ip}`);
            if (k === 'bh' || k === 'to' || k === 'gw') await hold.promise;
            return { ok: true };
          });
        a.get('/health', bw.health());
        a.get('/admin', bw.admin());
      },
      hono(a, bw) {
        for (const [k, p] of Object.entries(policies))
          a.get(`/${k}/:id`, bw.route(p), async (c) => {
            if (k === 'cb')
              throw new Error(`failure mentioning ${SECRET} from ${c.req.header('x-forwarded-for')}`);
            if (k === 'bh' || k === 'to' || k === 'gw') await hold.promise;
            return c.json({ ok: true });
          });
        a.get('/health', bw.health());
        a.get('/admin', bw.admin());
      },
    });
    const url = `${app.url}`;
    const q = '/12345678?q=needle';
    const refusals: Answer[] = [];
    await get(`${url}/rl${q}`, hostile);
    refusals.push(await get(`${url}/rl${q}`, hostile)); // 429
    await get(`${url}/ip${q}`, hostile);
    refusals.push(await get(`${url}/ip${q}`, hostile)); // 429
    expect((await get(`${url}/cb${q}`, hostile)).status).toBe(500);
    refusals.push(await get(`${url}/cb${q}`, hostile)); // 503 circuit open
    const holding = get(`${url}/bh${q}`, hostile);
    await until(() => app!.bw.core.guards.some((g) => g.bulkhead?.activeCount === 1));
    refusals.push(await get(`${url}/bh${q}`, hostile)); // 503 bulkhead full
    refusals.push(await get(`${url}/to${q}`, hostile)); // 503 timeout
    refusals.push(await get(`${url}/gw${q}`, hostile)); // 504 timeout
    hold.open();
    expect((await holding).status).toBe(200);

    expect(refusals.map((r) => r.status)).toEqual([429, 429, 503, 503, 503, 504]);
    for (const r of refusals) {
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      const body = JSON.parse(r.body) as Record<string, unknown>;
      const members = Object.keys(body)
        .filter((k) => k !== 'violated-policies')
        .sort();
      expect(members).toEqual(PROBLEM_MEMBERS);
      expectClean(`${r.status} body`, r.body);
      const { date: _d, ...headers } = r.headers;
      expectClean(`${r.status} headers`, JSON.stringify(headers));
      expect(headers['set-cookie']).toBeUndefined();
    }

    const metrics = await app.registry.metrics();
    expect(metrics).toContain('breakwater_rejections_total');
    expectClean('metrics', metrics);
    const health = await get(`${url}/health`);
    expectClean('health', health.body);
    const admin = await get(`${url}/admin`);
    expect(admin.status).toBe(200);
    expectClean('admin snapshot', admin.body);
    // Breakwater itself printed nothing (the app's own error handler is quiet too).
    expect(printed).toEqual([]);
  });
});

const canRedis = await redisOrSkip('hardening: keys in a real Redis', ['private']);

describe.skipIf(!canRedis)('keys in a real Redis store', () => {
  let redis: PrivateRedis;
  let inspect: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    inspect = new Redis(redis.url, { lazyConnect: true });
    inspect.on('error', () => {});
    await inspect.connect();
  }, 20_000);
  afterAll(async () => {
    await inspect?.quit();
    await redis?.kill();
  });

  test.each(hflavors)(
    '$name: header-derived keys reach Redis as digests; IP keys as the grouped address',
    async (flavor) => {
      await inspect.flushall();
      const pool = new RedisPool({ name: 'limits', url: redis.url, healthCheck: false });
      const store = new RedisRateLimitStore({ pool, prefix: 'sec:', startup: { wait: '2s' } });
      const byKey = { rateLimit: { limit: 5, window: '1m', key: { header: 'x-api-key' } } };
      const byIp = { rateLimit: { limit: 5, window: '1m' } };
      const app = await serve(flavor, {
        bw: { store },
        express(a, bw) {
          a.get('/key', bw.route(byKey), (_req, res) => void res.json({}));
          a.get('/ip', bw.route(byIp), (_req, res) => void res.json({}));
        },
        koa(router, bw) {
          router.get('/key', bw.route(byKey), (ctx) => void (ctx.body = {}));
          router.get('/ip', bw.route(byIp), (ctx) => void (ctx.body = {}));
        },
        fastify(a) {
          a.get('/key', { config: { breakwater: byKey as never } }, async () => ({}));
          a.get('/ip', { config: { breakwater: byIp } }, async () => ({}));
        },
        hono(a, bw) {
          a.get('/key', bw.route(byKey as never), (c) => c.json({}));
          a.get('/ip', bw.route(byIp), (c) => c.json({}));
        },
      });
      try {
        expect((await get(`${app.url}/key`, { 'x-api-key': SECRET })).headers.ratelimit).toMatch(/r=4/);
        expect((await get(`${app.url}/key`, { 'x-api-key': `${SECRET}}{evil` })).status).toBe(200);
        expect((await get(`${app.url}/ip`)).status).toBe(200);
        const keys = (await inspect.keys('*')).sort();
        expect(keys).toHaveLength(3);
        for (const k of keys) {
          expect(k).not.toContain('sk_live');
          expect(k).not.toContain('evil');
        }
        const headerKeys = keys.filter((k) => k.startsWith('sec:{GET /key:'));
        expect(headerKeys).toHaveLength(2);
        for (const k of headerKeys) expect(k).toMatch(/^sec:\{GET \/key:[A-Za-z0-9_-]{22}\}$/);
        // IP keys are stored as the address (documented in SECURITY.md): not secret, but personal data.
        expect(keys).toContain('sec:{GET /ip:127.0.0.1}');
        // The values are packed doubles: no key, header or address inside.
        for (const k of keys) {
          expect(await inspect.type(k)).toBe('string');
          const v = (await inspect.getBuffer(k))!;
          expect(v.length % 8).toBe(0);
          expect(v.includes(Buffer.from('sk_live'))).toBe(false);
          expect(v.includes(Buffer.from('127.0.0.1'))).toBe(false);
        }
        // Hostile keys (as a key function might return) are data, never code.
        await inspect.set('sec:sentinel', 'still here');
        const evil = [
          "x') redis.call('FLUSHALL') --",
          ']]..redis.call("FLUSHALL")..[[',
          'a\r\nFLUSHALL\r\n',
          '{}{{}}',
          '*',
        ];
        for (const e of evil) {
          const d = await store.consume(e, app.bw.core.guards[0]!.limiter!.windows, 1);
          expect(d.allowed).toBe(true);
        }
        expect(await inspect.get('sec:sentinel')).toBe('still here');
        expect(await inspect.dbsize()).toBe(keys.length + evil.length + 1);
      } finally {
        await app.close();
        await pool.close();
      }
    },
  );
});

test('the Redis store script takes request data only as KEYS/ARGV; only validated settings are compiled in', () => {
  const script = readFileSync(join(repoRoot, 'packages/redis-pool/src/script.ts'), 'utf8');
  const store = readFileSync(join(repoRoot, 'packages/redis-pool/src/scriptClient.ts'), 'utf8');
  // The script is generated per set of windows from the limiter's settings alone: the
  // builder sees no key, cost or clock, and refuses settings (a block's too) that are not
  // finite numbers > 0.
  expect(script).toMatch(
    /export function buildScript\(windows: readonly RateLimitWindow\[\], block\?: RateLimitBlock\): RateLimitScript/,
  );
  expect(script).toMatch(
    /for \(const k of \['after', 'forMs', 'growth', 'maxMs', 'windowMs'\] as const\)\s*checkSetting\(b\[k\], `block \$\{k\}`\)/,
  );
  expect(script).toMatch(
    /for \(const k of \['limit', 'windowMs', 'burst'\] as const\) checkSetting\(w\[k\], k\)/,
  );
  expect(script).toMatch(/CODE\[w\.algorithm\] === undefined\)\s*throw/);
  const lua = /const lua = `([\s\S]*?)\n`;\n/.exec(script)![1]!;
  // Inside the script, request data arrives only as KEYS[1], ARGV[1] (cost) and ARGV[2] (now).
  expect([...new Set([...lua.matchAll(/(KEYS|ARGV)\[(\d+)\]/g)].map((m) => m[0]))].sort()).toEqual([
    'ARGV[1]',
    'ARGV[2]',
    'KEYS[1]',
  ]);
  expect(lua).toMatch(/local key = KEYS\[1\]/);
  expect(lua).not.toMatch(/\bloadstring\b|\bload\(|\bdofile\b|\brequire\b|\bsetfenv\b/);
  // Every Redis command in it touches only that key (or reads the clock).
  const calls = [...lua.matchAll(/redis\.p?call\('(\w+)'(?:,\s*(\w+))?/g)].map((m) =>
    `${m[1]} ${m[2] ?? ''}`.trim(),
  );
  expect(new Set(calls)).toEqual(new Set(['TIME', 'GET key', 'PTTL key', 'SETRANGE key', 'SET key']));
  // The client sends the script by SHA with one key; key, cost and now are arguments.
  const evals = [...store.matchAll(/c\.(evalsha|eval)Buffer\(([^)]*)\)/g)].map((m) => m[2]);
  expect(evals.length).toBeGreaterThanOrEqual(2);
  for (const args of evals) expect(args).toMatch(/^(sha|lua), 1, key, cost(, now)?$/);
});

test('pool credentials never appear in the health report, metrics or the admin snapshot', async () => {
  const { breakwater } = await import('@breakwater/express');
  const { HttpPool } = await import('@breakwater/http-pool');
  const { AdminApi } = await import('@breakwater/core/adapter');
  const { Registry } = await import('prom-client');
  const bw = breakwater({ registry: new Registry() });
  try {
    // HttpPool refuses credentials in its URL outright.
    expect(() => new HttpPool({ name: 'h', baseUrl: 'http://bob:TOPSECRET2@127.0.0.1:1/api' })).toThrow(
      /without query, hash or credentials/,
    );
    // A Redis URL carries its password: the pool's failing health must not repeat it.
    const pool = new RedisPool({
      name: 'r',
      url: 'redis://user:TOPSECRET1@127.0.0.1:1/0',
      healthCheck: { interval: '50ms', timeout: '100ms', unhealthyThreshold: 1 },
    });
    bw.pools.add(pool);
    // Health reports are cached for a second: poll until the failing pool shows.
    let health = await bw.core.health.answer('detailed');
    for (let i = 0; i < 60 && health.status !== 503; i++) {
      await sleep(50);
      health = await bw.core.health.answer('detailed');
    }
    expect(health.status).toBe(503);
    expect(health.body).toMatch(/"status":"fail"/);
    const metrics = await bw.core.metrics!.render(undefined);
    const admin = await new AdminApi(bw.core).handle({ method: 'GET' });
    for (const [what, text] of [
      ['health', health.body],
      ['metrics', metrics.body],
      ['admin', admin.body],
    ] as const) {
      expect(text, what).not.toContain('TOPSECRET');
      expect(text, what).not.toContain('user:');
    }
  } finally {
    await bw.close();
  }
});
