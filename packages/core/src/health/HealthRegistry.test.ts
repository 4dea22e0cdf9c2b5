import { afterEach, describe, expect, test } from 'vitest';
import { BreakwaterCore } from '../Breakwater.js';
import type { Pool } from '../pools/types.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { HealthRegistry } from './HealthRegistry.js';
import type { HealthReport } from './types.js';

/** A clock that moves only when told. */
class StepClock implements Clock {
  t = 1_000_000;
  timers = new Map<number, { at: number; fn: () => void }>();
  private id = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number): TimerHandle => {
    this.timers.set(++this.id, { at: this.t + ms, fn });
    return this.id;
  };
  clearTimeout = (h: TimerHandle) => {
    this.timers.delete(h as number);
  };
  advance(ms: number) {
    this.t += ms;
    for (const [id, x] of [...this.timers]) {
      if (x.at <= this.t) {
        this.timers.delete(id);
        x.fn();
      }
    }
  }
}

const cores: BreakwaterCore[] = [];
function core(clock = new StepClock(), extra = {}) {
  const c = new BreakwaterCore({ clock, metrics: false, ...extra });
  cores.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(cores.splice(0).map((c) => c.close()));
});

function pool(name: string, status: 'pass' | 'warn' | 'fail', critical?: boolean): Pool {
  return {
    name,
    critical,
    stats: () => ({ active: 0, idle: 1, pending: 0, max: 1 }),
    health: async () => ({ status, latencyMs: 3, time: '2024-01-01T00:00:00.000Z' }),
    close: async () => {},
  };
}

async function answer(h: HealthRegistry, kind?: 'ready' | 'live' | 'detailed') {
  const a = await h.answer(kind);
  return {
    status: a.status,
    body: JSON.parse(a.body) as HealthReport,
    headers: Object.fromEntries(a.headers),
  };
}

describe('HealthRegistry', () => {
  test('pass: pools and checks, application/health+json, one entry per pool and check', async () => {
    const c = core();
    c.pools.add(pool('api', 'pass'));
    c.health.register('db', () => true);
    const a = await answer(c.health);
    expect(a.status).toBe(200);
    expect(a.headers['Content-Type']).toBe('application/health+json');
    expect(a.body.status).toBe('pass');
    expect(Object.keys(a.body.checks).sort()).toEqual(['db', 'pool:api']);
    expect(a.body.checks['pool:api']![0]).toMatchObject({
      componentId: 'api',
      componentType: 'pool',
      status: 'pass',
      observedValue: 3,
      observedUnit: 'ms',
      time: '2024-01-01T00:00:00.000Z',
    });
    expect(a.body.checks.db![0]).toMatchObject({ status: 'pass', observedUnit: 'ms', critical: true });
  });

  test('a failing non-critical check warns; a failing critical one fails (503)', async () => {
    const c = core();
    c.health.register('cache', () => false, { critical: false });
    expect((await answer(c.health)).body.status).toBe('warn');
    expect((await answer(c.health, 'ready')).status).toBe(200);
    const c2 = core();
    c2.health.register('db', () => {
      throw new Error('connection refused');
    });
    const a = await answer(c2.health, 'ready');
    expect(a.status).toBe(503);
    expect(a.body.status).toBe('fail');
    expect(a.body.checks.db![0]).toMatchObject({ status: 'fail', output: 'connection refused' });
    // A non-critical pool that fails only warns.
    const c3 = core();
    c3.pools.add(pool('reports', 'fail', false));
    expect((await answer(c3.health)).body.status).toBe('warn');
  });

  test('an open breaker is warn', async () => {
    const c = core(new StepClock(), { breakers: { upstream: {} } });
    expect((await answer(c.health)).body.status).toBe('pass');
    const c2 = core(new StepClock(), { breakers: { upstream: {} } });
    c2.breakers.get('upstream')!.open();
    const a = await answer(c2.health);
    expect(a.status).toBe(200);
    expect(a.body.status).toBe('warn');
    expect(a.body.checks['breaker:upstream']![0]).toMatchObject({ status: 'warn', observedValue: 'open' });
  });

  test('a check past its timeout fails and its signal aborts', async () => {
    const clock = new StepClock();
    const c = core(clock);
    let aborted = false;
    c.health.register(
      'hangs',
      (signal) =>
        new Promise(() => {
          signal.addEventListener('abort', () => (aborted = true));
        }),
      { timeout: '200ms' },
    );
    const p = answer(c.health);
    await Promise.resolve();
    clock.advance(200);
    const a = await p;
    expect(a.status).toBe(503);
    expect(a.body.checks.hangs![0]!.output).toMatch(/timed out after 200ms/);
    expect(aborted).toBe(true);
    expect(clock.timers.size).toBe(0);
  });

  test('checks run in parallel', async () => {
    const c = new BreakwaterCore({ metrics: false });
    cores.push(c);
    const delay = () => new Promise<void>((r) => setTimeout(r, 100));
    c.health.register('a', delay);
    c.health.register('b', delay);
    c.health.register('c', delay);
    const t0 = performance.now();
    expect((await answer(c.health)).body.status).toBe('pass');
    expect(performance.now() - t0).toBeLessThan(250);
  });

  test('results are cached briefly and shared by concurrent probes', async () => {
    const clock = new StepClock();
    const c = core(clock);
    let runs = 0;
    c.health.register('db', async () => {
      runs++;
    });
    await Promise.all(Array.from({ length: 50 }, () => c.health.answer('ready')));
    expect(runs).toBe(1);
    clock.advance(999);
    await c.health.answer();
    expect(runs).toBe(1);
    clock.advance(1);
    await c.health.answer();
    expect(runs).toBe(2);
  });

  test('readiness fails as soon as close begins; liveness still answers', async () => {
    const c = core();
    let release!: () => void;
    c.pools.add({ ...pool('slow-close', 'pass'), close: () => new Promise<void>((r) => (release = r)) });
    expect((await answer(c.health, 'ready')).status).toBe(200);
    const closing = c.close();
    const a = await answer(c.health, 'ready');
    expect(a.status).toBe(503);
    expect(a.body).toMatchObject({ status: 'fail', output: 'shutting down' });
    expect((await answer(c.health, 'live')).status).toBe(200);
    release();
    await closing;
  });

  test('bad registrations fail loudly', () => {
    const c = core();
    c.health.register('db', () => true);
    expect(() => c.health.register('db', () => true)).toThrow(/already registered/);
    expect(() => c.health.register('x', 'nope' as never)).toThrow(/a function/);
    expect(() => c.health.register('y', () => true, { critical: 'yes' as never })).toThrow(/critical/);
    expect(() => HealthRegistry.checkKind('readiness')).toThrow(/'live', 'ready'/);
    const d = c.health.register('z', () => false);
    d.dispose();
    expect(() => c.health.register('z', () => true)).not.toThrow();
  });
});
