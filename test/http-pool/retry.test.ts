import { HttpPool } from '@breakwater/http-pool';
import { afterEach, describe, expect, test } from 'vitest';
import { type Upstream, upstream } from './upstream.js';

let up: Upstream | undefined;
let pool: HttpPool | undefined;
afterEach(async () => {
  await pool?.destroy();
  await up?.stop();
  pool = undefined;
  up = undefined;
});

/** Answers `status` (with optional headers) to the first `n` hits, then 200; records hit times. */
async function flaky(n: number, status: number, headers: Record<string, string> = {}) {
  const times: number[] = [];
  const u = await upstream((_req, res) => {
    times.push(Date.now());
    if (times.length <= n) {
      res.writeHead(status, headers);
      res.end('busy');
    } else res.end('ok');
  });
  return { u, times };
}

describe('HttpPool retry', () => {
  test('an idempotent GET is retried on 503 with growing backoff', async () => {
    const { u, times } = await flaky(2, 503);
    up = u;
    const retries: string[] = [];
    pool = new HttpPool({
      name: 'api',
      baseUrl: up.url,
      retry: { attempts: 3, baseDelay: 40, maxDelay: 200, random: () => 0.999 },
    });
    pool.events.onRetry((r) => retries.push(r));
    const r = await pool.get('/x');
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('ok');
    expect(times.length).toBe(3);
    expect(retries).toEqual(['status_503', 'status_503']);
    // Full jitter at the ceiling: ~40 ms, then ~80 ms.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(35);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(75);
  });

  test('POST is not retried unless marked idempotent', async () => {
    const { u, times } = await flaky(10, 503);
    up = u;
    pool = new HttpPool({ name: 'api', baseUrl: up.url, retry: { attempts: 3, baseDelay: 1 } });
    expect((await pool.post('/x', { a: 1 })).status).toBe(503);
    expect(times.length).toBe(1);
    expect((await pool.post('/x', 'b', { idempotent: true })).status).toBe(503);
    expect(times.length).toBe(4);
  });

  test('Retry-After is honoured', async () => {
    const { u, times } = await flaky(1, 503, { 'retry-after': '1' });
    up = u;
    pool = new HttpPool({
      name: 'api',
      baseUrl: up.url,
      timeout: '3s',
      retry: { attempts: 2, baseDelay: 1 },
    });
    expect((await pool.get('/x')).status).toBe(200);
    expect(times.length).toBe(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950);
  });

  test('connection errors are retried on another origin', async () => {
    const good = await upstream((_req, res) => res.end('ok'));
    const dead = await upstream((_req, res) => res.end('never'));
    await dead.stop();
    up = good;
    pool = new HttpPool({
      name: 'api',
      origins: [dead.url, good.url],
      passiveHealth: false,
      retry: { attempts: 2, baseDelay: 1 },
    });
    for (let i = 0; i < 4; i++) expect(await (await pool.get('/x')).text()).toBe('ok');
  });

  test('the budget stops a retry storm when every request fails', async () => {
    up = await upstream((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const requests = 200;
    const ratio = 0.2;
    const minimum = 5; // minPerSecond 0.5 × 10 s window
    pool = new HttpPool({
      name: 'api',
      baseUrl: up.url,
      passiveHealth: false,
      retry: { attempts: 5, baseDelay: 1, maxDelay: 2, budget: { ratio, window: '10s', minPerSecond: 0.5 } },
    });
    const giveUps: number[] = [];
    pool.retry!.onGiveUp((r) => r === 'budget' && giveUps.push(1));
    for (let i = 0; i < requests; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, () => pool!.get('/x')));
      expect(batch.every((r) => r.status === 503)).toBe(true);
    }
    // Without a budget: 5 attempts each, 1000 hits. With it: at most requests × (1 + ratio) + minimum.
    expect(up.hits).toBeLessThanOrEqual(requests * (1 + ratio) + minimum);
    expect(up.hits).toBeGreaterThan(requests);
    expect(giveUps.length).toBeGreaterThan(0);
  });
});
