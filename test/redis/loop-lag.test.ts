/**
 * The store's timeout measures Redis, not the event loop. 200 clients against handlers
 * that keep the loop busy (the store's 50 ms timeout passes many times over while the loop
 * is stalled) still get their decisions from Redis; a Redis that really is slow (DEBUG
 * SLEEP, SIGSTOP) still times out, answered by the fallback within the timeout plus a turn
 * of the loop. Every request answered exactly once.
 */
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { breakwater } from '@breakwater/express';
import { RedisPool, RedisRateLimitStore } from '@breakwater/redis-pool';
import express from 'express';
import { Agent } from 'undici';
import { afterEach, describe, expect, test } from 'vitest';
import {
  type PrivateRedis,
  rawCommand,
  redisOrSkip,
  startRedis,
  uniquePrefix,
} from '../helpers/redis-server.js';
import { sleep, until } from './servers.js';

const up = await redisOrSkip('Redis loop-lag tests', ['private']);

const LIMIT = 1_000_000;

describe.skipIf(!up)('store timeouts under event-loop lag', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(server: PrivateRedis, busyMs: number, stallEvery = 0, stallMs = 0) {
    const pool = new RedisPool({ name: 'lag', url: server.url, max: 1, healthCheck: false });
    const store = new RedisRateLimitStore({
      pool,
      prefix: uniquePrefix('lag'),
      timeout: '50ms',
      breaker: { consecutiveFailures: 5, openFor: '200ms' },
    });
    const bw = breakwater({ store });
    bw.pools.add(pool);
    const app = express();
    app.use(bw.middleware());
    const served = new Map<string, number>();
    let handled = 0;
    app.use((req, res, next) => {
      const id = String(req.headers['x-id']);
      res.on('finish', () => served.set(id, (served.get(id) ?? 0) + 1));
      next();
    });
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
      (_q, r) => {
        // Synchronous work: the loop stalls for busyMs per request, and every stallEvery-th
        // request for stallMs (a GC pause, a big JSON.stringify).
        const long = stallEvery > 0 && ++handled % stallEvery === 0;
        const end = performance.now() + (long ? stallMs : busyMs);
        while (performance.now() < end);
        r.json({ ok: true });
      },
    );
    const http = app.listen(0, '127.0.0.1');
    await new Promise((r) => http.once('listening', r));
    const agent = new Agent({ connections: 256 });
    cleanups.push(async () => {
      await agent.close();
      await new Promise((r) => http.close(r));
      await bw.close();
    });
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/x`;
    await until(() => store.isReady, 5000, 'store ready');
    let seq = 0;
    const hit = async (client: string) => {
      const id = String(seq++);
      const t0 = performance.now();
      const r = await fetch(url, {
        headers: { 'x-client': client, 'x-id': id },
        dispatcher: agent,
      } as unknown as RequestInit);
      await r.arrayBuffer();
      const left = Number(/r=(\d+)/.exec(r.headers.get('ratelimit') ?? '')?.[1]);
      return { id, status: r.status, ms: performance.now() - t0, fromRedis: left < LIMIT - 0.5 };
    };
    return { store, served, hit };
  }

  test('200 clients, a stalling loop: decisions from Redis, not timeouts', async () => {
    const server = await startRedis();
    cleanups.push(() => server.kill());
    const { store, served, hit } = await setup(server, 5, 25, 150);
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    const rounds = 3;
    const answers = (
      await Promise.all(
        Array.from({ length: 200 }, async (_, c) => {
          const out: Awaited<ReturnType<typeof hit>>[] = [];
          for (let i = 0; i < rounds; i++) out.push(await hit(`client-${c}`));
          return out;
        }),
      )
    ).flat();
    lag.disable();
    const s = store.stats;
    const fromRedis = answers.filter((a) => a.fromRedis).length;
    console.log(
      `200 clients × ${rounds} requests, 5 ms of synchronous work each and 150 ms every 25th, store timeout 50 ms: ` +
        `event-loop delay p50 ${(lag.percentile(50) / 1e6).toFixed(0)} ms, max ${(lag.max / 1e6).toFixed(0)} ms; ` +
        `decisions from Redis ${fromRedis}, from the fallback ${answers.length - fromRedis}; ` +
        `past their deadline when the timer fired but answered by Redis (lag excused): ${s.lagExcused}; timeouts ${s.timeouts}`,
    );
    expect(answers.length).toBe(200 * rounds);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.every((a) => served.get(a.id) === 1)).toBe(true);
    // The loop really was stalled far past the store's timeout...
    expect(lag.max / 1e6).toBeGreaterThan(140);
    expect(s.lagExcused).toBeGreaterThan(0);
    // ...and yet Redis decided every request.
    expect(s.timeouts).toBe(0);
    expect(fromRedis).toBe(200 * rounds);
    expect(s.decisions).toBe(200 * rounds);
  }, 60_000);

  test('a Redis that is slow (DEBUG SLEEP) or hung (SIGSTOP) still times out: fallback within bounded time', async () => {
    const server = await startRedis(['--enable-debug-command', 'yes']);
    cleanups.push(async () => {
      server.resume();
      await server.kill();
    });
    const { store, served, hit } = await setup(server, 0);
    expect((await hit('warm')).fromRedis).toBe(true);

    const measure = async (label: string, fault: () => void) => {
      const before = store.stats;
      fault();
      await sleep(20);
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => hit(`slow-${i}`)));
      const s = store.stats;
      const worst = Math.max(...answers.map((a) => a.ms));
      console.log(
        `${label}: 40 requests, worst answer ${worst.toFixed(0)} ms, from Redis ${answers.filter((a) => a.fromRedis).length}, ` +
          `fallback ${answers.filter((a) => !a.fromRedis).length}; timeouts ${s.timeouts - before.timeouts}, ` +
          `short-circuited ${s.shortCircuited - before.shortCircuited}`,
      );
      expect(answers.every((a) => a.status === 200 && served.get(a.id) === 1)).toBe(true);
      expect(answers.every((a) => !a.fromRedis)).toBe(true);
      expect(s.timeouts - before.timeouts).toBeGreaterThan(0);
      expect(worst).toBeLessThan(400);
    };
    // DEBUG SLEEP holds Redis for 600 ms; sent on its own socket so it does not queue ahead.
    await measure(
      'DEBUG SLEEP 0.6',
      () => void rawCommand(server.port, 'DEBUG SLEEP 0.6', '127.0.0.1', 2000),
    );
    await sleep(700);
    await until(async () => (await hit('after-sleep')).fromRedis, 3000, 'Redis deciding after DEBUG SLEEP');
    await measure('SIGSTOP', () => server.pause());
    server.resume();
    await until(async () => (await hit('after-stop')).fromRedis, 3000, 'Redis deciding after SIGCONT');
  }, 60_000);
});
