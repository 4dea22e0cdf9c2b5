/**
 * Chaos injection through real Express and Koa apps: off until enabled, faults answered
 * instead of the handler and seen by the route's breaker, latency that the route's own
 * timeout cuts short, run-time toggles, and the injections counted in metrics.
 */
import { isChaosFaultError } from '@breakwater/core';
import { Registry } from 'prom-client';
import request from 'supertest';
import { describe, expect, test } from 'vitest';
import { appPerTest, flavors, requestHeader, sleep, until } from '../helpers/apps.js';

/** Alternates 0 and 0.99: a rate of 0.5 then injects into exactly every other call. */
function alternating() {
  let i = 0;
  return () => (i++ % 2 === 0 ? 0 : 0.99);
}

async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as Array<{ labels: Record<string, unknown>; value: number }> | undefined)?.find((x) =>
    Object.entries(labels).every(([k, val]) => x.labels[k] === val),
  );
  return v?.value ?? Number.NaN;
}

describe.each(flavors)('$name', (flavor) => {
  const { start, guard } = appPerTest(flavor);

  test('off by default; enabled at run time it answers faults instead of the handler, and the breaker trips', async () => {
    const registry = new Registry();
    let ran = 0;
    const { url, bw } = await start(
      [
        {
          path: '/orders',
          policy: {
            name: 'orders',
            chaos: { fault: { rate: 1, status: 503 } },
            circuitBreaker: { consecutiveFailures: 3, openFor: '200ms' },
            bulkhead: { maxConcurrent: 1 },
          },
          handler: () => {
            ran++;
            return { status: 200, body: { ok: true } };
          },
        },
      ],
      { registry },
    );
    for (let i = 0; i < 3; i++) expect((await request(url).get('/orders')).status).toBe(200);
    expect(ran).toBe(3);

    const chaos = (bw as unknown as { core: { chaos: import('@breakwater/core').ChaosControl } }).core.chaos;
    expect(chaos.enable('orders').map((s) => s.enabled)).toEqual([true]);
    for (let i = 0; i < 3; i++) {
      const r = await request(url).get('/orders');
      expect(r.status).toBe(503);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(r.body).toMatchObject({ status: 503, code: 'CHAOS_FAULT' });
    }
    expect(ran).toBe(3);
    // The route's own breaker saw three 503s in a row: it refuses now, as for a real outage.
    const open = await request(url).get('/orders');
    expect(open.status).toBe(503);
    expect(open.body.code).toBe('CIRCUIT_OPEN');
    // Each fault freed the bulkhead slot (maxConcurrent 1, or the next call would be refused).
    expect(guard('orders').bulkhead!.activeCount).toBe(0);
    expect(
      await metricValue(registry, 'breakwater_chaos_injected_total', { route: 'orders', kind: 'fault' }),
    ).toBe(3);
    expect(
      await metricValue(registry, 'breakwater_chaos_injected_total', { route: 'orders', kind: 'latency' }),
    ).toBe(0);
    // Injected faults are not policy refusals.
    expect(
      await metricValue(registry, 'breakwater_rejections_total', { route: 'orders', reason: 'circuit_open' }),
    ).toBe(1);

    chaos.disable('orders');
    await sleep(250);
    const back = await request(url).get('/orders');
    expect(back.status).toBe(200);
    expect(ran).toBe(4);
    expect(chaos.list()).toEqual([
      expect.objectContaining({ route: 'orders', enabled: false, injected: { latency: 0, fault: 3 } }),
    ]);
  });

  test('injected latency is cut short by the route timeout: the handler never runs, the slot is freed', async () => {
    let ran = 0;
    const { url } = await start([
      {
        path: '/slow',
        policy: {
          name: 'slow',
          timeout: '100ms',
          bulkhead: { maxConcurrent: 1 },
          chaos: { enabled: true, latency: { rate: 1, ms: '5s' } },
        },
        handler: () => {
          ran++;
          return { status: 200, body: { ok: true } };
        },
      },
    ]);
    const t0 = Date.now();
    const r = await request(url).get('/slow');
    expect(r.status).toBe(503);
    expect(r.body.code).toBe('TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(2000);
    await until(() => guard('slow').bulkhead!.activeCount === 0);
    expect(guard('slow').pendingDeadlines).toBe(0);
    expect(ran).toBe(0);
  });

  test('latency within the deadline delays the handler; the random source decides who is hit', async () => {
    let ran = 0;
    const { url, bw } = await start([
      {
        path: '/d',
        policy: {
          name: 'd',
          timeout: '2s',
          chaos: { enabled: true, latency: { rate: 0.5, ms: 150 }, random: alternating() },
        },
        handler: () => {
          ran++;
          return { status: 200, body: { ok: true } };
        },
      },
    ]);
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t0 = Date.now();
      expect((await request(url).get('/d')).status).toBe(200);
      times.push(Date.now() - t0);
    }
    expect(ran).toBe(4);
    // Calls 1 and 3 drew 0 (< 0.5): delayed. Calls 2 and 4 drew 0.99: not.
    expect(times[0]).toBeGreaterThanOrEqual(140);
    expect(times[2]).toBeGreaterThanOrEqual(140);
    expect(times[1]).toBeLessThan(140);
    expect(times[3]).toBeLessThan(140);
    const core = (bw as unknown as { core: import('@breakwater/core/adapter').BreakwaterCore }).core;
    expect(core.chaos.list()[0]!.injected).toEqual({ latency: 2, fault: 0 });
  });

  test('a route without chaos config gets it at run time; `when` narrows it; a custom body', async () => {
    const { url, bw } = await start([
      { path: '/a', policy: { name: 'a', timeout: '1s' }, handler: () => ({ status: 200, body: { ok: 1 } }) },
    ]);
    expect((await request(url).get('/a')).status).toBe(200);
    const core = (bw as unknown as { core: import('@breakwater/core/adapter').BreakwaterCore }).core;
    expect(core.chaos.list()).toEqual([]);
    core.chaos.enable('a', {
      fault: { rate: 1, status: 500, body: { error: 'boom' } },
      when: (req: unknown) => requestHeader(req, 'x-chaos') === '1',
    });
    expect((await request(url).get('/a')).status).toBe(200);
    const r = await request(url).get('/a').set('x-chaos', '1');
    expect(r.status).toBe(500);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.body).toEqual({ error: 'boom' });
    core.chaos.disable();
    expect((await request(url).get('/a').set('x-chaos', '1')).status).toBe(200);
  });

  test('settings given before a route serves its first request apply when its guard is built', async () => {
    const { url, bw } = await start([
      { path: '/late', policy: { name: 'late', timeout: '1s' }, handler: () => ({ status: 200, body: {} }) },
    ]);
    const core = (bw as unknown as { core: import('@breakwater/core/adapter').BreakwaterCore }).core;
    expect(core.chaos.enable('late', { fault: { rate: 1, status: 502 } })).toEqual([]);
    expect((await request(url).get('/late')).status).toBe(502);
  });
});

describe('chaos options', () => {
  test('bad options fail at start-up with the option path', async () => {
    const { breakwater } = await import('@breakwater/express');
    expect(() =>
      breakwater({ registry: new Registry(), defaults: { chaos: { fault: { rate: 2 } } } } as never),
    ).toThrow(/breakwater\.defaults\.chaos\.fault\.rate/);
    expect(() =>
      breakwater({ registry: new Registry(), defaults: { chaos: { latency: { rate: 0.1 } } } } as never),
    ).toThrow(/breakwater\.defaults\.chaos\.latency\.ms/);
    const bw = breakwater({ registry: new Registry() });
    expect(() => bw.chaos.enable('x', { fault: { rate: 0.1, status: 200 } })).toThrow(
      /chaos\['x'\]\.fault\.status/,
    );
    expect(isChaosFaultError(new Error('x'))).toBe(false);
    await bw.close();
  });
});
