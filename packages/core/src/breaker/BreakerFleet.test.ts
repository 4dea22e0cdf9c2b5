import { Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import { BreakwaterCore } from '../Breakwater.js';
import { ConfigError } from '../errors.js';
import { StepClock } from '../test-clock.js';
import type { BreakerCoordinator } from './BreakerCoordinator.js';
import { BreakerFleet } from './BreakerFleet.js';
import { BreakerRegistry } from './BreakerRegistry.js';
import { CircuitBreaker, REJECTED } from './CircuitBreaker.js';

/**
 * The fleet's shared reports in memory (the coordinator contract, as Redis keeps it):
 * one instance's view, `down` making every exchange fail.
 */
function sharedReports() {
  const reports = new Map<string, Map<string, number>>();
  const state = { down: false, hang: undefined as Promise<void> | undefined, calls: 0 };
  const now = { t: 0 };
  const instance = (id: string): BreakerCoordinator => ({
    instanceId: id,
    async exchange(name, open, ttlMs) {
      state.calls++;
      await (state.hang ?? Promise.resolve());
      if (state.down) throw new Error('coordinator down');
      let r = reports.get(name);
      if (r === undefined) reports.set(name, (r = new Map()));
      for (const [k, exp] of r) if (exp <= now.t) r.delete(k);
      if (open === true) r.set(id, now.t + ttlMs);
      else if (open === false) r.delete(id);
      return r.size;
    },
  });
  return { instance, reports, state, now };
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function fleetOf(n: number, quorum = 2) {
  const shared = sharedReports();
  const clock = new StepClock();
  const instances = Array.from({ length: n }, (_, i) => {
    const fleet = new BreakerFleet({
      coordinator: shared.instance(`i${i}`),
      quorum,
      pollInterval: 100,
      clock,
    });
    const breaker = new CircuitBreaker({ consecutiveFailures: 1, openFor: '10s', clock, fleet }, 'upstream');
    fleet.attach(breaker);
    return { fleet, breaker };
  });
  const fail = (b: CircuitBreaker) => b.record(b.acquire(), true, 1);
  const tick = async () => {
    shared.now.t = clock.t;
    clock.advance(100);
    await flush();
  };
  return { shared, clock, instances, fail, tick };
}

describe('BreakerFleet', () => {
  test('one instance tripping alone opens no other; a quorum of two does', async () => {
    const { instances, fail, tick } = fleetOf(3);
    const [a, b, c] = instances.map((i) => i.breaker) as [CircuitBreaker, CircuitBreaker, CircuitBreaker];
    fail(a);
    expect(a.state).toBe('open');
    await tick();
    await tick();
    expect([b.state, c.state]).toEqual(['closed', 'closed']);
    fail(b);
    await tick();
    expect(c.state).toBe('open');
    expect(c.acquire()).toBe(REJECTED);
    for (const i of instances) i.fleet.close();
  });

  test('a breaker the fleet opened does not report: the fleet cannot keep itself open', async () => {
    const { instances, fail, tick, clock, shared } = fleetOf(3);
    const opened: string[] = [];
    instances[2]!.fleet.onOpen((e) => opened.push(`${e.breaker}:${e.instances}/${e.quorum}`));
    const [a, b, c] = instances.map((i) => i.breaker) as [CircuitBreaker, CircuitBreaker, CircuitBreaker];
    fail(a);
    fail(b);
    await tick();
    expect(c.state).toBe('open');
    expect(opened).toEqual(['upstream:2/2']);
    expect([...shared.reports.get('upstream')!.keys()].sort()).toEqual(['i0', 'i1']);
    // a and b recover: their probes succeed, their reports are withdrawn.
    clock.t += 10_000;
    for (const x of [a, b]) x.record(x.acquire(), false, 1);
    await tick();
    expect([a.state, b.state]).toEqual(['closed', 'closed']);
    expect(shared.reports.get('upstream')!.size).toBe(0);
    clock.t += 10_000;
    c.record(c.acquire(), false, 1);
    expect(c.state).toBe('closed');
    await tick();
    expect(c.state).toBe('closed');
    for (const i of instances) i.fleet.close();
  });

  test('a report expires unless renewed: a dead instance stops counting', async () => {
    const { instances, fail, tick, shared, clock } = fleetOf(3);
    const [a, b, c] = instances.map((i) => i.breaker) as [CircuitBreaker, CircuitBreaker, CircuitBreaker];
    fail(a);
    await tick();
    instances[0]!.fleet.close(); // "dies" without withdrawing: simulate by re-adding its report
    shared.reports.get('upstream')!.set('i0', clock.t + 300);
    await tick();
    await tick();
    await tick();
    await tick();
    fail(b);
    await tick();
    expect(c.state).toBe('closed');
    expect(a.state).toBe('open');
    for (const i of instances) i.fleet.close();
  });

  test('a manual open is not news of the upstream: it is not reported', async () => {
    const { instances, tick, shared } = fleetOf(2, 1);
    instances[0]!.breaker.open();
    await tick();
    expect(shared.reports.get('upstream')?.size ?? 0).toBe(0);
    expect(instances[1]!.breaker.state).toBe('closed');
    for (const i of instances) i.fleet.close();
  });

  test('the coordinator down: local state only, errors announced, and back when it is', async () => {
    const { instances, fail, tick, shared } = fleetOf(3);
    const errors: unknown[] = [];
    instances[2]!.fleet.onError((e) => errors.push(e));
    shared.state.down = true;
    const [a, b, c] = instances.map((i) => i.breaker) as [CircuitBreaker, CircuitBreaker, CircuitBreaker];
    fail(a);
    fail(b);
    await tick();
    await tick();
    expect(c.state).toBe('closed');
    expect(instances[2]!.fleet.available).toBe(false);
    expect(errors.length).toBeGreaterThan(0);
    // Local trips still work.
    fail(c);
    expect(c.state).toBe('open');
    shared.state.down = false;
    await tick();
    expect(instances[2]!.fleet.available).toBe(true);
    for (const i of instances) i.fleet.close();
  });

  test('a slow coordinator: a poll waits for the last one, never overlapping it', async () => {
    const { instances, tick, shared, clock } = fleetOf(1);
    let release!: () => void;
    shared.state.hang = new Promise<void>((r) => {
      release = r;
    });
    await tick();
    expect(shared.state.calls).toBe(1);
    for (let i = 0; i < 5; i++) await tick();
    expect(shared.state.calls).toBe(1);
    expect(clock.timers.size).toBe(0);
    shared.state.hang = undefined;
    release();
    await flush();
    expect(clock.timers.size).toBe(1);
    await tick();
    expect(shared.state.calls).toBe(2);
    instances[0]!.fleet.close();
    expect(clock.timers.size).toBe(0);
  });

  test('a registry attaches the breakers it holds and detaches the ones it drops', async () => {
    const shared = sharedReports();
    const clock = new StepClock();
    const fleet = new BreakerFleet({ coordinator: shared.instance('x'), pollInterval: 100, clock });
    const reg = new BreakerRegistry(clock);
    // Built but never registered (as validation does): no timer, no member.
    new CircuitBreaker({ fleet, clock }, 'validation');
    expect(fleet.size).toBe(0);
    expect(clock.timers.size).toBe(0);
    const b = reg.create('up', { fleet, consecutiveFailures: 1 });
    expect(fleet.size).toBe(1);
    expect(clock.timers.size).toBe(1);
    b.record(b.acquire(), true, 1);
    await flush();
    expect(shared.reports.get('up')!.has('x')).toBe(true);
    reg.remove('up');
    await flush();
    expect(fleet.size).toBe(0);
    expect(clock.timers.size).toBe(0);
    expect(shared.reports.get('up')!.has('x')).toBe(false);
    fleet.close();
  });

  test('options are checked with their path', () => {
    const coordinator = sharedReports().instance('x');
    expect(() => new BreakerFleet({ coordinator, quorum: 0 })).toThrow(ConfigError);
    expect(() => new BreakerFleet({ coordinator, quorum: 0 })).toThrow('fleet.quorum');
    expect(() => new BreakerFleet({ coordinator: {} as never })).toThrow('fleet.coordinator');
    expect(() => new BreakerFleet({ coordinator, pollInterval: '1s', reportTtl: '1s' })).toThrow(
      'fleet.reportTtl',
    );
    expect(() => new CircuitBreaker({ fleet: {} as never })).toThrow('circuitBreaker.fleet');
  });

  test("closing a Breakwater instance withdraws its breakers' reports and stops its polling", async () => {
    const shared = sharedReports();
    const clock = new StepClock();
    const fleet = new BreakerFleet({
      coordinator: shared.instance('a'),
      quorum: 2,
      pollInterval: 100,
      clock,
    });
    const core = new BreakwaterCore({
      clock,
      metrics: false,
      breakers: { upstream: { consecutiveFailures: 1, openFor: '10s', fleet } },
    });
    const b = core.breakers.get('upstream')!;
    b.record(b.acquire(), true, 1);
    await flush();
    expect([...(shared.reports.get('upstream')?.keys() ?? [])]).toEqual(['a']);
    expect(clock.timers.size).toBe(1);
    await core.close();
    await flush();
    expect(shared.reports.get('upstream')!.size).toBe(0);
    expect(clock.timers.size).toBe(0);
    fleet.close();
  });

  test('metrics count the opens the fleet decided and the failed exchanges', async () => {
    const shared = sharedReports();
    const clock = new StepClock();
    const fleet = new BreakerFleet({
      coordinator: shared.instance('me'),
      quorum: 2,
      pollInterval: 100,
      clock,
    });
    const registry = new Registry();
    const core = new BreakwaterCore({
      clock,
      registry,
      breakers: { upstream: { consecutiveFailures: 1, openFor: '10s', fleet } },
    });
    const text = async () => registry.metrics();
    // No fleet event yet: the counters exist, with no series.
    expect(await text()).toContain('# TYPE breakwater_circuit_breaker_fleet_opens_total counter');
    shared.reports.set(
      'upstream',
      new Map([
        ['x', clock.t + 60_000],
        ['y', clock.t + 60_000],
      ]),
    );
    shared.now.t = clock.t;
    clock.advance(100);
    await flush();
    expect(core.breakers.get('upstream')!.state).toBe('open');
    expect(await text()).toContain('breakwater_circuit_breaker_fleet_opens_total{breaker="upstream"} 1');
    shared.state.down = true;
    clock.advance(100);
    await flush();
    expect(await text()).toMatch(/breakwater_circuit_breaker_fleet_errors_total [1-9]/);
    await core.close();
    fleet.close();
  });
});
