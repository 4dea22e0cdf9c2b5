import { afterEach, describe, expect, test } from 'vitest';
import { BreakwaterCore, type BreakwaterOptions } from '../Breakwater.js';
import { isConfigError } from '../errors.js';
import type { Pool, PoolHealth, PoolHealthCheckEvent } from '../pools/types.js';
import type { RateLimitStore } from '../rate-limit/types.js';
import { Emitter } from '../util/events.js';
import type { Logger, LogLevel } from './Logger.js';

interface Line {
  level: LogLevel;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** A logger in pino's shape that keeps what it is given. */
function recorder(): Logger & { lines: Line[]; events(): string[] } {
  const lines: Line[] = [];
  const at = (level: LogLevel) => (obj: object, msg?: string) => {
    lines.push({ level, obj: obj as Record<string, unknown>, msg });
  };
  return {
    lines,
    events: () => lines.map((l) => `${l.level} ${String(l.obj.event)}`),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}

const cores: BreakwaterCore[] = [];
function core(options: BreakwaterOptions): BreakwaterCore {
  const c = new BreakwaterCore({ metrics: false, ...options });
  cores.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(cores.splice(0).map((c) => c.close()));
});

describe('breakwater({ logger })', () => {
  test('validated up front: a ConfigError naming `logger` for anything without the four methods', () => {
    for (const bad of [{}, { info() {}, warn() {} }, 'console', 42, null, () => {}]) {
      let err: unknown;
      try {
        new BreakwaterCore({ metrics: false, logger: bad as never });
      } catch (e) {
        err = e;
      }
      expect(isConfigError(err), String(bad)).toBe(true);
      expect((err as Error).message).toMatch(
        /^breakwater\.logger: expected a logger with debug, info, warn and error/,
      );
    }
    expect(
      (() => {
        try {
          new BreakwaterCore({ metrics: false, logger: { info() {}, warn() {} } as never });
        } catch (e) {
          return (e as Error).message;
        }
      })(),
    ).toContain('missing debug, error');
    // console fits; nothing given logs nothing and listens to nothing.
    expect(core({ logger: console }).log).toBeDefined();
    const quiet = core({ breakers: { db: {} } });
    expect(quiet.log).toBeUndefined();
  });

  test('breaker transitions: one line each, open at warn with its window and failure code', async () => {
    const log = recorder();
    const c = core({ logger: log, breakers: { upstream: { consecutiveFailures: 2, openFor: '50ms' } } });
    const b = c.breakers.get('upstream')!;
    const fail = () =>
      b.execute(() =>
        Promise.reject(Object.assign(new Error('secret host 10.0.0.1'), { code: 'ECONNRESET' })),
      );
    await expect(fail()).rejects.toThrow();
    await expect(fail()).rejects.toThrow();
    // Refused calls while open log nothing more.
    for (let i = 0; i < 20; i++) await expect(fail()).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
    expect(log.events()).toEqual(['warn breaker_state_change']);
    expect(log.lines[0]!.obj).toMatchObject({
      breaker: 'upstream',
      from: 'closed',
      to: 'open',
      reason: 'consecutive-failures',
      lastFailureCode: 'ECONNRESET',
      calls: 2,
      failureRate: 1,
    });
    expect(log.lines[0]!.msg).toBe('circuit breaker "upstream" opened (consecutive-failures)');
    expect(JSON.stringify(log.lines)).not.toContain('10.0.0.1');
    await new Promise((r) => setTimeout(r, 60));
    await b.execute(() => 'ok');
    expect(log.events()).toEqual([
      'warn breaker_state_change',
      'info breaker_state_change',
      'info breaker_state_change',
    ]);
    expect(log.lines.map((l) => l.obj.to)).toEqual(['open', 'half-open', 'closed']);
    // Breakers added later (a pool's, a route's) are logged too.
    const late = c.breakers.create('late', { consecutiveFailures: 1 });
    await expect(late.execute(() => Promise.reject(new Error('x')))).rejects.toThrow();
    expect(log.lines.at(-1)!.obj).toMatchObject({ breaker: 'late', to: 'open', lastFailureCode: 'Error' });
  });

  test('bulkhead saturation: entering and leaving full once each, not once per refusal', async () => {
    const log = recorder();
    const c = core({ logger: log, bulkheads: { db: { maxConcurrent: 2 } } });
    const bh = c.bulkheads.get('db')!;
    const releases: Array<() => void> = [];
    const hold = () => new Promise<void>((r) => releases.push(r));
    const running = [bh.execute(hold), bh.execute(hold)];
    for (let i = 0; i < 10; i++)
      await expect(bh.execute(hold)).rejects.toMatchObject({ code: 'BULKHEAD_FULL' });
    expect(log.events()).toEqual(['warn bulkhead_saturated']);
    expect(log.lines[0]!.obj).toMatchObject({ bulkhead: 'db', active: 2, queued: 0, limit: 2 });
    releases.shift()!();
    await running[0];
    expect(log.events()).toEqual(['warn bulkhead_saturated', 'info bulkhead_recovered']);
    releases.shift()!();
    await running[1];
    expect(log.lines).toHaveLength(2);
  });

  test('a route bulkhead and limiter are logged from the guard; a store failing over logs once each way', async () => {
    const log = recorder();
    let down = false;
    let calls = 0;
    const store: RateLimitStore = {
      consume(_k, windows) {
        calls++;
        if (down)
          return Promise.reject(
            Object.assign(new Error('ECONNREFUSED 10.9.9.9'), {
              code: 'STORE_UNAVAILABLE',
              reason: 'timeout',
            }),
          );
        return Promise.resolve({
          allowed: true,
          remaining: windows.map(() => 1),
          resetMs: [0],
          retryAfterMs: 0,
          violated: [],
        });
      },
    };
    const c = core({
      logger: log,
      routes: {
        'GET /a': {
          rateLimit: { limit: 5, window: '1m', store, onStoreError: 'memory' },
          bulkhead: { maxConcurrent: 1 },
        },
      },
    });
    const g = c.entryGuard('GET', '/a')!;
    const l = g.limiter!;
    await l.consume('k');
    down = true;
    for (let i = 0; i < 10; i++) await l.consume('k');
    down = false;
    for (let i = 0; i < 10; i++) await l.consume('k');
    expect(calls).toBe(21);
    expect(log.events()).toEqual(['warn rate_limit_store_fallback', 'info rate_limit_store_recovered']);
    expect(log.lines[0]!.obj).toEqual({
      event: 'rate_limit_store_fallback',
      limiter: 'GET /a',
      onStoreError: 'memory',
      code: 'STORE_UNAVAILABLE:timeout',
    });
    expect(JSON.stringify(log.lines)).not.toContain('10.9.9.9');
    const bh = g.bulkhead!;
    let release!: () => void;
    const p = bh.execute(() => new Promise<void>((r) => (release = r)));
    await expect(bh.execute(async () => {})).rejects.toThrow();
    release();
    await p;
    expect(log.events().slice(2)).toEqual(['warn bulkhead_saturated', 'info bulkhead_recovered']);
  });

  test('pool health changes: once per change, the first reading a baseline unless unhealthy', async () => {
    const log = recorder();
    const c = core({ logger: log });
    const checks = new Emitter<PoolHealthCheckEvent>();
    let health: PoolHealth = { status: 'pass', time: new Date().toISOString() };
    const pool: Pool = {
      name: 'api',
      stats: () => ({ active: 0, idle: 1, pending: 0, max: 1 }),
      health: async () => health,
      events: { onHealthCheck: checks.event },
      close: async () => {},
    };
    c.pools.add(pool);
    const tick = async (ok: boolean) => {
      checks.fire({ ok, durationMs: 1 });
      await new Promise((r) => setImmediate(r));
    };
    await tick(true);
    await tick(true);
    expect(log.lines).toEqual([]);
    // One failed check below the threshold: the pool still passes, nothing is logged.
    await tick(false);
    expect(log.lines).toEqual([]);
    health = { status: 'fail', output: '3 checks failed', time: new Date().toISOString() };
    await tick(false);
    await tick(false);
    health = { status: 'pass', time: new Date().toISOString() };
    await tick(true);
    expect(log.events()).toEqual(['error pool_health_change', 'info pool_health_change']);
    expect(log.lines[0]!.obj).toEqual({
      event: 'pool_health_change',
      pool: 'api',
      from: 'pass',
      to: 'fail',
      critical: true,
      output: '3 checks failed',
    });
    expect(log.lines[0]!.msg).toBe('pool "api" is unhealthy');

    // A non-critical pool that starts unhealthy: warn, from unknown.
    const checks2 = new Emitter<PoolHealthCheckEvent>();
    c.pools.add({
      ...pool,
      name: 'reports',
      critical: false,
      events: { onHealthCheck: checks2.event },
      health: async () => ({ status: 'fail', time: '' }),
    });
    checks2.fire({ ok: false, durationMs: 1 });
    await new Promise((r) => setImmediate(r));
    expect(log.lines.at(-1)).toMatchObject({
      level: 'warn',
      obj: { pool: 'reports', from: 'unknown', to: 'fail', critical: false },
    });
  });

  test('misconfiguration: a key function answering no key, a queue wait the timeout always cuts short; once each', async () => {
    const log = recorder();
    const c = core({
      logger: log,
      routes: {
        'GET /k': { rateLimit: { limit: 5, window: '1m', key: () => undefined as unknown as string } },
        'GET /q': { timeout: '1s', bulkhead: { maxConcurrent: 1, maxQueue: 5, queueTimeout: '2s' } },
      },
    });
    // Found when the route's guard is built (at its first request), reported once.
    c.entryGuard('GET', '/q');
    c.entryGuard('GET', '/q');
    const misconfig = log.lines.filter((l) => l.obj.event === 'misconfiguration');
    expect(misconfig).toHaveLength(1);
    expect(misconfig[0]!.obj).toMatchObject({ option: 'bulkhead.queueTimeout', route: 'GET /q' });
    const g = c.entryGuard('GET', '/k')!;
    const key = g.limiter!.key as (req: unknown) => string;
    for (let i = 0; i < 5; i++) key({});
    const lines = log.lines.filter((l) => l.obj.event === 'misconfiguration');
    expect(lines).toHaveLength(2);
    expect(lines[1]!).toMatchObject({
      level: 'warn',
      obj: { option: "breakwater.routes['GET /k'].rateLimit.key", route: 'GET /k', limiter: 'GET /k' },
    });
    expect(lines[1]!.msg).toMatch(/key function returned undefined/);
  });

  test('a logger that throws never breaks the policy that announced the event', async () => {
    const boom = () => {
      throw new Error('disk full');
    };
    const c = core({
      logger: { debug: boom, info: boom, warn: boom, error: boom },
      breakers: { b: { consecutiveFailures: 1 } },
    });
    const b = c.breakers.get('b')!;
    await expect(b.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(b.state).toBe('open');
  });
});
