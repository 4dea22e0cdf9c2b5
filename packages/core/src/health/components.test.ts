import { describe, expect, test } from 'vitest';
import { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import { Bulkhead } from '../bulkhead/Bulkhead.js';
import { PoolManager } from '../pools/PoolManager.js';
import { RateLimiter } from '../rate-limit/RateLimiter.js';
import type { RateLimitStore } from '../rate-limit/types.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { HealthRegistry, type HealthSources } from './HealthRegistry.js';
import type { HealthReport } from './types.js';

/** A clock that moves only when told. */
class StepClock implements Clock {
  t = Date.UTC(2024, 0, 1);
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number): TimerHandle => setTimeout(fn, ms);
  clearTimeout = (h: TimerHandle) => clearTimeout(h as NodeJS.Timeout);
}

function registry(sources: Partial<HealthSources> & { clock: Clock }): HealthRegistry {
  return new HealthRegistry(
    { isClosing: false, breakers: [], pools: new PoolManager({ clock: sources.clock }), ...sources },
    { cacheFor: 0 },
  );
}

async function report(h: HealthRegistry): Promise<{ status: number; body: HealthReport }> {
  const a = await h.answer('detailed');
  return { status: a.status, body: JSON.parse(a.body) as HealthReport };
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('detailed health: breakers', () => {
  test('state and since when, failure rate and calls in the window, the last failure by code only', async () => {
    const clock = new StepClock();
    const created = clock.t;
    const b = new CircuitBreaker(
      { minimumCalls: 4, failureRateThreshold: 0.5, openFor: '10s', clock },
      'upstream',
    );
    const h = registry({ clock, breakers: [b] });
    let e = (await report(h)).body.checks['breaker:upstream']![0]!;
    expect(e).toEqual({
      componentId: 'upstream',
      componentType: 'circuit-breaker',
      status: 'pass',
      observedValue: 'closed',
      observedUnit: 'state',
      critical: false,
      time: iso(clock.t),
      since: iso(created),
      failureRate: 0,
      calls: 0,
      failures: 0,
    });

    clock.t += 1000;
    await b.execute(() => ({ status: 200 }));
    clock.t += 1000;
    const secret = Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:6379 password=hunter2'), {
      code: 'ECONNREFUSED',
    });
    await expect(b.execute(() => Promise.reject(secret))).rejects.toBe(secret);
    const failedAt = clock.t;
    clock.t += 1000;
    await b.execute(() => ({ status: 200 }));
    e = (await report(h)).body.checks['breaker:upstream']![0]!;
    expect(e).toMatchObject({
      status: 'pass',
      observedValue: 'closed',
      since: iso(created),
      failureRate: 1 / 3,
      calls: 3,
      failures: 1,
      lastFailure: { time: iso(failedAt), code: 'ECONNREFUSED' },
    });

    // A failing status trips it: open is warn, since the trip, code from the status.
    clock.t += 1000;
    await b.execute(() => ({ status: 503 }));
    const openedAt = clock.t;
    expect(b.state).toBe('open');
    clock.t += 2000;
    const r = await report(h);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('warn');
    e = r.body.checks['breaker:upstream']![0]!;
    expect(e).toMatchObject({
      status: 'warn',
      observedValue: 'open',
      since: iso(openedAt),
      retryAfterMs: 8000,
      lastFailure: { time: iso(openedAt), code: 'HTTP_503' },
    });
    const text = JSON.stringify(r.body);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('10.1.2.3');

    // Half-open by itself: since is when its open time ran out, not when it was next asked.
    clock.t += 60_000;
    e = (await report(h)).body.checks['breaker:upstream']![0]!;
    expect(e).toMatchObject({ status: 'warn', observedValue: 'half-open', since: iso(openedAt + 10_000) });

    // A timed-out call names TIMEOUT; an error without a code names its class; reset forgets.
    b.reset();
    expect(b.lastFailure).toBeUndefined();
    const t = b.acquire();
    b.record(t, true, 5, 'TIMEOUT');
    expect(b.lastFailure).toEqual({ at: clock.t, code: 'TIMEOUT' });
    await expect(
      b.execute(() => Promise.reject(new TypeError('x is not a function: /home/app'))),
    ).rejects.toThrow();
    expect(b.lastFailure?.code).toBe('TypeError');
    await expect(b.execute(() => Promise.reject('a string with no code'))).rejects.toBe(
      'a string with no code',
    );
    expect(b.lastFailure?.code).toBe('ERROR');
  });
});

describe('detailed health: bulkheads', () => {
  test('active, queued and limit; warn while saturated, pass once it has room again', async () => {
    const clock = new StepClock();
    const shared = new Bulkhead({ maxConcurrent: 2, maxQueue: 1 }, 'db');
    const own = new Bulkhead({ maxConcurrent: 5 }, 'GET /report');
    // A shared bulkhead appears once, however many routes use it.
    const h = registry({
      clock,
      bulkheads: [shared],
      guards: [{ bulkhead: shared }, { bulkhead: shared }, { bulkhead: own }, {}],
    });
    const releases: Array<() => void> = [];
    const hold = () => new Promise<void>((r) => releases.push(r));
    const running = [shared.execute(hold), shared.execute(hold), shared.execute(hold)];
    await expect(shared.execute(hold)).rejects.toMatchObject({ code: 'BULKHEAD_FULL' });
    let r = await report(h);
    expect(Object.keys(r.body.checks).sort()).toEqual(['bulkhead:GET /report', 'bulkhead:db']);
    expect(r.body.status).toBe('warn');
    expect(r.body.checks['bulkhead:db']![0]).toEqual({
      componentId: 'db',
      componentType: 'bulkhead',
      status: 'warn',
      observedValue: 2,
      observedUnit: 'active calls',
      critical: false,
      time: iso(clock.t),
      active: 2,
      queued: 1,
      limit: 2,
      maxQueue: 1,
    });
    expect(r.body.checks['bulkhead:GET /report']![0]).toMatchObject({ status: 'pass', active: 0, limit: 5 });
    // One release hands the slot to the waiter: still at its limit, still saturated.
    releases.shift()!();
    await running[0];
    await Promise.resolve();
    expect((await report(h)).body.checks['bulkhead:db']![0]).toMatchObject({
      status: 'warn',
      active: 2,
      queued: 0,
    });
    releases.shift()!();
    await running[1];
    r = await report(h);
    expect(r.body.status).toBe('pass');
    expect(r.body.checks['bulkhead:db']![0]).toMatchObject({ status: 'pass', active: 1, queued: 0 });
    for (const f of releases.splice(0)) f();
    await Promise.all(running);
  });
});

/** A store that fails while `down` is true. */
function flakyStore(): RateLimitStore & { down: boolean } {
  return {
    down: false,
    consume(_key, windows) {
      if (this.down)
        return Promise.reject(Object.assign(new Error('redis gone'), { code: 'STORE_UNAVAILABLE' }));
      return Promise.resolve({
        allowed: true,
        remaining: windows.map((w) => w.limit - 1),
        resetMs: windows.map(() => 0),
        retryAfterMs: 0,
        violated: [],
      });
    },
  };
}

describe('detailed health: rate-limit stores', () => {
  test('decisions from the store pass; from the fallback warn, until the store answers again', async () => {
    const clock = new StepClock();
    const store = flakyStore();
    const shared = new RateLimiter(
      { limit: 10, window: '1m', store, onStoreError: 'memory' },
      { name: 'GET /api', clock },
    );
    // A limiter on its own memory store has no fallback to report.
    const own = new RateLimiter({ limit: 10, window: '1m' }, { name: 'GET /local', clock });
    const h = registry({ clock, guards: [{ limiter: shared }, { limiter: own }] });
    await shared.consume('a');
    let r = await report(h);
    expect(Object.keys(r.body.checks)).toEqual(['rateLimitStore:GET /api']);
    expect(r.body.checks['rateLimitStore:GET /api']![0]).toEqual({
      componentId: 'GET /api',
      componentType: 'rate-limit-store',
      status: 'pass',
      observedValue: 'store',
      observedUnit: 'decisions from',
      critical: false,
      time: iso(clock.t),
      onStoreError: 'memory',
    });
    store.down = true;
    expect((await shared.consume('a')).allowed).toBe(true);
    r = await report(h);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('warn');
    expect(r.body.checks['rateLimitStore:GET /api']![0]).toMatchObject({
      status: 'warn',
      observedValue: 'fallback',
    });
    store.down = false;
    await shared.consume('a');
    expect((await report(h)).body.checks['rateLimitStore:GET /api']![0]).toMatchObject({
      status: 'pass',
      observedValue: 'store',
    });
    await shared.close();
    await own.close();
  });
});

describe('detailed health: pools', () => {
  test("the pool's stats beside its last check; a pool whose stats throw still reports its check", async () => {
    const clock = new StepClock();
    const pools = new PoolManager({ clock });
    pools.add({
      name: 'api',
      stats: () => ({ active: 3, idle: 1, pending: 2, max: 4, origins: 2 }),
      health: async () => ({ status: 'pass', latencyMs: 7, time: '2024-01-01T00:00:05.000Z' }),
      close: async () => {},
    });
    pools.add({
      name: 'odd',
      stats: () => {
        throw new Error('no stats');
      },
      health: async () => ({
        status: 'warn',
        output: '1 of 2 origins down',
        time: '2024-01-01T00:00:06.000Z',
      }),
      close: async () => {},
    });
    const h = registry({ clock, pools });
    const r = await report(h);
    expect(r.body.checks['pool:api']![0]).toEqual({
      componentId: 'api',
      componentType: 'pool',
      status: 'pass',
      critical: true,
      observedValue: 7,
      observedUnit: 'ms',
      time: '2024-01-01T00:00:05.000Z',
      stats: { active: 3, idle: 1, pending: 2, max: 4, origins: 2 },
    });
    expect(r.body.checks['pool:odd']![0]).toMatchObject({ status: 'warn', output: '1 of 2 origins down' });
    expect(r.body.checks['pool:odd']![0]).not.toHaveProperty('stats');
    // 'ready' answers from the same report: warn is still 200; 'live' is untouched.
    expect((await h.answer('ready')).status).toBe(200);
    expect((await h.answer('live')).body).toBe('{"status":"pass"}');
    await pools.close();
  });
});
