/**
 * A Redis Cluster losing a master, for real: three masters with a replica each
 * (`cluster-require-full-coverage no`), one master
 * SIGKILLed under HTTP load until its replica takes over. With a breaker per master only
 * the lost shard's keys fall back (against a single breaker, shown alongside); the pool's
 * health reports what requests see; every request is answered exactly once. And a Cluster
 * without replicas in `cluster_state:fail` fails the health check within one interval.
 */
import type { AddressInfo } from 'node:net';
import { CircuitBreaker } from '@breakwater/core';
import { breakwater } from '@breakwater/express';
import { isStoreUnavailableError, RedisPool, RedisRateLimitStore } from '@breakwater/redis-pool';
import express from 'express';
import type { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { keySlot } from '../../packages/redis-pool/src/slots.js';
import { redisOrSkip, uniquePrefix } from '../helpers/redis-server.js';
import { type ClusterWithReplicas, sleep, startClusterWithReplicas, until } from './servers.js';

const up = await redisOrSkip('Redis Cluster failover tests', ['private']);

function ready(c: Cluster): Promise<void> {
  if (c.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => c.once('ready', () => resolve()));
}

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
beforeAll(() => void process.on('unhandledRejection', onUnhandled));
afterAll(() => void process.off('unhandledRejection', onUnhandled));

describe.skipIf(!up)('a three-master Cluster with replicas: a master lost under load', () => {
  let cluster: ClusterWithReplicas;
  beforeAll(async () => {
    // Full coverage not required: the surviving shards keep serving while the lost one is
    // failed over (with it required, Redis refuses every key from the failure's detection
    // to the promotion).
    cluster = await startClusterWithReplicas(3, 1, 2000, ['--cluster-require-full-coverage', 'no']);
  }, 90_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  test('only the lost shard falls back, for the failover window; health tells; every request answered once', async () => {
    const pool = new RedisPool({
      name: 'fleet',
      nodes: cluster.nodes,
      max: 2,
      connectTimeout: '1s',
      healthCheck: { interval: '200ms', timeout: '800ms', unhealthyThreshold: 3, jitter: 0 },
    });
    const prefix = uniquePrefix('fleet');
    const store = new RedisRateLimitStore({
      pool,
      prefix,
      timeout: '150ms',
      breaker: { consecutiveFailures: 3, openFor: '250ms', openForMax: '500ms' },
    });
    // The same traffic through one breaker for every key, as before per-master breakers.
    const single = new RedisRateLimitStore({
      pool,
      prefix: `${prefix}single:`,
      timeout: '150ms',
      breaker: new CircuitBreaker({ consecutiveFailures: 3, openFor: '250ms', openForMax: '500ms' }),
    });
    const bw = breakwater({ store });
    bw.pools.add(pool);
    const app = express();
    app.use(bw.middleware());
    const served = new Map<string, number>();
    app.use((req, res, next) => {
      const id = String(req.headers['x-id']);
      res.on('finish', () => served.set(id, (served.get(id) ?? 0) + 1));
      next();
    });
    const LIMIT = 1_000_000;
    app.get(
      '/x',
      bw.route({
        rateLimit: {
          limit: LIMIT,
          window: '1h',
          key: (req) => String(req.headers['x-client']),
          onStoreError: 'allow',
        },
      }),
      (_q, r) => void r.json({ ok: true }),
    );
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
    try {
      const client = pool.client as Cluster;
      await ready(client);
      const ownerOf = (k: string) => client.slots[keySlot(`${prefix}{GET /x:${k}}`)]![0]!;
      const keys = Array.from({ length: 90 }, (_, i) => `c${i}`);
      const owners = new Map(keys.map((k) => [k, ownerOf(k)]));
      const victimAddr = [...new Set(owners.values())][0]!;
      const victim = cluster.members.find((m) => `127.0.0.1:${m.port}` === victimAddr)!;
      expect(new Set(owners.values()).size).toBe(3);

      interface Answer {
        t: number;
        key: string;
        status: number;
        fromRedis: boolean;
      }
      const answers: Answer[] = [];
      const sent = new Set<string>();
      let stop = false;
      let seq = 0;
      const t0 = performance.now();
      const workers = Array.from({ length: 16 }, async (_, w) => {
        for (let i = w; !stop; i += 16) {
          const key = keys[i % keys.length]!;
          const id = `${w}-${seq++}`;
          sent.add(id);
          const r = await fetch(url, { headers: { 'x-client': key, 'x-id': id } });
          await r.arrayBuffer();
          const left = Number(/r=(\d+)/.exec(r.headers.get('ratelimit') ?? '')?.[1]);
          answers.push({ t: performance.now() - t0, key, status: r.status, fromRedis: left < LIMIT - 0.5 });
        }
      });
      // Alongside, the single-breaker store on the same keys (no HTTP: the store's own verdicts).
      const singleOutcomes: Array<{ t: number; key: string; fromRedis: boolean }> = [];
      const tb = [
        { name: 'h', algorithm: 'token-bucket' as const, limit: LIMIT, windowMs: 3_600_000, burst: LIMIT },
      ];
      const singleLoop = Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let i = w; !stop; i += 8) {
            const key = keys[i % keys.length]!;
            const ok = await single.consume(`GET /x:${key}`, tb, 1).then(
              () => true,
              (e: unknown) => {
                if (!isStoreUnavailableError(e)) throw e;
                return false;
              },
            );
            singleOutcomes.push({ t: performance.now() - t0, key, fromRedis: ok });
            if (!ok) await sleep(2);
          }
        }),
      );
      const health: Array<{ t: number; status: string }> = [];
      const healthLoop = (async () => {
        while (!stop) {
          health.push({ t: performance.now() - t0, status: (await pool.health()).status });
          await sleep(50);
        }
      })();

      await sleep(1000);
      const killedAt = performance.now() - t0;
      await victim.server.kill();
      const lost = keys.filter((k) => owners.get(k) === victimAddr);
      // Until the lost shard's keys are decided by Redis again (its replica promoted).
      await until(
        () => answers.some((a) => a.t > killedAt + 200 && lost.includes(a.key) && a.fromRedis),
        30_000,
        "the lost shard's keys decided by Redis again",
        50,
      );
      const recoveredAt = answers.find((a) => a.t > killedAt + 200 && lost.includes(a.key) && a.fromRedis)!.t;
      await until(async () => (await pool.health()).status === 'pass', 10_000, 'health passing again');
      await sleep(500);
      stop = true;
      await Promise.all([...workers, singleLoop, healthLoop]);

      const during = answers.filter((a) => a.t > killedAt && a.t < recoveredAt);
      const survivors = during.filter((a) => !lost.includes(a.key));
      const lostDuring = during.filter((a) => lost.includes(a.key));
      const singleDuring = singleOutcomes.filter(
        (o) => o.t > killedAt && o.t < recoveredAt && owners.get(o.key) !== victimAddr,
      );
      const pct = (xs: Array<{ fromRedis: boolean }>) =>
        xs.length === 0 ? 'n/a' : `${((100 * xs.filter((x) => x.fromRedis).length) / xs.length).toFixed(1)}%`;
      const firstNonPass = health.find((h) => h.t > killedAt && h.status !== 'pass');
      console.log(
        [
          'Cluster failover under load (3 masters + 3 replicas, node timeout 2s):',
          `  requests ${answers.length}; outage window of the lost shard ${(recoveredAt - killedAt).toFixed(0)} ms`,
          `  during it: surviving shards' requests from Redis ${pct(survivors)} of ${survivors.length}` +
            ` (one breaker for all: ${pct(singleDuring)} of ${singleDuring.length});` +
            ` lost shard's from Redis ${pct(lostDuring)} of ${lostDuring.length}`,
          `  store: ${JSON.stringify(store.stats)}`,
          `  health after the kill: first ${firstNonPass?.status ?? 'none'} at +${((firstNonPass?.t ?? killedAt) - killedAt).toFixed(0)} ms;` +
            ` statuses seen ${[...new Set(health.filter((h) => h.t > killedAt).map((h) => h.status))].join(', ')}`,
          `  breakers: ${[...store.breakers].map(([a, b]) => `${a}=${b.state}`).join(' ')}`,
        ].join('\n'),
      );

      // Every request answered, exactly once, with a 200 (onStoreError: 'allow').
      expect(answers.length).toBe(sent.size);
      expect(answers.every((a) => a.status === 200)).toBe(true);
      expect([...sent].every((id) => served.get(id) === 1)).toBe(true);
      expect(unhandled).toEqual([]);
      // Before the kill, everything came from Redis.
      const before = answers.filter((a) => a.t < killedAt - 50);
      expect(before.length).toBeGreaterThan(50);
      expect(before.every((a) => a.fromRedis)).toBe(true);
      // During the outage the other shards kept deciding from Redis, the lost one fell back.
      expect(survivors.length).toBeGreaterThan(50);
      expect(survivors.filter((a) => a.fromRedis).length / survivors.length).toBeGreaterThan(0.9);
      expect(lostDuring.filter((a) => !a.fromRedis).length).toBeGreaterThan(0);
      // Health did not say pass throughout, and passes again after the failover.
      expect(firstNonPass).toBeDefined();
      expect((await pool.health()).status).toBe('pass');
      // After the failover every shard decides from Redis again.
      const after = answers.filter((a) => a.t > recoveredAt + 300);
      expect(after.length).toBeGreaterThan(0);
      expect(after.filter((a) => a.fromRedis).length / after.length).toBeGreaterThan(0.9);
    } finally {
      await new Promise((r) => server.close(r));
      await bw.close();
    }
  }, 90_000);
});

describe.skipIf(!up)('a Cluster without replicas in cluster_state:fail', () => {
  let cluster: ClusterWithReplicas;
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    cluster = await startClusterWithReplicas(3, 0, 1000);
  }, 90_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test('health is fail within one check interval of cluster_state:fail, though the others PING', async () => {
    const interval = 300;
    const pool = new RedisPool({
      name: 'down',
      nodes: cluster.nodes,
      max: 1,
      connectTimeout: '500ms',
      // A threshold that failed PINGs or keyed probes alone would take ten checks to cross.
      healthCheck: { interval, timeout: '250ms', unhealthyThreshold: 10, jitter: 0 },
    });
    cleanups.push(() => pool.close());
    await ready(pool.client as Cluster);
    await until(async () => (await pool.health()).status === 'pass', 5000, 'health passing');
    const [victim, other] = cluster.members;
    await victim!.server.kill();
    const t0 = performance.now();
    await until(async () => (await cluster.state(other!.port)) === 'fail', 15_000, 'cluster_state:fail', 10);
    const failAt = performance.now();
    await until(async () => (await pool.health()).status === 'fail', 5000, 'health fail');
    const seenAfter = performance.now() - failAt;
    const h = await pool.health();
    // The surviving masters still answer PING: the failure comes from the cluster's state.
    const pings = await Promise.all(
      (pool.client as Cluster).nodes('master').map((n) =>
        n.ping().then(
          () => 1,
          () => 0,
        ),
      ),
    );
    console.log(
      `Cluster down: cluster_state:fail ${(failAt - t0).toFixed(0)} ms after the kill; health 'fail' ` +
        `${seenAfter.toFixed(0)} ms later (interval ${interval} ms); output: ${h.output}; surviving masters answering PING: ${pings.filter(Boolean).length}`,
    );
    expect(h.status).toBe('fail');
    expect(h.output).toMatch(/cluster_state:fail|no master|master/);
    expect(pings.filter(Boolean).length).toBeGreaterThanOrEqual(2);
    // One interval, plus the probe's own timeout and the sampling above.
    expect(seenAfter).toBeLessThan(interval + 250 + 200);
  }, 60_000);
});
