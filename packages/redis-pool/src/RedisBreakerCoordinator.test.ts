import { isConfigError } from '@breakwater/core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RedisBreakerCoordinator } from './RedisBreakerCoordinator.js';
import { REDIS_URL, redisOrSkip } from './test-redis.js';

const up = await redisOrSkip('RedisBreakerCoordinator');

const prefix = `bwtest:fleet:${process.pid}:${Math.random().toString(36).slice(2, 8)}:`;

describe.runIf(up)('RedisBreakerCoordinator', () => {
  let client: Redis;
  beforeAll(() => {
    client = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
  });
  const instance = (id: string) => new RedisBreakerCoordinator({ client, instanceId: id, prefix });

  test('reports count per breaker, are renewed, withdrawn, and expire by Redis’s clock', async () => {
    const a = instance('a');
    const b = instance('b');
    expect(await a.exchange('up', undefined, 1000)).toBe(0);
    expect(await a.exchange('up', true, 1000)).toBe(1);
    expect(await a.exchange('up', true, 1000)).toBe(1); // renewed, not counted twice
    expect(await b.exchange('up', true, 150)).toBe(2);
    expect(await b.exchange('other', undefined, 1000)).toBe(0);
    expect(await client.zrange(`${prefix}{up}`, 0, -1)).toEqual(['b', 'a']);
    // The key expires after its last report: nothing is left behind by a fleet that went away.
    const pttl = await client.pttl(`${prefix}{up}`);
    expect(pttl).toBeGreaterThan(1000);
    expect(pttl).toBeLessThanOrEqual(2000);
    await new Promise((r) => setTimeout(r, 200));
    expect(await a.exchange('up', undefined, 1000)).toBe(1); // b's report ran out
    expect(await a.exchange('up', false, 1000)).toBe(0);
    expect(await client.exists(`${prefix}{up}`)).toBe(0);
  });

  test('a default instance id, and options checked with their path', () => {
    const c = new RedisBreakerCoordinator({ client });
    expect(c.instanceId).toMatch(/:\d+:[0-9a-f]{6}$/);
    expect(c.prefix).toBe('bw:breaker:');
    const bad: Array<[unknown, string]> = [
      [{}, 'coordinator'],
      [{ client, pool: {} }, 'coordinator'],
      [{ client: {} }, 'coordinator.client'],
      [{ client, prefix: 'a{b' }, 'coordinator.prefix'],
      [{ client, timeout: 0 }, 'coordinator.timeout'],
      [{ client, instanceId: '' }, 'coordinator.instanceId'],
      [{ client, nope: 1 }, 'coordinator.nope'],
    ];
    for (const [o, path] of bad) {
      let err: unknown;
      try {
        new RedisBreakerCoordinator(o as never);
      } catch (e) {
        err = e;
      }
      expect(isConfigError(err), path).toBe(true);
      expect((err as { path: string }).path, path).toBe(path);
    }
  });
});
