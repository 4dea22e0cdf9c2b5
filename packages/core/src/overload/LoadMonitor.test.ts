import { Registry } from 'prom-client';
import { afterEach, describe, expect, test } from 'vitest';
import { BreakwaterCore } from '../Breakwater.js';
import { Priority } from '../guard/priority.js';
import type { PolicyRefusal, Refusal } from '../guard/problem.js';
import type { RouteGuard } from '../guard/RouteGuard.js';
import { StubCall } from '../test-call.js';
import { StepClock } from '../test-clock.js';
import { LoadMonitor } from './LoadMonitor.js';
import type { LoadSample, LoadSampler } from './sampler.js';
import { processSampler } from './sampler.js';

/** A sampler answering whatever reading the test sets. */
class FakeSampler implements LoadSampler {
  reading: LoadSample = { eventLoopDelayMs: 0, eventLoopUtilization: 0, heapUsedBytes: 0 };
  samples = 0;
  started = 0;
  stopped = 0;
  start(): void {
    this.started++;
  }
  sample(): LoadSample {
    this.samples++;
    return { ...this.reading };
  }
  stop(): void {
    this.stopped++;
  }
  set(r: Partial<LoadSample>): void {
    this.reading = { ...this.reading, ...r };
  }
}

/** A request that records what the guard did with it. */
class TestCall extends StubCall {
  refused: Refusal | undefined;
  ran = false;
  constructor(
    guard: RouteGuard,
    private readonly req: unknown = {},
  ) {
    super(guard);
  }
  override nativeRequest() {
    return this.req;
  }
  override refuse(r: PolicyRefusal) {
    this.refused = r;
  }
  override proceed() {
    this.ran = true;
    this.finish(200, undefined);
  }
}

describe('LoadMonitor', () => {
  test('samples once per interval on one timer, adds its own lateness as delay, and stops', () => {
    const clock = new StepClock();
    const sampler = new FakeSampler();
    const m = new LoadMonitor({ sampler, clock, intervalMs: 100 });
    const seen: LoadSample[] = [];
    m.onSample((s) => seen.push(s));
    expect(clock.timers.size).toBe(0);
    m.start();
    m.start();
    expect([sampler.started, clock.timers.size]).toEqual([1, 1]);
    clock.advance(350);
    expect(seen).toHaveLength(3);
    expect(clock.timers.size).toBe(1);
    // A loop blocked past the tick: the tick runs 70 ms late.
    sampler.set({ eventLoopDelayMs: 20 });
    const timer = [...clock.timers.values()][0]!;
    clock.t = timer.at + 70;
    clock.advance(0);
    expect(seen.at(-1)!.eventLoopDelayMs).toBe(70);
    m.stop();
    m.stop();
    expect([sampler.stopped, clock.timers.size, m.isRunning]).toEqual([1, 0, false]);
    clock.advance(1000);
    expect(seen).toHaveLength(4);
  });

  test('a throwing sampler skips a sample and keeps the monitor going', () => {
    const clock = new StepClock();
    let n = 0;
    const m = new LoadMonitor({
      sampler: {
        sample() {
          if (++n === 1) throw new Error('boom');
          return { eventLoopDelayMs: 1, eventLoopUtilization: 0, heapUsedBytes: 0 };
        },
      },
      clock,
      intervalMs: 10,
    });
    const seen: LoadSample[] = [];
    m.onSample((s) => seen.push(s));
    m.start();
    clock.advance(30);
    expect([n, seen.length]).toEqual([3, 2]);
    m.stop();
  });

  test('the process sampler reads a busy loop', () => {
    const s = processSampler({ resolutionMs: 1, heap: true });
    s.start!();
    const end = performance.now() + 30;
    while (performance.now() < end) {}
    const r = s.sample();
    s.stop!();
    expect(r.eventLoopUtilization).toBeGreaterThan(0.5);
    expect(r.heapUsedBytes).toBeGreaterThan(0);
  });
});

describe('breakwater({ overload })', () => {
  const cores: BreakwaterCore[] = [];
  afterEach(async () => {
    await Promise.all(cores.splice(0).map((c) => c.close()));
  });
  function setup(overload: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}) {
    const clock = new StepClock();
    const sampler = new FakeSampler();
    const core = new BreakwaterCore({
      clock,
      metrics: false,
      ...(overload && { overload: { sampleInterval: '100ms', sampler, ...overload } }),
      ...extra,
    });
    cores.push(core);
    return { clock, sampler, core };
  }
  const run = (guard: RouteGuard, req?: unknown) => {
    const call = new TestCall(guard, req);
    guard.start(call);
    return call;
  };

  test('off unless configured: no timer, no shedder on guards', () => {
    const { clock, core } = setup(undefined);
    expect(core.overload).toBeUndefined();
    expect(clock.timers.size).toBe(0);
    const g = core.routes.routeGuard({ priority: 'sheddable' }, 'GET', '/x')!;
    expect(g.shedder).toBeUndefined();
    expect(run(g).priority).toBe(Priority.sheddable);
  });

  test('one timer while on, cleared by close()', async () => {
    const { clock, sampler, core } = setup({});
    expect([clock.timers.size, sampler.started]).toEqual([1, 1]);
    await core.close();
    expect([clock.timers.size, sampler.stopped]).toEqual([0, 1]);
  });

  test('a constructor that fails later starts no timer', () => {
    const clock = new StepClock();
    const sampler = new FakeSampler();
    expect(
      () =>
        new BreakwaterCore({ clock, metrics: false, overload: { sampler }, defaults: { timeout: 'soon' } }),
    ).toThrow(/breakwater.defaults.timeout/);
    expect([clock.timers.size, sampler.started]).toEqual([0, 0]);
  });

  test('sheds sheddable, then normal, never critical; recovers; health warns meanwhile', async () => {
    const { clock, sampler, core } = setup({ recoverAfter: 2 }, { health: { cacheFor: 0 } });
    const sheddable = core.routes.routeGuard({ priority: 'sheddable' }, 'GET', '/feed')!;
    const normal = core.routes.routeGuard({ timeout: '1s' }, 'GET', '/orders')!;
    const critical = core.routes.routeGuard({ priority: 'critical' }, 'POST', '/pay')!;
    expect(critical.shedder).toBeUndefined();
    const statuses = () => [sheddable, normal, critical].map((g) => (run(g).refused ? 503 : 200));
    const rejections: string[] = [];
    core.onRejected((e) => rejections.push(`${e.route}:${e.reason}`));

    expect(statuses()).toEqual([200, 200, 200]);
    sampler.set({ eventLoopDelayMs: 150 });
    clock.advance(200);
    expect(core.overload!.shedder.level).toBe(1);
    expect(statuses()).toEqual([503, 200, 200]);
    const health = await core.health.report();
    expect(health.status).toBe('warn');
    expect(health.checks.overload![0]).toMatchObject({ status: 'warn', observedValue: 1, critical: false });

    clock.advance(200);
    expect(statuses()).toEqual([503, 503, 200]);
    const refused = run(normal).refused!;
    expect(refused.problem.code).toBe('OVERLOADED');
    expect(refused.headers).toContainEqual(['Retry-After', '1']);

    // Two calm samples start re-admitting normal requests; five more steps leave level 2.
    sampler.set({ eventLoopDelayMs: 10 });
    clock.advance(600);
    expect([core.overload!.shedder.level, core.overload!.shedder.admitted]).toEqual([2, 1 / 2]);
    clock.advance(100);
    expect(statuses()).toEqual([503, 200, 200]);
    clock.advance(700);
    expect(statuses()).toEqual([200, 200, 200]);
    expect((await core.health.report()).checks.overload![0]!.status).toBe('pass');
    expect(rejections).toEqual([
      'GET /feed:overloaded',
      'GET /feed:overloaded',
      'GET /orders:overloaded',
      'GET /orders:overloaded',
      'GET /feed:overloaded',
    ]);
  });

  test('priority as a function of the request; a throwing or odd answer counts as normal', () => {
    const { clock, sampler, core } = setup({ escalateAfter: 1 });
    const g = core.routes.routeGuard(
      {
        priority: (req: { user?: string; boom?: boolean; odd?: boolean }) => {
          if (req.boom) throw new Error('bug');
          if (req.odd) return 'toString' as never;
          return req.user ? 'critical' : 'sheddable';
        },
      },
      'GET',
      '/search',
    )!;
    sampler.set({ eventLoopDelayMs: 1000 });
    clock.advance(100);
    expect(core.overload!.shedder.level).toBe(1);
    expect(run(g, { user: 'ann' })).toMatchObject({ ran: true, priority: Priority.critical });
    expect(run(g, {})).toMatchObject({ ran: false, priority: Priority.sheddable });
    expect(run(g, { boom: true })).toMatchObject({ ran: true, priority: Priority.normal });
    expect(run(g, { odd: true })).toMatchObject({ ran: true, priority: Priority.normal });
  });

  test('priority is validated and merges like any policy', () => {
    const { core } = setup({});
    expect(() => core.routes.routeGuard({ priority: 'low' as never }, 'GET', '/a')).toThrow(
      expect.objectContaining({ path: 'route.priority' }),
    );
    expect(() => new BreakwaterCore({ metrics: false, overload: { maxEventLoopUtilization: 2 } })).toThrow(
      /breakwater.overload.maxEventLoopUtilization/,
    );
    const withDefaults = setup({}, { defaults: { priority: 'sheddable' } }).core;
    expect(withDefaults.routes.routeGuard({}, 'GET', '/a')!.priority).toBe(Priority.sheddable);
    expect(withDefaults.routes.routeGuard({ priority: 'critical' }, 'GET', '/b')!.priority).toBe(
      Priority.critical,
    );
  });

  test('metrics: level and loop gauges, and overloaded rejections zeroed per guard', async () => {
    const registry = new Registry();
    const { clock, sampler, core } = setup({}, { metrics: true, registry });
    core.routes.routeGuard({ priority: 'sheddable' }, 'GET', '/feed');
    sampler.set({ eventLoopDelayMs: 250, eventLoopUtilization: 0.5 });
    clock.advance(100);
    const text = await registry.metrics();
    expect(text).toMatch(/^breakwater_overload_level 1$/m);
    expect(text).toMatch(/^breakwater_event_loop_delay_p99_seconds 0.25$/m);
    expect(text).toMatch(/^breakwater_event_loop_utilization_ratio 0.5$/m);
    expect(text).toMatch(/^breakwater_rejections_total\{route="GET \/feed",reason="overloaded"\} 0$/m);
    // Another instance on the same registry shares the gauges instead of conflicting.
    const other = setup({}, { metrics: true, registry });
    other.core.routes.routeGuard({ priority: 'sheddable' }, 'GET', '/other');
    expect(await registry.metrics()).toMatch(/^breakwater_overload_level 1$/m);
  });

  test('instances without overload register no overload gauges', async () => {
    const registry = new Registry();
    setup(undefined, { metrics: true, registry });
    expect(await registry.metrics()).not.toMatch(/overload_level|event_loop/);
  });
});
