import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import { Bulkhead } from '../bulkhead/Bulkhead.js';
import { Phase } from '../engine/phase.js';
import { isConfigError } from '../errors.js';
import type { PolicyRefusal, Refusal } from '../guard/problem.js';
import { RouteGuard } from '../guard/RouteGuard.js';
import { StubCall } from '../test-call.js';
import { systemClock } from '../util/clock.js';
import { Emitter } from '../util/events.js';
import { Chaos } from './Chaos.js';
import { ChaosControl } from './ChaosControl.js';
import { isChaosFaultError } from './ChaosFaultError.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A request that records every answer it gets: exactly one is the rule. */
class TestCall extends StubCall {
  answers: string[] = [];
  refused: Refusal | undefined;
  /** Handlers run and left open; `end()` finishes them. */
  running = 0;
  override refuse(r: PolicyRefusal) {
    this.refused = r;
    this.answers.push(`refused ${r.status}`);
  }
  override proceed() {
    this.running++;
  }
  override timedOut(r: Refusal) {
    this.answers.push(`timeout ${r.status}`);
  }
  end(status = 200) {
    this.answers.push(`handler ${status}`);
    this.finish(status, undefined);
  }
}

/** Random draws in order; a rate `r` injects when the draw is below `r`. */
function draws(...xs: number[]) {
  let i = 0;
  return () => xs[i++ % xs.length]!;
}

function guardWith(
  chaos: Chaos,
  extra: { timeoutMs?: number; bulkhead?: Bulkhead; breaker?: CircuitBreaker } = {},
) {
  return new RouteGuard('r', { chaos, ...extra }, systemClock);
}

describe('Chaos in the guard', () => {
  test('disabled, it never intercepts; a fault answers once, records a failure and frees the slot', () => {
    const chaos = new Chaos({ fault: { rate: 1, status: 503 } }, 'r');
    const bulkhead = new Bulkhead({ maxConcurrent: 1 }, 'r');
    const breaker = new CircuitBreaker({ consecutiveFailures: 2 }, 'r');
    const g = guardWith(chaos, { bulkhead, breaker });
    const a = new TestCall(g);
    g.start(a);
    expect(a.running).toBe(1);
    a.end();

    chaos.enabled = true;
    const b = new TestCall(g);
    g.start(b);
    expect(b.running).toBe(0);
    expect(b.answers).toEqual(['refused 503']);
    expect(isChaosFaultError(b.refused!.error)).toBe(true);
    expect(b.phase).toBe(Phase.Done);
    expect(bulkhead.activeCount).toBe(0);
    const c = new TestCall(g);
    g.start(c);
    expect(breaker.state).toBe('open');
    expect(chaos.injected).toEqual({ latency: 0, fault: 2 });
  });

  test('latency delays the handler on the clock; the deadline cuts it short without running it', async () => {
    const chaos = new Chaos({ enabled: true, latency: { rate: 1, ms: 500 } }, 'r');
    const bulkhead = new Bulkhead({ maxConcurrent: 1 }, 'r');
    const g = guardWith(chaos, { timeoutMs: 1000, bulkhead });
    const a = new TestCall(g);
    g.start(a);
    await vi.advanceTimersByTimeAsync(499);
    expect(a.running).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(a.running).toBe(1);
    a.end();
    expect(a.answers).toEqual(['handler 200']);

    chaos.configure({ latency: { rate: 1, ms: 5000 } });
    const b = new TestCall(g);
    g.start(b);
    await vi.advanceTimersByTimeAsync(1100);
    expect(b.answers).toEqual(['timeout 503']);
    expect(b.running).toBe(0);
    expect(b.phase).toBe(Phase.Done);
    expect(bulkhead.activeCount).toBe(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(b.running).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a client that leaves during the delay gets its handler run at once (aborted signal)', async () => {
    const chaos = new Chaos({ enabled: true, latency: { rate: 1, ms: 5000 } }, 'r');
    const g = guardWith(chaos, { timeoutMs: 10_000 });
    const a = new TestCall(g);
    g.start(a);
    a.clientGone();
    await vi.advanceTimersByTimeAsync(0);
    expect(a.running).toBe(1);
    expect(a.signal.aborted).toBe(true);
    a.end(0);
    expect(a.phase).toBe(Phase.Done);
  });

  test('latency then fault: both drawn up front; `when` and the random source decide', async () => {
    const chaos = new Chaos(
      {
        enabled: true,
        latency: { rate: 0.5, ms: 100 },
        fault: { rate: 0.5, status: 500, body: 'nope' },
        random: draws(0.1, 0.1, 0.9, 0.9),
      },
      'r',
    );
    const g = guardWith(chaos);
    const a = new TestCall(g);
    g.start(a);
    await vi.advanceTimersByTimeAsync(100);
    expect(a.answers).toEqual(['refused 500']);
    expect(a.refused!.body).toBe('nope');
    expect(a.refused!.headers).toEqual([['Content-Type', 'text/plain; charset=utf-8']]);
    const b = new TestCall(g);
    g.start(b);
    expect(b.running).toBe(1);
    chaos.configure({
      when: () => {
        throw new Error('bug');
      },
      random: () => 0,
    });
    const c = new TestCall(g);
    g.start(c);
    expect(c.running).toBe(1);
  });
});

describe('ChaosControl', () => {
  test('toggles routes by name, remembers settings for guards built later, lists states', () => {
    const guards: RouteGuard[] = [];
    const added = new Emitter<RouteGuard>();
    const control = new ChaosControl({ guards, onGuard: added.event });
    const seen: string[] = [];
    control.onInjected((e) => seen.push(`${e.route}:${e.kind}`));
    const a = new RouteGuard('a', { chaos: new Chaos({ fault: { rate: 1 } }, 'a') }, systemClock);
    guards.push(a);
    added.fire(a);
    expect(control.enable('a')).toEqual([expect.objectContaining({ route: 'a', enabled: true })]);
    expect(control.enable('b', { fault: { rate: 1, status: 502 } })).toEqual([]);
    const b = new RouteGuard('b', {}, systemClock);
    guards.push(b);
    added.fire(b);
    expect(b.chaos?.state).toMatchObject({ enabled: true, fault: { rate: 1, status: 502 } });
    const call = new TestCall(b);
    b.start(call);
    expect(call.answers).toEqual(['refused 502']);
    expect(seen).toEqual(['b:fault']);
    control.disable();
    expect(control.list().map((s) => s.enabled)).toEqual([false, false]);
    let err: unknown;
    try {
      control.enable('a', { latency: { rate: 0.5, ms: 'soon' } });
    } catch (e) {
      err = e;
    }
    expect(isConfigError(err)).toBe(true);
    expect((err as { path: string }).path).toBe("chaos['a'].latency.ms");
    expect(a.chaos!.enabled).toBe(false);
  });
});
