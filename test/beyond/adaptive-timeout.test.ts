/**
 * The adaptive timeout through real Express and Koa apps: the deadline starts at `max`,
 * tightens to the recent successes' p99 × factor (clamped), so a hung call fails in a
 * fraction of the static worst case; failures do not feed the estimate; the current
 * deadline is a gauge.
 */
import { Registry } from 'prom-client';
import request from 'supertest';
import { describe, expect, test } from 'vitest';
import { appPerTest, flavors, sleep, until } from '../helpers/apps.js';

const ADAPTIVE = {
  adaptive: { percentile: 0.99, factor: 2, min: '150ms', max: '3s', minSamples: 10, refresh: 0 },
};

function abortable(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve(true);
      },
      { once: true },
    );
  });
}

describe.each(flavors)('$name', (flavor) => {
  const { start, guard } = appPerTest(flavor);

  test('a hung call fails at the learned deadline, not at max; the deadline is a gauge', async () => {
    const registry = new Registry();
    let mode: 'fast' | 'hang' | 'fail' = 'fast';
    let aborted = 0;
    const { url } = await start(
      [
        {
          path: '/up',
          policy: { name: 'up', timeout: ADAPTIVE },
          handler: async (ctx) => {
            if (mode === 'hang') {
              if (await abortable(10_000, ctx?.signal)) aborted++;
              return { status: 200, body: { late: true } };
            }
            await sleep(5);
            return mode === 'fail'
              ? { status: 500, body: { error: 'x' } }
              : { status: 200, body: { ok: true } };
          },
        },
      ],
      { registry },
    );
    const gauge = async () => {
      const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'breakwater_timeout_seconds');
      return ((m?.values ?? []) as Array<{ labels: { route: string }; value: number }>).find(
        (v) => v.labels.route === 'up',
      )?.value;
    };
    // Warming up: the deadline is max until minSamples successes are in.
    expect((await request(url).get('/up')).status).toBe(200);
    expect(guard('up').currentTimeoutMs()).toBe(3000);
    expect(await gauge()).toBe(3);
    for (let i = 0; i < 12; i++) expect((await request(url).get('/up')).status).toBe(200);
    // Successes take ~5-20 ms: p99 × 2 is under min, so the deadline is min.
    expect(guard('up').currentTimeoutMs()).toBe(150);
    expect(await gauge()).toBe(0.15);

    mode = 'hang';
    const t0 = Date.now();
    const r = await request(url).get('/up');
    const took = Date.now() - t0;
    expect(r.status).toBe(503);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.body).toMatchObject({ code: 'TIMEOUT', detail: 'The request did not complete within 150ms.' });
    // A static timeout at max would have held the client (and the slot) for 3 s.
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(1500);
    await until(() => aborted === 1);

    // Failures and timeouts are not successes: they leave the estimate alone.
    const samples = guard('up').adaptiveTimeout!.stats.samples;
    mode = 'fail';
    for (let i = 0; i < 5; i++) expect((await request(url).get('/up')).status).toBe(500);
    expect(guard('up').adaptiveTimeout!.stats.samples).toBe(samples);
  });

  test('without samples the deadline is `initial`, and slow successes raise it up to max', async () => {
    let delay = 5;
    const { url } = await start([
      {
        path: '/s',
        policy: {
          name: 's',
          timeout: {
            adaptive: { factor: 2, min: '50ms', max: '600ms', initial: '400ms', minSamples: 5, refresh: 0 },
          },
        },
        handler: async () => {
          await sleep(delay);
          return { status: 200, body: {} };
        },
      },
    ]);
    expect((await request(url).get('/s')).status).toBe(200);
    expect(guard('s').currentTimeoutMs()).toBe(400);
    delay = 200;
    for (let i = 0; i < 6; i++) expect((await request(url).get('/s')).status).toBe(200);
    // p99 ≈ 200 ms × 2 ≈ 400+, clamped at max 600.
    expect(guard('s').currentTimeoutMs()).toBeGreaterThanOrEqual(400);
    expect(guard('s').currentTimeoutMs()).toBeLessThanOrEqual(600);
  });
});

describe('adaptive timeout options', () => {
  test('fail at start-up naming the option path', async () => {
    const { breakwater } = await import('@breakwater/express');
    const make = (timeout: unknown) => () =>
      breakwater({ registry: new Registry(), defaults: { timeout } as never });
    expect(make({ adaptive: { max: '1s', factor: 0.5 } })).toThrow(
      /breakwater\.defaults\.timeout\.adaptive\.factor/,
    );
    expect(make({ adaptive: { min: '1s' } })).toThrow(/breakwater\.defaults\.timeout\.adaptive\.max/);
    expect(make({ adaptive: { max: '1s' }, after: '1s' })).toThrow(/breakwater\.defaults\.timeout\.after/);
    expect(make({ adaptive: 'fast' })).toThrow(/breakwater\.defaults\.timeout\.adaptive/);
    const ok = breakwater({
      registry: new Registry(),
      defaults: { timeout: { adaptive: { max: '1s' }, status: 504 } },
    });
    await ok.close();
  });
});
