import { isPoolQueueFullError, isPoolUnhealthyError } from '@breakwater/core';
import { BreakwaterCore } from '@breakwater/core/adapter';
import type { PoolHealthCheckEvent } from '@breakwater/core/extend';
import { HttpPool } from '@breakwater/http-pool';
import { afterEach, describe, expect, test } from 'vitest';
import { ok, type Upstream, until, upstream } from './upstream.js';

let ups: Upstream[] = [];
let pools: HttpPool[] = [];
let core: BreakwaterCore | undefined;
afterEach(async () => {
  await core?.close();
  await Promise.all(pools.map((p) => p.destroy()));
  await Promise.all(ups.map((u) => u.stop()));
  ups = [];
  pools = [];
  core = undefined;
});

const track = <T extends HttpPool>(p: T): T => {
  pools.push(p);
  return p;
};

describe('active health checks', () => {
  test('upstream down → unhealthy after unhealthyThreshold failed probes → reported → back → healthy', async () => {
    const up = await upstream(ok);
    ups.push(up);
    core = new BreakwaterCore();
    const pool = core.pools.add(
      new HttpPool({
        name: 'api',
        baseUrl: up.url,
        healthCheck: {
          path: '/health',
          interval: 20,
          timeout: 200,
          unhealthyThreshold: 3,
          healthyThreshold: 2,
        },
      }),
    );
    const checks: PoolHealthCheckEvent[] = [];
    pool.events.onHealthCheck((e) => checks.push(e));
    expect(await until(() => checks.filter((c) => c.ok).length >= 2)).toBe(true);
    expect((await core.pools.health()).api!.status).toBe('pass');

    await up.stop();
    const before = checks.length;
    expect(await until(async () => (await pool.health()).status === 'fail')).toBe(true);
    // Exactly unhealthyThreshold failed probes took it out (none was still in flight).
    expect(checks.slice(before).filter((c) => !c.ok).length).toBe(3);
    const report = (await core.pools.health()).api!;
    expect(report.status).toBe('fail');
    expect(report.output).toMatch(/ECONNREFUSED/);
    expect(pool.stats().healthyOrigins).toBe(0);

    await up.start();
    expect(await until(async () => (await pool.health()).status === 'pass')).toBe(true);
    expect((await core.pools.health()).api!.status).toBe('pass');
    expect((await pool.get('/x')).status).toBe(200);
  });

  test('probes keep working while the traffic queue is full', async () => {
    const held: Array<() => void> = [];
    const up = await upstream((req, res) =>
      req.url === '/health' ? res.end('ok') : held.push(() => res.end()),
    );
    ups.push(up);
    const pool = track(
      new HttpPool({
        name: 'api',
        baseUrl: up.url,
        connections: 1,
        maxQueue: 1,
        queueTimeout: '5s',
        timeout: '5s',
        healthCheck: { path: '/health', interval: 20, timeout: 100, unhealthyThreshold: 1 },
      }),
    );
    const traffic = [pool.get('/slow'), pool.get('/queued')];
    expect(await until(() => held.length === 1)).toBe(true);
    expect(isPoolQueueFullError(await pool.get('/more').catch((e) => e))).toBe(true);
    const probes = up.count('/health');
    const okChecks: boolean[] = [];
    pool.events.onHealthCheck((e) => okChecks.push(e.ok));
    expect(await until(() => okChecks.length >= 3)).toBe(true);
    expect(okChecks.every(Boolean)).toBe(true);
    expect(up.count('/health')).toBeGreaterThan(probes);
    expect((await pool.health()).status).toBe('pass');
    expect(pool.stats()).toMatchObject({ queued: 1, inFlight: 1 });
    held[0]!();
    expect(await until(() => held.length === 2)).toBe(true);
    held[1]!();
    await Promise.all(traffic);
  });

  test("onUnhealthy 'reject' fails fast with POOL_UNHEALTHY; 'pass' keeps trying", async () => {
    const up = await upstream((req, res) => {
      res.statusCode = req.url === '/health' ? 500 : 200;
      res.end();
    });
    ups.push(up);
    const hc = { path: '/health', interval: 20, timeout: 100, unhealthyThreshold: 1 };
    const reject = track(
      new HttpPool({ name: 'r', baseUrl: up.url, healthCheck: hc, onUnhealthy: 'reject' }),
    );
    const pass = track(new HttpPool({ name: 'p', baseUrl: up.url, healthCheck: hc, onUnhealthy: 'pass' }));
    expect(await until(() => reject.stats().healthyOrigins === 0 && pass.stats().healthyOrigins === 0)).toBe(
      true,
    );
    const hits = up.count('/x');
    const t0 = Date.now();
    expect(isPoolUnhealthyError(await reject.get('/x').catch((e) => e))).toBe(true);
    expect(Date.now() - t0).toBeLessThan(20);
    expect(up.count('/x')).toBe(hits);
    expect((await pass.get('/x')).status).toBe(200);
  });
});

describe('passive health', () => {
  test('consecutive 5xx take the origin out; without active checks it returns after the cooldown', async () => {
    let status = 500;
    const up = await upstream((_req, res) => {
      res.statusCode = status;
      res.end();
    });
    ups.push(up);
    const pool = track(
      new HttpPool({
        name: 'api',
        baseUrl: up.url,
        onUnhealthy: 'reject',
        passiveHealth: { consecutiveFailures: 3, cooldown: 100 },
      }),
    );
    for (let i = 0; i < 3; i++) expect((await pool.get('/x')).status).toBe(500);
    expect(isPoolUnhealthyError(await pool.get('/x').catch((e) => e))).toBe(true);
    expect(up.hits).toBe(3);
    status = 200;
    expect(await until(async () => (await pool.health()).status === 'pass', 1_000)).toBe(true);
    expect((await pool.get('/x')).status).toBe(200);
  });
});

describe('several origins', () => {
  test('one killed: traffic moves to the others; back in rotation when it heals', async () => {
    ups = await Promise.all([upstream(ok), upstream(ok), upstream(ok)]);
    const pool = track(
      new HttpPool({
        name: 'api',
        origins: ups.map((u) => u.url),
        healthCheck: {
          path: '/health',
          interval: 20,
          timeout: 100,
          unhealthyThreshold: 1,
          healthyThreshold: 1,
        },
      }),
    );
    const spread = async (n: number) => {
      const by = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const r = await pool.get('/work');
        expect(r.status).toBe(200);
        by.set(r.origin, (by.get(r.origin) ?? 0) + 1);
      }
      return by;
    };
    const all = await spread(30);
    expect([...all.keys()].sort()).toEqual(ups.map((u) => u.url).sort());

    const victim = ups[1]!;
    await victim.stop();
    expect(await until(() => pool.stats().healthyOrigins === 2)).toBe(true);
    expect((await pool.health()).status).toBe('warn');
    const without = await spread(30);
    expect(without.has(victim.url)).toBe(false);
    expect(without.size).toBe(2);

    await victim.start();
    expect(await until(() => pool.stats().healthyOrigins === 3)).toBe(true);
    const back = await spread(30);
    expect(back.get(victim.url)).toBeGreaterThan(0);
  });
});
