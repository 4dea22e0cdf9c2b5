/**
 * generic-pool's known faults, guarded: with Redis down a failing connect backs off
 * instead of spinning, waiting callers fail at once with a typed error, and the pool
 * recovers without a restart. Health checks never overlap (fake timers).
 */
import { isPoolUnavailableError, type PoolUnavailableError, RedisPool } from '@breakwater/redis-pool';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { redisOrSkip, startRedis } from '../helpers/redis-server.js';

const up = await redisOrSkip('RedisPool fault tests', ['private']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!up)('RedisPool when Redis is down', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    vi.useRealTimers();
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  test('connects back off (no spin), waiting callers fail fast, and the pool recovers', async () => {
    const server = await startRedis();
    cleanups.push(() => server.kill());
    const pool = new RedisPool({
      url: server.url,
      name: 'down',
      max: 5,
      acquireTimeout: '2s',
      connectTimeout: '200ms',
      createBackoff: { initial: '50ms', max: '400ms' },
      healthCheck: false,
      redisOptions: { retryStrategy: () => 50 },
    });
    cleanups.push(() => pool.close());
    expect(await pool.use((c) => c.ping())).toBe('PONG');
    await server.kill();
    await sleep(50); // let the idle connection see its socket close

    // Callers that would wait for a connection fail well before acquireTimeout (2s).
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => pool.use((c) => c.ping()).catch((e: unknown) => e)),
    );
    expect(performance.now() - t0).toBeLessThan(500);
    expect(results.every(isPoolUnavailableError)).toBe(true);
    expect((results[0] as PoolUnavailableError).code).toBe('POOL_UNHEALTHY');

    // A second of callers retrying in a loop: connects are paced by the backoff, and the
    // process is far from busy (generic-pool alone re-creates in a tight loop).
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const failuresBefore = pool.stats().connectFailures!;
    let refused = 0;
    while (performance.now() - wall0 < 1000) {
      await Promise.all(
        Array.from({ length: 5 }, () =>
          pool.use((c) => c.ping()).catch((e: unknown) => void (isPoolUnavailableError(e) && refused++)),
        ),
      );
      await sleep(5);
    }
    const cpu = process.cpuUsage(cpu0);
    const cpuShare = (cpu.user + cpu.system) / 1000 / (performance.now() - wall0);
    const connects = pool.stats().connectFailures! - failuresBefore;
    expect(refused).toBeGreaterThan(100);
    expect(connects).toBeLessThan(15); // backoff 50ms doubling to 400ms: about 6 in a second
    expect(cpuShare).toBeLessThan(0.5);

    await server.restart();
    const t1 = performance.now();
    for (;;) {
      const r = await pool.use((c) => c.ping()).catch(() => undefined);
      if (r === 'PONG') break;
      expect(performance.now() - t1).toBeLessThan(2000);
      await sleep(20);
    }
    expect(pool.stats()).toMatchObject({ active: 0, healthy: 1 });
  });

  test('close() while Redis is down and callers wait: settles promptly, nothing left open', async () => {
    const server = await startRedis();
    cleanups.push(() => server.kill());
    const pool = new RedisPool({
      url: server.url,
      name: 'close-down',
      max: 1,
      acquireTimeout: '300ms',
      createBackoff: { initial: '1s', max: '5s' },
      healthCheck: false,
      redisOptions: { retryStrategy: () => 50 },
    });
    await pool.client.ping();
    await server.kill();
    const waits = Array.from({ length: 5 }, () => pool.use((c) => c.ping()).catch((e: unknown) => e));
    await sleep(20);
    const t0 = performance.now();
    await pool.close();
    await pool.close();
    expect(performance.now() - t0).toBeLessThan(1500);
    const errs = await Promise.all(waits);
    expect(errs.every((e) => (e as { code?: string }).code !== undefined)).toBe(true);
  });

  test('health checks never overlap, however slow the PING (fake timers, a SIGSTOPped server)', async () => {
    const server = await startRedis();
    cleanups.push(async () => {
      server.resume();
      await server.kill();
    });
    const realSetTimeout = globalThis.setTimeout;
    const realSleep = (ms: number) => new Promise((r) => realSetTimeout(r, ms));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const pool = new RedisPool({
      url: server.url,
      name: 'overlap',
      healthCheck: { interval: '100ms', timeout: '5s', jitter: 0, unhealthyThreshold: 1 },
    });
    cleanups.push(() => pool.destroy());
    // The first check started in the constructor; count the PINGs after it.
    const ping = vi.spyOn(pool.client, 'ping');
    const checks: boolean[] = [];
    pool.events.onHealthCheck?.((e) => checks.push(e.ok));
    // Wait for the first check to complete (real I/O, fake timers).
    for (let i = 0; i < 200 && checks.length === 0; i++) await realSleep(10);
    expect(checks).toEqual([true]);
    expect(ping).toHaveBeenCalledTimes(0);

    server.pause();
    await realSleep(50); // SIGSTOP has landed before the next PING goes out
    await vi.advanceTimersByTimeAsync(100); // the next check starts and hangs
    expect(ping).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 40; i++) await vi.advanceTimersByTimeAsync(100); // 4s of intervals
    expect(ping).toHaveBeenCalledTimes(1); // still the one hung check, no pile-up
    await vi.advanceTimersByTimeAsync(1000); // its 5s timeout passes, at 5100ms
    expect(checks).toEqual([true, false]);
    expect((await pool.health()).status).toBe('fail');
    expect(ping).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(100); // one interval after the end of the last check
    expect(ping).toHaveBeenCalledTimes(2);
    server.resume();
    vi.useRealTimers();
  });
});
