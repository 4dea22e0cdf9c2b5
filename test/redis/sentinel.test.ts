/**
 * Redis Sentinel for real: one master, one replica and three `redis-sentinel`s on free
 * ports. A RedisPool configured through its sentinels (the README's Sentinel section)
 * carries the store; the master is SIGKILLed under load, the sentinels promote the
 * replica, and decisions come from Redis again through the new master.
 */
import type { RateLimitWindow } from '@breakwater/core/extend';
import { RedisPool, RedisRateLimitStore } from '@breakwater/redis-pool';
import { Redis } from 'ioredis';
import { describe, expect, test } from 'vitest';
import { redisOrSkip, uniquePrefix } from '../helpers/redis-server.js';
import { canStartSentinel, sleep, startSentinelGroup, until } from './servers.js';

const up = await redisOrSkip('Redis Sentinel tests', ['private']);
const sentinel = up && (await canStartSentinel());
if (up && !sentinel) {
  const msg =
    '!!!!! SKIPPING Redis Sentinel tests: redis-sentinel not installed (apt-get install redis-sentinel) !!!!!';
  if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: Redis tests must run)`);
  console.warn(msg);
}

const LIMIT = 1_000_000;
const tb: RateLimitWindow[] = [
  Object.freeze({ name: 'h', algorithm: 'token-bucket', limit: LIMIT, windowMs: 3_600_000, burst: LIMIT }),
];

describe.skipIf(!sentinel)('Redis Sentinel: 1 master, 1 replica, 3 sentinels', () => {
  test('a failover under load: decisions fall back for the window, then come from the new master', async () => {
    const group = await startSentinelGroup('bwmaster', 1000);
    const pool = new RedisPool({
      name: 'sentinel',
      // The Sentinel configuration: no url or host; ioredis asks the sentinels for the master.
      redisOptions: { sentinels: group.sentinels, name: group.name },
      max: 2,
      connectTimeout: '500ms',
      healthCheck: { interval: '200ms', timeout: '300ms', unhealthyThreshold: 2, jitter: 0 },
    });
    const store = new RedisRateLimitStore({
      pool,
      prefix: uniquePrefix('sentinel'),
      timeout: '100ms',
      breaker: { consecutiveFailures: 3, openFor: '200ms', openForMax: '400ms' },
    });
    // A plain ioredis client through the same sentinels, for the store's second user.
    const plain = new Redis({ sentinels: group.sentinels, name: group.name });
    plain.on('error', () => {});
    const viaPlain = new RedisRateLimitStore({
      client: plain,
      prefix: uniquePrefix('sentinel-plain'),
      timeout: '100ms',
    });
    try {
      await until(() => store.isReady && viaPlain.isReady, 10_000, 'clients ready through the sentinels');
      expect(await pool.client.info('replication')).toMatch(/role:master/);
      const outcomes: Array<{ t: number; fromRedis: boolean; via: 'pool' | 'plain' }> = [];
      let stop = false;
      let calls = 0;
      const t0 = performance.now();
      const workers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          calls++;
          const ok = await (w % 2 ? viaPlain : store).consume(`k${(w * 7 + i) % 40}`, tb, 1).then(
            () => true,
            () => false,
          );
          outcomes.push({ t: performance.now() - t0, fromRedis: ok, via: w % 2 ? 'plain' : 'pool' });
          if (!ok) await sleep(5);
        }
      });
      await sleep(800);
      const killedAt = performance.now() - t0;
      const oldMaster = group.master.port;
      await group.master.kill();
      await until(
        async () => (await group.masterPort()) === group.replica.port,
        20_000,
        'the sentinels to promote the replica',
        50,
      );
      const promotedAt = performance.now() - t0;
      const backOf = (via: 'pool' | 'plain') =>
        outcomes.find((o) => o.t > promotedAt && o.fromRedis && o.via === via)?.t;
      await until(
        () => backOf('pool') !== undefined && backOf('plain') !== undefined,
        15_000,
        'decisions from the new master through both clients',
        20,
      );
      const backAt = Math.min(backOf('pool')!, backOf('plain')!);
      const bothBackAt = Math.max(backOf('pool')!, backOf('plain')!);
      await sleep(500);
      stop = true;
      await Promise.all(workers);
      const during = outcomes.filter((o) => o.t > killedAt && o.t < backAt);
      const after = outcomes.filter((o) => o.t > bothBackAt + 200);
      console.log(
        `Sentinel failover: master ${oldMaster} killed; replica ${group.replica.port} promoted ${(promotedAt - killedAt).toFixed(0)} ms later; ` +
          `outage window (kill to the first decision from Redis) ${(backAt - killedAt).toFixed(0)} ms via the ` +
          `${backOf('pool') === backAt ? 'pool' : 'plain client'}, ${(bothBackAt - killedAt).toFixed(0)} ms via the other; ` +
          `decisions from Redis ${outcomes.filter((o) => o.fromRedis).length}, from the fallback ${outcomes.filter((o) => !o.fromRedis).length}` +
          ` (during the window ${during.length}); pool health now ${(await pool.health()).status}`,
      );
      expect(outcomes.length).toBe(calls);
      expect(outcomes.filter((o) => o.t < killedAt).every((o) => o.fromRedis)).toBe(true);
      expect(after.length).toBeGreaterThan(20);
      expect(after.filter((o) => o.fromRedis).length / after.length).toBeGreaterThan(0.95);
      expect(await pool.client.info('replication')).toMatch(/role:master/);
      await until(async () => (await pool.health()).status === 'pass', 5000, 'pool health pass');
    } finally {
      plain.disconnect();
      await pool.close();
      await group.stop();
    }
  }, 90_000);
});
