/**
 * The embedded default: with no Redis reachable the demo service still starts; rate
 * limits run on the memory store, the cache on its in-process fallback, and both the
 * cache's answers and /health (warn, still ready) say so.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Stack, startStack } from './helpers.js';

let stack: Stack;
beforeAll(async () => {
  // Port 1: nothing listens there, connections are refused at once.
  stack = await startStack('express', { REDIS_URL: 'redis://127.0.0.1:1' });
});
afterAll(async () => {
  await stack?.close();
});

const get = async (url: string, client = 'no-redis') => {
  const res = await fetch(url, { headers: { 'x-client-id': client, connection: 'close' } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
};

describe('the demo service without Redis', () => {
  test('starts, in fallback mode', () => {
    expect(stack.service.demo.startupRedisMode).toBe('fallback');
  });

  test('/health warns (non-critical checks) and readiness stays up', async () => {
    const h = await get(`${stack.service.url}/health`);
    expect(h.status).toBe(200);
    expect(h.body.status).toBe('warn');
    expect(h.body.checks.cache[0].status).toBe('warn');
    expect(h.body.checks.cache[0].output).toMatch(/in-process fallback/);
    expect(h.body.checks['pool:redis'][0]).toMatchObject({ status: 'fail', critical: false });
    expect((await get(`${stack.service.url}/health/ready`)).status).toBe(200);
  });

  test('the cache answers from the in-process fallback and says so', async () => {
    const url = `${stack.service.url}/api/cache/fallback-key`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-client-id': 'no-redis', connection: 'close' },
      body: JSON.stringify({ value: 'v1' }),
    });
    const w = (await res.json()) as any;
    expect(res.status).toBe(201);
    expect(w.store).toBe('memory-fallback');
    expect(w.warning).toMatch(/Redis is unavailable/);
    const r = await get(url);
    expect(r.body).toMatchObject({ found: true, value: 'v1', store: 'memory-fallback' });
    expect(r.headers.get('x-cache-store')).toBe('memory-fallback');
  });

  test('rate limits still hold, on the memory store', async () => {
    // 400 at once from one client against 100/s with a burst of 150.
    const t0 = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 400 }, () => get(`${stack.service.url}/api/cache/fallback-key`, 'greedy')),
    );
    const seconds = (Date.now() - t0) / 1000;
    const limited = answers.filter((a) => a.status === 429);
    const admitted = answers.filter((a) => a.status === 200).length;
    expect(limited.length).toBeGreaterThan(0);
    // Never more than the burst plus what refilled meanwhile (a slow machine may also shed
    // some with 503s from the route's other policies: every request is still answered).
    expect(admitted).toBeGreaterThan(0);
    expect(admitted).toBeLessThanOrEqual(150 + Math.ceil(100 * seconds) + 1);
    expect(answers.every((a) => a.status === 200 || a.status === 429 || a.status === 503)).toBe(true);
    expect(limited[0]!.body.code).toBe('RATE_LIMITED');
    expect(limited[0]!.headers.get('retry-after')).toBeTruthy();
    // Another client is not affected.
    expect((await get(`${stack.service.url}/api/cache/fallback-key`, 'polite')).status).toBe(200);
  });
});
