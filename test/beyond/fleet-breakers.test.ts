/**
 * Fleet-aware breakers over real Redis: three Express instances (in one process, each with
 * its own instance id) share the breaker `upstream` through a RedisBreakerCoordinator. One
 * instance tripping alone opens no other; two (quorum 2) open the third, which then refuses
 * without calling its handler. With the private redis-server killed, every instance goes on
 * by its local state, with no unhandled rejection (test/setup/leaks.ts fails the file if
 * there is one).
 */
import { BreakerFleet, type CircuitBreaker } from '@breakwater/core';
import { RedisBreakerCoordinator } from '@breakwater/redis-pool';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { flavors, type TestApp, until } from '../helpers/apps.js';
import { type PrivateRedis, redisOrSkip, startRedis } from '../helpers/redis-server.js';

const run = await redisOrSkip('fleet-aware breakers', ['private']);
const express = flavors.find((f) => f.name === 'express 5')!;

interface Instance {
  app: TestApp;
  fleet: BreakerFleet;
  breaker: CircuitBreaker;
  /** Handler calls, and whether the handler answers 500 (the upstream failing, as this instance sees it). */
  calls: number;
  failing: boolean;
}

describe.runIf(run)('fleet-aware breakers (quorum 2 of 3 instances)', () => {
  let redis: PrivateRedis;
  let client: Redis;
  const instances: Instance[] = [];
  const prefix = `bw-fleet-test-${process.pid}:`;

  beforeAll(async () => {
    redis = await startRedis();
    // Offline commands fail at once rather than queue: an outage costs the fleet one timeout at most.
    client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    client.on('error', () => {});
    await client.connect();
    for (const id of ['a', 'b', 'c']) {
      const coordinator = new RedisBreakerCoordinator({ client, instanceId: id, prefix, timeout: '100ms' });
      const fleet = new BreakerFleet({ coordinator, quorum: 2, pollInterval: '50ms' });
      const inst = { calls: 0, failing: false } as Instance;
      inst.fleet = fleet;
      inst.app = await express.make(
        [
          {
            path: '/data',
            policy: { circuitBreaker: 'upstream' },
            handler: () => {
              inst.calls++;
              return inst.failing ? { status: 500 } : { status: 200, body: { ok: true } };
            },
          },
        ],
        { metrics: false, breakers: { upstream: { consecutiveFailures: 2, openFor: '1m', fleet } } },
      );
      inst.breaker = inst.app.bw.core.breakers.get('upstream')!;
      instances.push(inst);
    }
  });

  afterAll(async () => {
    for (const i of instances) {
      i.fleet.close();
      await i.app.close();
    }
    client?.disconnect();
    await redis?.kill();
  });

  const get = (i: Instance) => request(i.app.url).get('/data');

  test('one instance tripping alone opens no other; a second one opens the third', async () => {
    const [a, b, c] = instances as [Instance, Instance, Instance];
    a.failing = true;
    expect((await get(a)).status).toBe(500);
    expect((await get(a)).status).toBe(500);
    const refused = await get(a);
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('CIRCUIT_OPEN');
    expect(await client.zcard(`${prefix}{upstream}`)).toBe(1);

    // Several polls later, b and c still serve: one instance is not a quorum.
    await new Promise((r) => setTimeout(r, 250));
    expect([b.breaker.state, c.breaker.state]).toEqual(['closed', 'closed']);
    expect((await get(b)).status).toBe(200);
    expect((await get(c)).status).toBe(200);

    b.failing = true;
    await get(b);
    await get(b);
    expect(b.breaker.state).toBe('open');
    // c never saw a failure: the fleet opens it within a poll or two.
    await until(() => c.breaker.state === 'open', 2000);
    const before = c.calls;
    const r = await get(c);
    expect(r.status).toBe(503);
    expect(r.body.code).toBe('CIRCUIT_OPEN');
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    expect(c.calls).toBe(before); // refused without calling the handler
    expect((await client.zrange(`${prefix}{upstream}`, 0, -1)).sort()).toEqual(['a', 'b']);
  });

  test('a flushed script cache (a Redis restart, SCRIPT FLUSH) is reloaded without a failed exchange', async () => {
    await client.script('FLUSH');
    const errors: unknown[] = [];
    const sub = instances[0]!.fleet.onError((e) => errors.push(e));
    const coordinator = instances[0]!.fleet.coordinator;
    expect(await coordinator.exchange('flushed', true, 1000)).toBe(1);
    await new Promise((r) => setTimeout(r, 120)); // a poll or two of every instance
    sub.dispose();
    expect(errors).toEqual([]);
  });

  test('Redis killed: each instance goes on by its local state, without unhandled rejections', async () => {
    for (const i of instances) {
      i.breaker.reset();
      i.failing = false;
    }
    await until(() => instances.every((i) => i.fleet.available), 2000);
    await redis.kill();
    await until(() => instances.every((i) => !i.fleet.available), 2000);
    const [a, b, c] = instances as [Instance, Instance, Instance];
    a.failing = true;
    b.failing = true;
    for (const i of [a, b]) {
      await get(i);
      await get(i);
      expect(i.breaker.state).toBe('open'); // local trips still work
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(c.breaker.state).toBe('closed'); // the fleet cannot say: local state rules
    expect((await get(c)).status).toBe(200);
  });
});
