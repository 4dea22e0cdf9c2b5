/**
 * Redis failing under load, through RedisRateLimitStore on a RedisPool, in Express 5 and
 * Koa 3 (the store path is core's; the adapters only differ in I/O, covered elsewhere).
 * A private redis-server on a free port is killed and restarted, and paused with
 * CLIENT PAUSE: every request still gets exactly one answer, quickly (the store's 50 ms
 * timeout and its breaker bound the cost), `onStoreError` decides during the outage, and
 * decisions go back to Redis once it returns. The shared Redis is never touched.
 */
import { RedisPool, RedisRateLimitStore } from '@breakwater/redis-pool';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type PrivateRedis, rawCommand, redisOrSkip, startRedis } from '../helpers/redis-server.js';
import { hflavors, raw, rawGet, serve, sleep, until } from './support.js';

const canRun = await redisOrSkip('hardening: Redis faults', ['private']);

let redis: PrivateRedis | undefined;
beforeAll(async () => {
  if (canRun) redis = await startRedis();
}, 20_000);
afterAll(async () => {
  await redis?.kill();
});

interface Load {
  statuses: Map<number, number>;
  maxMs: number;
  errors: number;
  total: number;
}

/** Keeps `concurrency` requests in flight until `stop()`; records statuses and the slowest answer. */
function load(url: string, path: string, concurrency = 8) {
  const pool = new Pool(url, { connections: concurrency });
  const out: Load = { statuses: new Map(), maxMs: 0, errors: 0, total: 0 };
  let running = true;
  const worker = async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const r = await pool.request({ method: 'GET', path });
        await r.body.dump();
        out.statuses.set(r.statusCode, (out.statuses.get(r.statusCode) ?? 0) + 1);
      } catch {
        out.errors++;
      }
      out.total++;
      out.maxMs = Math.max(out.maxMs, performance.now() - t0);
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker));
  return {
    out,
    async stop() {
      running = false;
      await done;
      await pool.close();
      return out;
    },
  };
}

/** Polls `url` until it answers `want` (or 4 s pass); returns the last status. */
async function pollStatus(url: string, want: number): Promise<number> {
  const end = Date.now() + 4000;
  let last = 0;
  while (Date.now() < end) {
    last = (await fetch(url)).status;
    if (last === want) return last;
    await sleep(50);
  }
  return last;
}

// One flavor per adapter: the store's behaviour does not depend on the framework's major.
const flavors = hflavors.filter((f) => ['express 5', 'koa 3', 'fastify 5', 'hono 4'].includes(f.name));

describe.skipIf(!canRun).each(flavors)('$name', (flavor) => {
  async function start(onStoreError: 'allow' | 'deny' | 'memory', limit = 100_000) {
    const pool = new RedisPool({
      name: 'limits',
      url: redis!.url,
      healthCheck: { interval: '100ms', timeout: '100ms', unhealthyThreshold: 1 },
    });
    // Connected before the load: a decision before the client is ready is a cold start's
    // (answered per onStoreError at once, counted notReady), not the fault under test.
    await pool.use((c) => c.ping());
    const store = new RedisRateLimitStore({ pool, timeout: '50ms', prefix: `bwhard:${process.pid}:` });
    const rl = { rateLimit: { limit, window: '1m', onStoreError } };
    const app = await serve(flavor, {
      bw: { store },
      express(a, bw) {
        bw.pools.add(pool);
        a.get('/rl', bw.route(rl), (_req, res) => void res.json({ ok: true }));
        a.get('/ready', bw.health('ready'));
      },
      koa(router, bw) {
        bw.pools.add(pool);
        router.get('/rl', bw.route(rl), (ctx) => void (ctx.body = { ok: true }));
        router.get('/ready', bw.health('ready'));
      },
      fastify(a, bw) {
        bw.pools.add(pool);
        a.get('/rl', { config: { breakwater: rl } }, async () => ({ ok: true }));
        a.get('/ready', bw.health('ready'));
      },
      hono(a, bw) {
        bw.pools.add(pool);
        a.get('/rl', bw.route(rl), (c) => c.json({ ok: true }));
        a.get('/ready', bw.health('ready'));
      },
    });
    return { app, pool, store };
  }

  test("Redis killed and restarted under load: every request answered fast ('allow'), decisions return to Redis", async () => {
    const { app, pool, store } = await start('allow');
    try {
      const l = load(app.url, '/rl');
      await sleep(250);
      const beforeKill = store.stats.decisions;
      expect(beforeKill).toBeGreaterThan(10);
      await redis!.kill();
      await sleep(600);
      const duringOutage = l.out.total;
      await redis!.restart();
      await until(() => store.stats.decisions > beforeKill + 20, 8000, 'decisions back in Redis');
      const out = await l.stop();
      console.log(
        `${flavor.name} kill/restart: ${out.total} requests, statuses ${JSON.stringify([...out.statuses])}, slowest ${out.maxMs.toFixed(0)} ms, store ${JSON.stringify(store.stats)}`,
      );
      expect(out.errors).toBe(0);
      expect([...out.statuses.keys()]).toEqual([200]);
      expect(out.total).toBeGreaterThan(duringOutage);
      // The outage cost each request at most the store timeout, never a hang.
      expect(out.maxMs).toBeLessThan(1500);
      expect(store.stats.errors + store.stats.shortCircuited).toBeGreaterThan(0);
      expect(store.breaker.state).not.toBe('open');
    } finally {
      await app.close();
      await pool.close();
    }
  }, 20_000);

  test("Redis down with 'deny': refusals are 429 problems, quickly; with 'memory': a local limit still holds", async () => {
    const deny = await start('deny');
    const mem = await start('memory', 3);
    try {
      // The first fetch of a worker loads Node's bundled undici: not what the bound below is about.
      await (await fetch(`${deny.app.url}/ready`)).text();
      await redis!.kill();
      const t0 = Date.now();
      const r = await fetch(`${deny.app.url}/rl`);
      expect(r.status).toBe(429);
      expect(r.headers.get('content-type')).toMatch(/problem\+json/);
      expect(((await r.json()) as { code: string }).code).toBe('RATE_LIMITED');
      expect(Date.now() - t0).toBeLessThan(1000);
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await fetch(`${mem.app.url}/rl`)).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      // Readiness follows the pool's background health check: the critical Redis pool fails it.
      expect(await pollStatus(`${deny.app.url}/ready`, 503)).toBe(503);
      await redis!.restart();
      expect(await pollStatus(`${deny.app.url}/ready`, 200)).toBe(200);
    } finally {
      if (!redis!.running) await redis!.restart();
      await deny.app.close();
      await mem.app.close();
      await deny.pool.close();
      await mem.pool.close();
    }
  }, 20_000);

  test('client disconnects while its rate-limit decision waits on a paused Redis: the handler never runs, nothing leaks', async () => {
    const pool = new RedisPool({ name: 'limits', url: redis!.url, healthCheck: false });
    await pool.use((c) => c.ping()); // ready: the decision below must reach Redis
    const store = new RedisRateLimitStore({ pool, timeout: '600ms', prefix: `bwhard:${process.pid}:wait:` });
    let runs = 0;
    const policy = {
      rateLimit: { limit: 1000, window: '1m' },
      bulkhead: { maxConcurrent: 2 },
      timeout: '2s',
    };
    const app = await serve(flavor, {
      bw: { store },
      express(a, bw) {
        a.get('/wait', bw.route(policy), (_req, res) => {
          runs++;
          res.json({ ok: true });
        });
      },
      koa(router, bw) {
        router.get('/wait', bw.route(policy), (ctx) => {
          runs++;
          ctx.body = { ok: true };
        });
      },
      fastify(a) {
        a.get('/wait', { config: { breakwater: policy } }, async () => {
          runs++;
          return { ok: true };
        });
      },
      hono(a, bw) {
        a.get('/wait', bw.route(policy), (c) => {
          runs++;
          return c.json({ ok: true });
        });
      },
    });
    try {
      expect((await raw(app.port, rawGet('/wait'), { waitMs: 2000 })).statuses).toEqual([200]);
      expect(await rawCommand(redis!.port, 'CLIENT PAUSE 700 ALL')).toBe('+OK');
      // Sent while Redis holds the decision; the client leaves before it comes.
      const gone = await raw(app.port, rawGet('/wait'), { waitMs: 2000, destroyAfterMs: 150 });
      expect(gone.statuses).toEqual([]);
      await sleep(900); // the pause ends and the late decision (or the store timeout) arrives
      expect(runs).toBe(1);
      const g = app.bw.core.guards[0]!;
      expect(g.bulkhead!.stats).toMatchObject({ active: 0, queued: 0 });
      expect(g.pendingDeadlines).toBe(0);
      expect((await raw(app.port, rawGet('/wait'), { waitMs: 2000 })).statuses).toEqual([200]);
      expect(runs).toBe(2);
    } finally {
      await app.close();
      await pool.close();
    }
  }, 20_000);

  test('Redis paused (CLIENT PAUSE) under load: answers stay within the store timeout, the store breaker opens, then recovers', async () => {
    const { app, pool, store } = await start('allow');
    try {
      const l = load(app.url, '/rl');
      await sleep(200);
      expect(await rawCommand(redis!.port, 'CLIENT PAUSE 2500 ALL')).toBe('+OK');
      await sleep(1000);
      const paused = { ...store.stats };
      await sleep(1700);
      const before = store.stats.decisions;
      await until(() => store.stats.decisions > before + 20, 8000, 'decisions back in Redis');
      const out = await l.stop();
      console.log(
        `${flavor.name} pause: ${out.total} requests, slowest ${out.maxMs.toFixed(0)} ms, store ${JSON.stringify(store.stats)}`,
      );
      expect(out.errors).toBe(0);
      expect([...out.statuses.keys()]).toEqual([200]);
      expect(paused.timeouts).toBeGreaterThan(0);
      expect(paused.shortCircuited).toBeGreaterThan(0);
      // 50 ms store timeout plus scheduling (on a busy machine): no request waited out the 2.5 s pause.
      expect(out.maxMs).toBeLessThan(1500);
    } finally {
      await app.close();
      await pool.close();
    }
  }, 20_000);
});
