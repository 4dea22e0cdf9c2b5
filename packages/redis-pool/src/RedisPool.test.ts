import { createRequire } from 'node:module';
import { ConfigError, isConfigError } from '@breakwater/core';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  isPoolAcquireTimeoutError,
  isPoolClosedError,
  isPoolQueueFullError,
  PoolAcquireTimeoutError,
} from './errors.js';
import type { RedisPoolOptions } from './options.js';
import { RedisPool } from './RedisPool.js';
import { REDIS_URL, redisOrSkip } from './test-redis.js';

const up = await redisOrSkip('RedisPool');

function uniqueName(label: string): string {
  return `bwtest-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

// `vitest -c vitest.ioredis6.config.ts` runs these suites again with `ioredis` resolved to
// ioredis 6: make sure the pool really loaded that major.
test.runIf(process.env.BW_IOREDIS === '6')('the pool runs on ioredis 6 in this run', () => {
  const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => /[/\\]ioredis@\d/.test(k));
  expect(loaded.length).toBeGreaterThan(0);
  expect(loaded.every((k) => k.includes('ioredis@6.'))).toBe(true);
});

describe('options', () => {
  const bad: Array<[RedisPoolOptions, string]> = [
    [{ max: 0 }, 'redisPool.max'],
    [{ min: 5, max: 2 }, 'redisPool.min'],
    [{ acquireTimeout: 0 }, 'redisPool.acquireTimeout'],
    [{ acquireTimeout: 'soon' }, 'redisPool.acquireTimeout'],
    [{ maxWaitingClients: -1 }, 'redisPool.maxWaitingClients'],
    [{ healthCheck: { interval: 'often' } }, 'redisPool.healthCheck.interval'],
    [{ healthCheck: { unhealthyThreshold: 0 } }, 'redisPool.healthCheck.unhealthyThreshold'],
    [{ url: 'http://x' }, 'redisPool.url'],
    [{ url: REDIS_URL, nodes: ['127.0.0.1:7000'] }, 'redisPool.url'],
    [{ nodes: ['nope'] }, 'redisPool.nodes[0]'],
    [{ nodes: ['127.0.0.1:7000'], db: 2 }, 'redisPool.db'],
    [{ createBackoff: { initial: '2s', max: '1s' } }, 'redisPool.createBackoff.max'],
    [{ maxConnections: 3 } as RedisPoolOptions, 'redisPool.maxConnections'],
  ];
  test.each(bad)('%j fails at construction naming %s', (opts, path) => {
    let err: unknown;
    try {
      new RedisPool({ healthCheck: false, ...opts, url: opts.nodes ? opts.url : (opts.url ?? REDIS_URL) });
    } catch (e) {
      err = e;
    }
    expect(isConfigError(err)).toBe(true);
    expect((err as ConfigError).path).toBe(path);
    expect((err as ConfigError).message).toContain(path);
  });

  test('durations take strings; explicit zeros keep their meaning', async () => {
    const pool = new RedisPool({
      url: REDIS_URL,
      healthCheck: false,
      acquireTimeout: '250ms',
      idleTimeout: 0,
      maxLifetime: 0,
      maxWaitingClients: 0,
      min: 0,
    });
    try {
      expect(pool.options.acquireTimeoutMs).toBe(250);
      expect(pool.options.idleTimeoutMs).toBe(0);
      expect(pool.options.maxWaitingClients).toBe(0);
    } finally {
      await pool.close();
    }
  });
});

describe.skipIf(!up)('RedisPool on real Redis', () => {
  const pools: RedisPool[] = [];
  let admin: Redis;
  const make = (o: RedisPoolOptions = {}) => {
    const p = new RedisPool({ url: REDIS_URL, name: uniqueName('pool'), healthCheck: false, ...o });
    pools.push(p);
    return p;
  };
  /** Connections Redis sees under this connection name. */
  const connections = async (name: string) =>
    String(await admin.client('LIST'))
      .split('\n')
      .filter((l: string) => l.includes(` name=${name} `)).length;

  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await admin.quit();
  });

  test('use() lends a dedicated connection, takes it back and lends it again', async () => {
    const pool = make({ max: 2 });
    const sharedId = await pool.client.client('ID');
    const id1 = await pool.use((c) => c.client('ID'));
    expect(id1).not.toBe(sharedId);
    expect(pool.stats()).toMatchObject({ active: 0, idle: 1, pending: 0, max: 2 });
    const id2 = await pool.use((c) => c.client('ID'));
    expect(id2).toBe(id1);
  });

  test('use() releases on throw, and a command error does not destroy a healthy connection', async () => {
    const pool = make();
    const id = await pool.use((c) => c.client('ID'));
    await expect(
      pool.use(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(pool.use((c) => c.call('NO_SUCH_COMMAND'))).rejects.toThrow(/unknown command/i);
    const k = `${pool.name}:not-a-number`;
    await expect(pool.use((c) => c.set(k, 'a').then(() => c.incr(k)))).rejects.toThrow(/not an integer/);
    await pool.client.del(k);
    expect(pool.stats().active).toBe(0);
    expect(await pool.use((c) => c.client('ID'))).toBe(id);
  });

  test('UNWATCH is sent on release: a WATCH left by one borrower cannot abort the next MULTI', async () => {
    const pool = make({ max: 1 });
    const key = `${pool.name}:watched`;
    await pool.use(async (c) => {
      await c.watch(key);
    });
    await pool.client.set(key, 'changed by someone else');
    const res = await pool.use((c) => c.multi().set(key, 'mine').exec());
    expect(res).not.toBeNull();
    expect(await pool.client.get(key)).toBe('mine');
    await pool.client.del(key);
  });

  test('broken sessions are closed, not lent again: subscriber, SELECT, open MULTI, killed', async () => {
    const pool = make({ max: 1 });
    const ids = new Set<number>();
    const lend = async (fn: (c: Redis) => Promise<unknown>) => {
      await pool.use(async (c) => {
        ids.add((await c.client('ID')) as number);
        await fn(c as Redis);
      });
      await new Promise((r) => setTimeout(r, 20));
    };
    await lend((c) => c.subscribe(`${pool.name}:ch`));
    await lend((c) => c.select(1));
    await lend(async (c) => {
      await c.multi({ pipeline: false });
    });
    await lend(async (c) => {
      await admin.client('KILL', 'ID', String(await c.client('ID')));
      await new Promise((r) => setTimeout(r, 20));
    });
    await lend(async () => {});
    expect(ids.size).toBe(5);
    expect(await connections(pool.name)).toBe(2); // the shared client and one dedicated
  });

  test('exhaustion: a caller past max waits at most acquireTimeout, then fails with a typed error', async () => {
    const pool = make({ max: 2, acquireTimeout: '100ms' });
    let timeouts = 0;
    pool.events.onAcquireTimeout?.(() => timeouts++);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const holders = [pool.use(() => held), pool.use(() => held)];
    await new Promise((r) => setTimeout(r, 30));
    expect(pool.stats().active).toBe(2);
    const t0 = performance.now();
    const err = await pool.use(async () => 'never').catch((e: unknown) => e);
    const waited = performance.now() - t0;
    expect(err).toBeInstanceOf(PoolAcquireTimeoutError);
    expect(isPoolAcquireTimeoutError(err)).toBe(true);
    expect((err as PoolAcquireTimeoutError).code).toBe('POOL_QUEUE_TIMEOUT');
    expect(waited).toBeGreaterThanOrEqual(95);
    expect(waited).toBeLessThan(300);
    expect(timeouts).toBe(1);
    release();
    await Promise.all(holders);
    await expect(pool.use(async () => 'ok')).resolves.toBe('ok');
  });

  test('maxWaitingClients: 0 means nobody waits (not generic-pool’s "unlimited")', async () => {
    const pool = make({ max: 1, maxWaitingClients: 0 });
    let release!: () => void;
    const holder = pool.use(() => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 30));
    const t0 = performance.now();
    const err = await pool.use(async () => 1).catch((e: unknown) => e);
    expect(isPoolQueueFullError(err)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(20);
    release();
    await holder;
  });

  test('idleTimeout closes idle connections; idleTimeout 0 keeps them (not generic-pool’s 30s)', async () => {
    const short = make({ max: 3, idleTimeout: '50ms' });
    const keep = make({ max: 3, idleTimeout: 0 });
    await Promise.all([1, 2, 3].map(() => short.use((c) => c.ping())));
    await Promise.all([1, 2, 3].map(() => keep.use((c) => c.ping())));
    expect(short.stats().idle).toBe(3);
    await new Promise((r) => setTimeout(r, 250));
    expect(short.stats().idle).toBe(0);
    expect(keep.stats().idle).toBe(3);
    expect(await connections(short.name)).toBe(1);
  });

  test('maxLifetime: an old connection is closed on return and replaced', async () => {
    const pool = make({ max: 1, maxLifetime: '40ms' });
    const a = await pool.use((c) => c.client('ID'));
    await new Promise((r) => setTimeout(r, 60));
    const b = await pool.use((c) => c.client('ID'));
    expect(b).not.toBe(a);
  });

  test('no leaked connections after 10,000 uses (CLIENT LIST before and after)', async () => {
    const pool = make({ max: 10, acquireTimeout: '2s' });
    await pool.client.ping();
    expect(await connections(pool.name)).toBe(1);
    let i = 0;
    const worker = async () => {
      while (i < 10_000) {
        i++;
        await pool.use((c) => (i % 3 === 0 ? c.call('NO_SUCH_COMMAND').catch(() => 0) : c.ping()));
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    await new Promise((r) => setTimeout(r, 20));
    const s = pool.stats();
    expect(s.active).toBe(0);
    expect(s.pending).toBe(0);
    expect(s.idle).toBeLessThanOrEqual(10);
    expect(await connections(pool.name)).toBe(1 + s.idle);
    await pool.close();
    expect(await connections(pool.name)).toBe(0);
  }, 30_000);

  test('close() drains, ends every connection, is safe twice; use() after it fails typed', async () => {
    const pool = make({ max: 3, min: 2 });
    let release!: () => void;
    const inflight = pool.use(async (c) => {
      await new Promise<void>((r) => (release = r));
      return c.ping();
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(await connections(pool.name)).toBe(3); // shared + min 2 (one lent)
    const closing = pool.close();
    expect(pool.close()).toBe(closing);
    const late = await pool.use(async () => 1).catch((e: unknown) => e);
    expect(isPoolClosedError(late)).toBe(true);
    release();
    await expect(inflight).resolves.toBe('PONG'); // in-flight work finished before the connections ended
    await closing;
    expect(await connections(pool.name)).toBe(0);
    expect((await pool.health()).status).toBe('fail');
  });

  test('destroy() in the middle of a close ends the lent connection now and settles the close', async () => {
    const pool = make({ max: 2, closeTimeout: '1m' });
    let release!: () => void;
    const inflight = pool.use(async (c) => {
      await new Promise<void>((r) => (release = r));
      return c.ping();
    });
    await new Promise((r) => setTimeout(r, 50));
    const closing = pool.close();
    const t0 = performance.now();
    await pool.destroy();
    await closing;
    expect(performance.now() - t0).toBeLessThan(1000);
    // Connections are cut, not quit: Redis notices a moment later.
    for (let i = 0; i < 40 && (await connections(pool.name)) > 0; i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(await connections(pool.name)).toBe(0);
    release();
    await expect(inflight).rejects.toThrow();
    expect(isPoolClosedError(await pool.use(async () => 1).catch((e: unknown) => e))).toBe(true);
  });

  test('health() reports pass with latency; stats carry the pool numbers', async () => {
    const pool = make({ healthCheck: { interval: '1s', timeout: '500ms' } });
    const h = await pool.health();
    expect(h.status).toBe('pass');
    expect(h.latencyMs).toBeGreaterThanOrEqual(0);
    expect(h.latencyMs).toBeLessThan(500);
    expect(Date.parse(h.time)).toBeGreaterThan(Date.now() - 5000);
    expect(pool.stats()).toMatchObject({ active: 0, pending: 0, max: 10, min: 0, healthy: 1 });
  });

  test('an option error is a ConfigError instance', () => {
    expect(() => new RedisPool({ max: 0 })).toThrow(ConfigError);
  });
});
