/**
 * Redis Cluster for real: three `redis-server --cluster-enabled yes` nodes on free ports
 * joined by `redis-cli --cluster create`. Store decisions and pool commands go through
 * ioredis's Cluster client: no CROSSSLOT, limits exact, keys spread over the masters.
 */

import type { RateLimitWindow } from '@breakwater/core/extend';
import { RedisPool, RedisRateLimitStore } from '@breakwater/redis-pool';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type PrivateCluster, redisOrSkip, startCluster } from '../helpers/redis-server.js';

const up = await redisOrSkip('Redis Cluster tests', ['private']);

/** Resolves when a Cluster client is ready (it connected and read the slot map). */
function ready(c: Cluster): Promise<void> {
  if (c.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`Cluster client still ${c.status} after 20s`)), 20_000);
    c.once('ready', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

const w = (algorithm: RateLimitWindow['algorithm'], limit: number, windowMs: number): RateLimitWindow =>
  Object.freeze({ name: `${algorithm}-${windowMs}`, algorithm, limit, windowMs, burst: limit });

describe.skipIf(!up)('on a three-node Redis Cluster', () => {
  let cluster: PrivateCluster;
  let pool: RedisPool;
  let plain: Cluster;

  beforeAll(async () => {
    // startCluster returns once every node agrees the cluster is ok (see the helper).
    cluster = await startCluster(3);
    // Timeouts generous for a loaded CI machine: this file checks behaviour, not latency.
    pool = new RedisPool({
      name: 'cluster',
      nodes: cluster.nodes,
      max: 4,
      connectTimeout: '10s',
      healthCheck: { interval: '200ms', timeout: '5s' },
    });
    plain = new Cluster(cluster.nodes);
    plain.on('error', () => {});
    // Both clients hold the full slot map before the first command.
    await Promise.all([ready(pool.client as Cluster), ready(plain)]);
  }, 60_000);

  afterAll(async () => {
    await pool?.close();
    await plain?.quit();
    await cluster?.stop();
  });

  test('store decisions through a pool and a plain Cluster client: exact, one slot each', async () => {
    const viaPool = new RedisRateLimitStore({ pool, prefix: 'bw:', timeout: '1s' });
    const viaPlain = new RedisRateLimitStore({ client: plain, prefix: 'bw:', timeout: '1s' });
    const windows = [
      w('token-bucket', 5, 3_600_000),
      w('fixed-window', 7, 3_600_000),
      w('sliding-window', 6, 7_200_000),
    ];
    const keys = Array.from({ length: 40 }, (_, i) => `GET /x:client-${i}`);
    // Twelve attempts per key, half through each store, all at once.
    const results = await Promise.all(
      keys.flatMap((k) =>
        Array.from({ length: 12 }, (_, i) =>
          (i % 2 ? viaPool : viaPlain).consume(k, windows, 1).then((d) => [k, d] as const),
        ),
      ),
    );
    for (const k of keys) {
      const ds = results.filter(([key]) => key === k).map(([, d]) => d);
      expect(ds.filter((d) => d.allowed).length).toBe(5);
      // Refusals consumed from no window: the fixed and sliding windows kept 7 - 5 and 6 - 5.
      for (const d of ds.filter((x) => !x.allowed)) {
        expect(d.violated).toEqual([0]);
        expect(d.remaining).toEqual([0, 2, 1]);
      }
    }
    expect(viaPool.stats.errors + viaPlain.stats.errors).toBe(0);
    expect(viaPool.stats.decisions + viaPlain.stats.decisions).toBe(480);
    // The keys landed on every master (hash tags keep one key's decision in one slot).
    const perNode = await Promise.all(plain.nodes('master').map((n) => n.keys('bw:{GET /x:client-*')));
    expect(perNode.length).toBe(3);
    for (const ks of perNode) expect(ks.length).toBeGreaterThan(0);
    expect(perNode.flat().length).toBe(40);
    // SCRIPT FLUSH on every node: the next decisions reload the script and stay exact.
    await Promise.all(plain.nodes('master').map((n) => n.script('FLUSH')));
    const again = await Promise.all(keys.map((k) => viaPool.consume(`${k}:again`, windows, 1)));
    expect(again.every((d) => d.allowed && d.remaining[0] === 4)).toBe(true);
    expect(viaPool.stats.scriptLoads).toBeGreaterThan(0);
    expect(viaPool.stats.errors).toBe(0);
  });

  test('pool commands: shared client across slots, dedicated connections for MULTI and WATCH', async () => {
    await Promise.all(Array.from({ length: 30 }, (_, i) => pool.client.set(`plain:${i}`, String(i))));
    const vals = await Promise.all(Array.from({ length: 30 }, (_, i) => pool.client.get(`plain:${i}`)));
    expect(vals).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
    const res = await pool.use(async (c) => {
      await c.watch('{acct}:balance');
      return c.multi().set('{acct}:balance', '10').incr('{acct}:version').exec();
    });
    expect(res?.map(([err]) => err)).toEqual([null, null]);
    // A command error inside use() leaves the connection usable.
    await expect(pool.use((c) => c.call('NO_SUCH_COMMAND'))).rejects.toThrow(/unknown command/i);
    expect(await pool.use((c) => c.get('{acct}:balance'))).toBe('10');
    expect(pool.stats()).toMatchObject({ active: 0, pending: 0 });
    const h = await pool.health();
    expect(h.status).toBe('pass');
  });
});
