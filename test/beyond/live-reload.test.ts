/**
 * Live reconfiguration: `bw.reconfigure()` on real Express and Koa apps swaps route
 * policies while requests flow, keeps the state of what did not change, rejects a bad
 * configuration whole, and lets requests under way finish under their old guard. Then the
 * examples' config watcher: an edited YAML file reaches a running demo service, a broken
 * one is rejected.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BreakwaterOptions,
  ConfigError,
  type ReconfigureOptions,
  type ReconfigureResult,
} from '@breakwater/core';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';
import { load } from '../examples/helpers.js';
import { appPerTest, flavors, gate, type RouteDef, sleep, type TestApp, until } from '../helpers/apps.js';

// The examples' own YAML library (a dependency of theirs, not of the tests).
const { stringify } = createRequire(new URL('../../examples/package.json', import.meta.url))('yaml') as {
  stringify(v: unknown): string;
};

const ok = () => ({ status: 200, body: { ok: true } });
const perMinute = (limit: number) => ({ rateLimit: { limit, window: '1m' } });

type Reconfigurable = { reconfigure(o: ReconfigureOptions): ReconfigureResult };

async function statuses(url: string, path: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await request(url).get(path)).status);
  return out;
}

describe.each(flavors)('$name: bw.reconfigure()', (flavor) => {
  const apps = appPerTest(flavor);
  const start = async (routes: RouteDef[], options: BreakwaterOptions) => {
    const app = await apps.start(routes, options);
    return { url: app.url, bw: app.bw as unknown as TestApp['bw'] & Reconfigurable };
  };

  test('a limit of 2/min becomes 5/min, on an entry and on a route() route', async () => {
    const { url, bw } = await start(
      [
        { path: '/entry', policy: false, handler: ok }, // applied by the app middleware
        { path: '/routed', handler: ok }, // bw.route({}) takes its entry over
      ],
      { metrics: false, routes: { 'GET /entry': perMinute(2), 'GET /routed': perMinute(2) } },
    );
    expect(await statuses(url, '/entry', 3)).toEqual([200, 200, 429]);
    expect(await statuses(url, '/routed', 3)).toEqual([200, 200, 429]);

    const r = bw.reconfigure({ routes: { 'GET /entry': perMinute(5), 'GET /routed': perMinute(5) } });
    expect(r.changed).toEqual(['GET /entry', 'GET /routed']);

    const first = await request(url).get('/entry');
    expect(first.status).toBe(200);
    expect(first.headers['ratelimit-policy']).toBe('"per-minute";q=5;w=60');
    expect(await statuses(url, '/entry', 5)).toEqual([200, 200, 200, 200, 429]);
    expect(await statuses(url, '/routed', 6)).toEqual([200, 200, 200, 200, 200, 429]);
  });

  test('an unchanged route keeps its open breaker and its limiter counts; metrics count each decision once', async () => {
    const registry = new Registry();
    let fail = true;
    const { url, bw } = await start(
      [
        { path: '/flaky', handler: () => (fail ? { status: 500 } : ok()) },
        { path: '/counted', handler: ok },
        { path: '/other', handler: ok },
      ],
      {
        registry,
        routes: {
          'GET /flaky': { circuitBreaker: { consecutiveFailures: 1, openFor: '1m' } },
          'GET /counted': { ...perMinute(3), timeout: '1s' },
          'GET /other': { timeout: '1s' },
        },
      },
    );
    expect(await statuses(url, '/flaky', 2)).toEqual([500, 503]);
    expect(await statuses(url, '/counted', 2)).toEqual([200, 200]);
    fail = false;

    // Reparsed from a file: equal objects, not the same ones. /counted's timeout changes,
    // so its guard is rebuilt, but its rate limit is not: the limiter and its counts stay.
    const r = bw.reconfigure({
      routes: {
        'GET /flaky': { circuitBreaker: { consecutiveFailures: 1, openFor: '1m' } },
        'GET /counted': { ...perMinute(3), timeout: '2s' },
        'GET /other': { timeout: '2s' },
      },
    });
    expect(r).toMatchObject({ changed: ['GET /counted', 'GET /other'], unchanged: ['GET /flaky'] });

    const open = await request(url).get('/flaky');
    expect(open.status).toBe(503);
    expect(open.body.code).toBe('CIRCUIT_OPEN');
    expect(bw.core.breakers.get('GET /flaky')!.state).toBe('open');
    expect(await statuses(url, '/counted', 2)).toEqual([200, 429]);

    const text = await registry.getSingleMetricAsString('breakwater_rate_limit_requests_total');
    expect(text).toContain('breakwater_rate_limit_requests_total{limiter="GET /counted",result="allowed"} 3');
    expect(text).toContain('breakwater_rate_limit_requests_total{limiter="GET /counted",result="limited"} 1');
  });

  test('a bad configuration throws with the option path; the old policies still apply', async () => {
    const { url, bw } = await start([{ path: '/limited', handler: ok }], {
      metrics: false,
      routes: { 'GET /limited': perMinute(2) },
    });
    expect(await statuses(url, '/limited', 1)).toEqual([200]);
    let err: unknown;
    try {
      bw.reconfigure({
        routes: { 'GET /limited': perMinute(10), 'GET /other': perMinute(-1) },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe("breakwater.routes['GET /other'].rateLimit.limit");
    expect((err as ConfigError).message).toMatch(/got -1/);
    expect(await statuses(url, '/limited', 2)).toEqual([200, 429]);
  });

  test('a request in flight during a reconfiguration completes under the guard it started with', async () => {
    const held = gate();
    const { url, bw } = await start(
      [
        {
          path: '/slow',
          handler: async (ctx) => {
            await held.promise;
            return { status: 200, body: { aborted: ctx!.signal.aborted } };
          },
        },
      ],
      { metrics: false, routes: { 'GET /slow': { timeout: '5s', bulkhead: { maxConcurrent: 1 } } } },
    );
    const inFlight = request(url)
      .get('/slow')
      .then((r) => r);
    const guard = () => bw.core.guards.find((g) => g.name === 'GET /slow');
    await until(() => guard()?.bulkhead?.stats.active === 1);
    const old = guard()!;
    // A timeout far shorter than the request has already run: it applies to new requests only.
    bw.reconfigure({ routes: { 'GET /slow': { timeout: '50ms', bulkhead: { maxConcurrent: 1 } } } });
    expect(guard()).not.toBe(old);
    expect(guard()!.bulkhead).toBe(old.bulkhead); // unchanged: the slot in use still counts
    await sleep(100);
    held.open();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ aborted: false });
    expect(old.bulkhead!.stats.active).toBe(0);
    const late = await request(url).get('/slow'); // the gate is open: answers at once
    expect(late.status).toBe(200);
  });
});

interface DemoService {
  url: string;
  bw: TestApp['bw'] & Reconfigurable;
  close(): Promise<void>;
}
interface ReloadReport {
  ok: boolean;
  reason: string;
  result?: ReconfigureResult;
  error?: Error;
  restart: string[];
}

describe('the examples: an edited config file reloads the route policies', () => {
  let dir: string | undefined;
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  test.each(['express', 'koa'] as const)('%s demo service', async (framework) => {
    const cfg = await load<any>('shared/config.mjs');
    const { watchConfig } = await load<any>('shared/reload.mjs');
    const service = await load<any>(`${framework}-service/app.mjs`);
    const raw = cfg.readConfigFile(cfg.DEFAULT_CONFIG_FILE);
    const limited = (limit: number) => ({
      ...raw,
      breakwater: {
        ...raw.breakwater,
        routes: {
          ...raw.breakwater.routes,
          'GET /api/error-prone': {
            timeout: '1s',
            rateLimit: { limit, window: '1m', key: { header: 'x-client-id' } },
          },
        },
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'bw-reload-'));
    const file = join(dir, 'service.yaml');
    writeFileSync(file, stringify(limited(2)));
    // No upstream and no Redis needed: the error-prone route is in-process.
    const env = { PORT: '0', REDIS_URL: 'off', WORKERS: '1', ERROR_RATE: '0', ADMIN_TOKEN: 't' };
    const config = cfg.resolveConfig(cfg.readConfigFile(file), env, file);
    const svc: DemoService = await (framework === 'koa'
      ? service.startKoaService
      : service.startExpressService)(config);
    const reports: ReloadReport[] = [];
    const logs: string[] = [];
    const watcher = watchConfig({
      file,
      config,
      bw: svc.bw,
      env,
      debounceMs: 50,
      log: (l: string) => logs.push(l),
      onReload: (r: ReloadReport) => reports.push(r),
    });
    stop = async () => {
      watcher.close();
      await svc.close();
    };
    const get = () =>
      request(svc.url)
        .get('/api/error-prone')
        .set('x-client-id', 'reload-test')
        .then((r) => r.status);
    const three = async () => [await get(), await get(), await get()];

    // A first request from another client: the route() takes its entry over, guard and all.
    expect(await request(svc.url).get('/api/error-prone').set('x-client-id', 'warm-up')).toHaveProperty(
      'status',
      200,
    );
    expect(await three()).toEqual([200, 200, 429]);

    // Raised in the file: picked up by the watcher, the new limit applies.
    writeFileSync(file, stringify({ ...limited(5), heavy: { workMs: 41 } }));
    await until(() => reports.length === 1, 5000);
    expect(reports[0]).toMatchObject({
      ok: true,
      reason: 'file changed',
      result: { changed: ['GET /api/error-prone'] },
      restart: ['heavy'],
    });
    expect(reports[0]!.result!.unchanged).toContain('GET /api/cache/:key');
    expect(await three()).toEqual([200, 200, 200]);

    // A broken file: rejected with the setting's path, the 5/min limit stays (2 left).
    writeFileSync(file, stringify(limited(-1)));
    await until(() => reports.length === 2, 5000);
    expect(reports[1]!.ok).toBe(false);
    expect(reports[1]!.error!.message).toContain("breakwater.routes['GET /api/error-prone'].rateLimit.limit");
    expect(logs.at(-1)).toMatch(/rejected, the running policies stay/);
    expect(await three()).toEqual([200, 200, 429]);

    // Not YAML at all: rejected too.
    writeFileSync(file, 'breakwater: [unclosed');
    await until(() => reports.length === 3, 5000);
    expect(reports[2]!.ok).toBe(false);
    expect(reports[2]!.error!.message).toMatch(/valid YAML or JSON/);

    // SIGHUP reloads as well (here the file is fixed but the watcher's debounce is bypassed).
    writeFileSync(file, stringify(limited(100)));
    await until(() => reports.length >= 4, 5000);
    process.kill(process.pid, 'SIGHUP');
    await until(() => reports.some((r) => r.reason === 'SIGHUP'), 5000);
    expect(reports.find((r) => r.reason === 'SIGHUP')!.ok).toBe(true);
    expect(await get()).toBe(200);
  });
});
