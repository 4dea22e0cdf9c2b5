/**
 * Rate limits that express real policies, through real apps of every flavor on 127.0.0.1:
 * a login throttle (`count: 'failed'`, `block` growing on repeat), limits by plan from a
 * function, `skip`, a failing limit function, and `bw.limits`. Time is a manual clock.
 */
import type { Clock, RateLimitStore, RouteLimits } from '@breakwater/core';
import { RedisRateLimitStore } from '@breakwater/redis-pool';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { appPerTest, type Flavor, flavors, requestHeader, type TestApp } from '../helpers/apps.js';
import { REDIS_URL, redisOrSkip, uniquePrefix } from '../helpers/redis-server.js';
import { whenReady } from '../redis/servers.js';

const frameworks = flavors;

function manualClock(start = 1_700_000_000_000) {
  const c = { t: start, now: () => c.t, setTimeout: () => 0, clearTimeout: () => {} };
  return c;
}

const limitsOf = (app: TestApp) => (app.bw as unknown as { limits: RouteLimits }).limits;

async function post(app: TestApp, path: string, headers: Record<string, string>) {
  const r = await fetch(`${app.url}${path}`, { method: 'POST', headers });
  return { status: r.status, headers: r.headers, body: await r.text() };
}

type Apps = ReturnType<typeof appPerTest>;

/** The login throttle on one app; `store(clock)` gives the store (default: the limiter's own memory store). */
async function loginThrottle(
  flavor: Flavor,
  apps: Apps,
  label: string,
  store?: (clock: Clock) => RateLimitStore,
): Promise<void> {
  const clock = manualClock();
  const app = await apps.start(
    [
      {
        method: 'post',
        path: '/login',
        policy: {
          name: 'POST /login',
          rateLimit: {
            limit: 3,
            window: '15m',
            algorithm: 'fixed-window',
            key: (req: unknown) => requestHeader(req, 'x-user') ?? 'nobody',
            count: 'failed',
            block: { after: 1, for: '1m', growth: 2, max: '1h' },
            ...(store === undefined ? {} : { store: store(clock) }),
          },
        },
        handler: (ctx) => ({ status: ctx?.header('x-password') === 'right' ? 200 : 401 }),
      },
    ],
    { metrics: false, clock },
  );
  const login = (password: string, user = 'alice') =>
    post(app, '/login', { 'x-user': user, 'x-password': password });
  // Aligned to the 15-minute window, so the window does not roll over mid-test.
  clock.t = Math.ceil(clock.t / 900_000) * 900_000;

  const successes: number[] = [];
  for (let i = 0; i < 6; i++) successes.push((await login('right')).status);
  expect(successes).toEqual([200, 200, 200, 200, 200, 200]);

  const failures: number[] = [];
  for (let i = 0; i < 3; i++) failures.push((await login('wrong')).status);
  expect(failures).toEqual([401, 401, 401]);
  // The successes gave their cost back: three failures left nothing.
  expect(await limitsOf(app).get('POST /login', 'alice')).toMatchObject({
    windows: [{ limit: 3, remaining: 0 }],
    block: { refusals: 0, blocks: 0, blockedMs: 0 },
  });

  const fourth = await login('wrong');
  expect(fourth.status).toBe(429);
  expect(fourth.headers.get('retry-after')).toBe('60');
  expect(fourth.headers.get('ratelimit')).toBe('"per-900s";r=0;t=60');
  expect(JSON.parse(fourth.body)).toMatchObject({ code: 'RATE_LIMITED', status: 429 });

  // In the block even the right password is refused, with the time left of the block.
  clock.t += 20_000;
  const during = await login('right');
  expect([during.status, during.headers.get('retry-after')]).toEqual([429, '40']);
  // Another user is not affected.
  expect((await login('right', 'bob')).status).toBe(200);

  // The block over, the window is still spent: the next refusal blocks twice as long.
  clock.t += 41_000;
  const again = await login('wrong');
  expect([again.status, again.headers.get('retry-after')]).toEqual([429, '120']);
  const state = await limitsOf(app).get('POST /login', 'alice');
  expect(state?.block).toEqual({ refusals: 0, blocks: 2, blockedMs: 120_000 });
  clock.t += 121_000;
  const third = await login('wrong');
  expect([third.status, third.headers.get('retry-after')]).toEqual([429, '240']);

  // An operator forgives the key: counts and block are gone.
  await limitsOf(app).reset('POST /login', 'alice');
  expect(await limitsOf(app).get('POST /login', 'alice')).toBeUndefined();
  expect((await login('wrong')).status).toBe(401);

  console.log(
    `[${flavor.name}, ${label}] login throttle: 6 successful logins admitted (200), failures 1-3 answered 401, ` +
      `the 4th refused 429 with Retry-After ${fourth.headers.get('retry-after')}s; repeat blocks ` +
      `${again.headers.get('retry-after')}s then ${third.headers.get('retry-after')}s (growth 2)`,
  );
}

describe.each(frameworks)('$name', (flavor: Flavor) => {
  const apps = appPerTest(flavor);

  test('a login throttle: successes free, the 4th failure refused, blocks growing on repeat', () =>
    loginThrottle(flavor, apps, 'memory store'));

  test('limit by plan from a function, skip, and a failing limit function', async () => {
    const clock = manualClock();
    const warnings: unknown[] = [];
    const logger = {
      debug() {},
      info() {},
      warn: (o: unknown) => warnings.push(o),
      error() {},
    };
    const plans: Record<string, number> = { free: 2, pro: 5 };
    const app = await apps.start(
      [
        {
          method: 'post',
          path: '/api',
          policy: {
            name: 'POST /api',
            rateLimit: {
              window: '1m',
              algorithm: 'fixed-window',
              key: (req: unknown) => requestHeader(req, 'x-user') ?? 'nobody',
              limit: (req: unknown) => {
                const plan = requestHeader(req, 'x-plan') ?? 'free';
                if (plan === 'broken') throw new Error('plan service down');
                if (plan === 'slow') return Promise.resolve(3);
                if (plan === 'rejects') return Promise.reject(new Error('no plan'));
                return plans[plan] ?? 0;
              },
              skip: (req: unknown) => requestHeader(req, 'x-internal') === 'yes',
            },
          },
          handler: () => ({ status: 200 }),
        },
      ],
      { metrics: false, clock, logger },
    );
    clock.t = Math.ceil(clock.t / 60_000) * 60_000;
    const call = (user: string, plan: string, extra: Record<string, string> = {}) =>
      post(app, '/api', { 'x-user': user, 'x-plan': plan, ...extra });

    const free = [await call('f', 'free'), await call('f', 'free'), await call('f', 'free')];
    expect(free.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(free[0]!.headers.get('ratelimit-policy')).toBe('"per-minute";q=2;w=60');
    expect(free[0]!.headers.get('ratelimit')).toBe('"per-minute";r=1;t=60');

    const pro = await call('p', 'pro');
    expect(pro.headers.get('ratelimit-policy')).toBe('"per-minute";q=5;w=60');
    const slow = await call('s', 'slow');
    expect([slow.status, slow.headers.get('ratelimit-policy')]).toEqual([200, '"per-minute";q=3;w=60']);

    // Skipped: no headers, not counted (the free user is still refused only without the skip).
    const skipped = await call('f', 'free', { 'x-internal': 'yes' });
    expect([
      skipped.status,
      skipped.headers.get('ratelimit'),
      skipped.headers.get('ratelimit-policy'),
    ]).toEqual([200, null, null]);
    expect((await call('f', 'free')).status).toBe(429);

    // Throws, rejects, answers 0: refused with 503, reported once.
    for (const plan of ['broken', 'rejects', 'nonexistent', 'broken']) {
      const r = await call('x', plan);
      expect(r.status).toBe(503);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(JSON.parse(r.body)).toMatchObject({ code: 'RATE_LIMIT_ERROR', status: 503 });
    }
    const limitWarnings = warnings.filter((w) =>
      (w as { option?: string }).option?.endsWith('rateLimit.limit'),
    );
    expect(limitWarnings).toHaveLength(1);
    expect(limitWarnings[0]).toMatchObject({ event: 'misconfiguration' });
    expect(await limitsOf(app).get('POST /api', 'p')).toMatchObject({
      windows: [{ limit: 5, remaining: 4 }],
    });
  });
});

const up = await redisOrSkip('rate-limit policies on Redis');

describe.skipIf(!up).each(frameworks.filter((f) => f.name === 'express 5' || f.name === 'koa 3'))(
  '$name on Redis',
  (flavor: Flavor) => {
    const apps = appPerTest(flavor);
    let client: Redis;
    const prefix = uniquePrefix('rl-policies');
    beforeAll(async () => {
      client = new Redis(REDIS_URL);
      await whenReady(client);
    });
    afterAll(async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await client.quit();
    });

    test('the same login throttle with the Redis store', async () => {
      await loginThrottle(
        flavor,
        apps,
        'Redis store',
        (clock) => new RedisRateLimitStore({ client, prefix, clock, timeout: '2s' }),
      );
      // Every key the store wrote has an expiry.
      const keys = await client.keys(`${prefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      for (const k of keys) expect(await client.pttl(k)).toBeGreaterThan(0);
    });
  },
);
