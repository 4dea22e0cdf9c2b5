/**
 * The flaky upstream: latency, error rate and outages change at run time through its
 * admin endpoint, a timed change reverts by itself, and bad settings are refused.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { modules, type Upstream } from './helpers.js';

let up: Upstream;
beforeAll(async () => {
  up = await (await modules()).startUpstream({ latencyMs: 0, jitterMs: 0 });
});
afterAll(async () => {
  await up?.close();
});

const call = async (path: string, init?: RequestInit) => {
  const t0 = performance.now();
  try {
    const res = await fetch(up.url + path, { ...init, headers: { connection: 'close', ...init?.headers } });
    return { status: res.status, body: (await res.json()) as any, ms: performance.now() - t0 };
  } catch (e) {
    return { status: 0, body: (e as Error).message, ms: performance.now() - t0 };
  }
};
const chaos = (patch: unknown) =>
  call('/admin/chaos', {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(patch),
  });

describe('the flaky upstream', () => {
  test('serves data and health', async () => {
    expect((await call('/data')).body.items.length).toBe(2);
    expect((await call('/health')).status).toBe(200);
  });

  test('latency and error rate change at run time', async () => {
    await chaos({ latencyMs: 150, jitterMs: 0 });
    expect((await call('/data')).ms).toBeGreaterThanOrEqual(140);
    await chaos({ latencyMs: 0, errorRate: 1 });
    expect((await call('/data')).status).toBe(500);
    await call('/admin/chaos/reset', { method: 'POST' });
    expect((await call('/data')).status).toBe(200);
  });

  test('outages: error (503, health too), reset (socket closed), and a timed one that ends by itself', async () => {
    await chaos({ outage: 'error' });
    expect((await call('/data')).status).toBe(503);
    expect((await call('/health')).status).toBe(503);
    await chaos({ outage: 'reset' });
    expect((await call('/data')).status).toBe(0);
    await chaos({ outage: false });
    await chaos({ outage: 'error', for: '200ms' });
    expect((await call('/data')).status).toBe(503);
    await new Promise((r) => setTimeout(r, 300));
    expect((await call('/data')).status).toBe(200);
    const s = await call('/admin/chaos');
    expect(s.body.settings.outage).toBe(false);
    expect(s.body.counts.refused).toBeGreaterThanOrEqual(3);
  });

  test('bad settings are refused with the field named', async () => {
    const r = await chaos({ errorRate: 2 });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('chaos.errorRate: expected a number from 0 to 1, got 2');
    expect((await chaos({ outage: 'maybe' })).body.error).toMatch(/^chaos\.outage: /);
    expect((await chaos({ speed: 1 })).body.error).toMatch(/^chaos\.speed: unknown setting/);
  });
});
