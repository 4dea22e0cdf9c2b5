import { Counter, register as globalRegistry, Registry } from 'prom-client';
import { afterEach, describe, expect, test } from 'vitest';
import { BreakwaterCore } from '../Breakwater.js';
import { isConfigError } from '../errors.js';
import type { Pool, PoolEvents, PoolHealthCheckEvent } from '../pools/types.js';
import { Emitter } from '../util/events.js';
import { prefersOpenMetrics } from './exposition.js';
import { isMetricsConflictError } from './MetricsConflictError.js';

const cores: BreakwaterCore[] = [];
function core(options: ConstructorParameters<typeof BreakwaterCore>[0] = {}): BreakwaterCore {
  const c = new BreakwaterCore(options);
  cores.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(cores.splice(0).map((c) => c.close()));
  globalRegistry.clear();
});

async function value(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const m = registry.getSingleMetric(name);
  if (!m) return undefined;
  const data = await m.get();
  return data.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

describe('registries', () => {
  test('two instances with two registries do not collide', async () => {
    const r1 = new Registry();
    const r2 = new Registry();
    const a = core({ registry: r1, breakers: { db: {} } });
    const b = core({ registry: r2, breakers: { db: {} } });
    a.breakers.get('db')!.open();
    expect(await value(r1, 'breakwater_circuit_breaker_state', { breaker: 'db' })).toBe(1);
    expect(await value(r2, 'breakwater_circuit_breaker_state', { breaker: 'db' })).toBe(0);
    expect(b.metrics!.registry).toBe(r2);
  });

  test('the same instance created twice on the global registry reuses its metrics', async () => {
    const a = core({ breakers: { one: {} } });
    const b = core({ breakers: { two: {} } });
    expect(a.metrics!.registry).toBe(globalRegistry);
    const text = await globalRegistry.metrics();
    expect(text).toContain('breakwater_circuit_breaker_state{breaker="one"} 0');
    expect(text).toContain('breakwater_circuit_breaker_state{breaker="two"} 0');
    // A closed instance leaves the scrape-time gauges.
    await a.close();
    const after = await globalRegistry.metrics();
    expect(after).not.toContain('breaker="one"} 0\n');
    expect(after).toContain('breakwater_circuit_breaker_state{breaker="two"} 0');
    await b.close();
  });

  test('a foreign metric with one of our names is a typed error, not a crash', () => {
    const r = new Registry();
    new Counter({ name: 'breakwater_rejections_total', help: 'mine', registers: [r] });
    let err: unknown;
    try {
      core({ registry: r });
    } catch (e) {
      err = e;
    }
    expect(isMetricsConflictError(err)).toBe(true);
    expect((err as Error).message).toContain("'breakwater_rejections_total'");
    // Nothing half-registered.
    expect(r.getSingleMetric('breakwater_http_request_duration_seconds')).toBeUndefined();
  });

  test('a registry cleared since is filled again', async () => {
    const r = new Registry();
    core({ registry: r });
    r.clear();
    core({ registry: r, breakers: { x: {} } });
    expect(await value(r, 'breakwater_circuit_breaker_state', { breaker: 'x' })).toBe(0);
  });

  test('prefix is configurable and checked', async () => {
    const r = new Registry();
    core({ registry: r, prefix: 'edge_', breakers: { x: {} } });
    expect(await value(r, 'edge_circuit_breaker_state', { breaker: 'x' })).toBe(0);
    expect(() => core({ registry: r, prefix: 'bad-prefix' })).toThrow(/breakwater.prefix/);
    expect(() => core({ registry: {} })).toThrow(/breakwater.registry/);
    const err = (() => {
      try {
        core({ registry: r, prefix: '1x' });
      } catch (e) {
        return e;
      }
    })();
    expect(isConfigError(err)).toBe(true);
  });

  test('metrics: false registers nothing', () => {
    const r = new Registry();
    const c = core({ registry: r, metrics: false });
    expect(c.metrics).toBeUndefined();
    expect(r.getMetricsAsArray()).toHaveLength(0);
  });
});

describe('policies built later', () => {
  test('breakers added after start are picked up, with calls and transitions', async () => {
    const r = new Registry();
    const c = core({ registry: r });
    const b = c.breakers.create('late', { consecutiveFailures: 1 });
    await expect(b.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await expect(b.execute(() => 1)).rejects.toThrow(/open/);
    expect(await value(r, 'breakwater_circuit_breaker_state', { breaker: 'late' })).toBe(1);
    expect(
      await value(r, 'breakwater_circuit_breaker_calls_total', { breaker: 'late', result: 'failure' }),
    ).toBe(1);
    expect(
      await value(r, 'breakwater_circuit_breaker_calls_total', { breaker: 'late', result: 'rejected' }),
    ).toBe(1);
    expect(
      await value(r, 'breakwater_circuit_breaker_transitions_total', { from: 'closed', to: 'open' }),
    ).toBe(1);
  });

  test('guards built lazily register their limiter, bulkhead and refusal series', async () => {
    const r = new Registry();
    const c = core({ registry: r });
    c.routes.routeGuard(
      { rateLimit: { limit: 1, window: '1s' }, bulkhead: { maxConcurrent: 2 }, timeout: '1s' },
      'GET',
      '/a',
    );
    expect(await value(r, 'breakwater_bulkhead_limit', { bulkhead: 'GET /a' })).toBe(2);
    expect(await value(r, 'breakwater_bulkhead_rejected_total', { bulkhead: 'GET /a' })).toBe(0);
    expect(await value(r, 'breakwater_rate_limit_requests_total', { result: 'limited' })).toBe(0);
    const reasons = (await r.getSingleMetric('breakwater_rejections_total')!.get()).values.map(
      (v) => v.labels.reason,
    );
    expect(reasons.sort()).toEqual(['bulkhead_full', 'rate_limited', 'timeout']);
  });

  test('pools added later: gauges read stats at scrape time, counters follow events', async () => {
    const r = new Registry();
    const c = core({ registry: r });
    const acquire = new Emitter<number>();
    const timeouts = new Emitter<void>();
    const checks = new Emitter<PoolHealthCheckEvent>();
    const requests = new Emitter<string>();
    const retries = new Emitter<string>();
    const events: PoolEvents = {
      onAcquire: acquire.event,
      onAcquireTimeout: timeouts.event,
      onHealthCheck: checks.event,
      onRequest: requests.event,
      onRetry: retries.event,
    };
    let active = 3;
    let status: 'pass' | 'fail' = 'pass';
    const pool: Pool = {
      name: 'api',
      stats: () => ({ active, idle: 2, pending: 1, max: 10 }),
      health: async () => ({ status, time: new Date().toISOString() }),
      events,
      close: async () => {},
    };
    c.pools.add(pool);
    acquire.fire(20);
    timeouts.fire();
    checks.fire({ ok: false, durationMs: 5 });
    requests.fire('success');
    requests.fire('success');
    retries.fire('status_503');
    expect(await value(r, 'breakwater_pool_connections', { pool: 'api', state: 'active' })).toBe(3);
    active = 5;
    expect(await value(r, 'breakwater_pool_connections', { pool: 'api', state: 'active' })).toBe(5);
    expect(await value(r, 'breakwater_pool_connections', { state: 'idle' })).toBe(2);
    expect(await value(r, 'breakwater_pool_pending_acquires', { pool: 'api' })).toBe(1);
    expect(await value(r, 'breakwater_pool_max_connections', { pool: 'api' })).toBe(10);
    expect(await value(r, 'breakwater_pool_healthy', { pool: 'api' })).toBe(1);
    status = 'fail';
    expect(await value(r, 'breakwater_pool_healthy', { pool: 'api' })).toBe(0);
    expect(await value(r, 'breakwater_pool_acquire_timeouts_total', { pool: 'api' })).toBe(1);
    expect(await value(r, 'breakwater_pool_health_check_failures_total', { pool: 'api' })).toBe(1);
    expect(await value(r, 'breakwater_pool_requests_total', { outcome: 'success' })).toBe(2);
    expect(await value(r, 'breakwater_pool_retries_total', { outcome: 'status_503' })).toBe(1);
    const text = await r.metrics();
    expect(text).toContain('breakwater_pool_acquire_duration_seconds_count{pool="api"} 1');
    expect(text).toContain('breakwater_pool_acquire_duration_seconds_sum{pool="api"} 0.02');
    expect(text).toContain('breakwater_pool_health_check_duration_seconds_count{pool="api"} 1');
  });
});

describe('content negotiation', () => {
  test.each([
    [undefined, false],
    ['text/plain', false],
    ['application/openmetrics-text', true],
    ['application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', true],
    ['text/plain;q=1, application/openmetrics-text;q=0.2', false],
    ['application/openmetrics-text;q=0', false],
  ])('Accept %s → OpenMetrics %s', (accept, om) => {
    expect(prefersOpenMetrics(accept)).toBe(om);
  });
});
