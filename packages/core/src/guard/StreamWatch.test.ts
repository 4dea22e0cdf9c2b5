import { describe, expect, test } from 'vitest';
import { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import { Bulkhead } from '../bulkhead/Bulkhead.js';
import { TimeoutError } from '../errors.js';
import { StubCall } from '../test-call.js';
import { StepClock } from '../test-clock.js';
import { ClientClosedError } from './GuardCall.js';
import type { Refusal } from './problem.js';
import { RouteGuard } from './RouteGuard.js';
import { StreamWatch } from './StreamWatch.js';

/** A request whose handler "runs" until the test ends it; records what the guard asked of it. */
class Call extends StubCall {
  cuts = 0;
  timeouts: Refusal[] = [];
  watch!: StreamWatch;
  override proceed(): void {
    this.watch = new StreamWatch(this, { cutStream: () => this.cuts++ });
  }
  override timedOut(refusal: Refusal): void {
    this.timeouts.push(refusal);
  }
}

function setup(idleMs: number | undefined, timeoutMs = 1000) {
  const clock = new StepClock();
  const breaker = new CircuitBreaker({ consecutiveFailures: 1, openFor: '30s', clock });
  const bulkhead = new Bulkhead({ maxConcurrent: 1, clock });
  const guard = new RouteGuard(
    'GET /sse',
    { breaker, bulkhead, timeoutMs, stream: true, streamIdleMs: idleMs },
    clock,
  );
  const start = () => {
    const call = new Call(guard);
    guard.start(call);
    return call;
  };
  return { clock, breaker, bulkhead, guard, start, stats: guard.engine.streamStats! };
}

describe('StreamWatch', () => {
  test('writes keep a stream alive past the header deadline; silence past idle cuts it, once', () => {
    const { clock, breaker, bulkhead, start, stats } = setup(400);
    const call = start();
    clock.advance(200);
    call.watch.headers();
    // The header deadline (1 s) no longer bounds the call.
    expect(call.deadline).toBe(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 30; i++) {
      clock.advance(100);
      call.watch.wrote(10);
    }
    expect(call.timeouts).toEqual([]);
    expect(call.cuts).toBe(0);
    expect(call.isRunning).toBe(true);
    expect(bulkhead.activeCount).toBe(1);
    expect(stats.bytes).toBe(300);
    clock.advance(399);
    expect(call.cuts).toBe(0);
    // The idle list checks with 1 ms of slack.
    clock.advance(3);
    expect(call.cuts).toBe(1);
    expect(call.signal.aborted).toBe(true);
    expect(call.signal.reason).toBeInstanceOf(TimeoutError);
    expect(bulkhead.activeCount).toBe(0);
    expect(breaker.state).toBe('open');
    expect(breaker.lastFailure?.code).toBe('TIMEOUT');
    expect(stats).toMatchObject({ idle: 1, completed: 0, client_gone: 0, error: 0 });
    // Whoever ends it next changes nothing: the slot was released once.
    call.watch.completed(200);
    call.watch.gone();
    call.finish(200, undefined);
    clock.advance(5000);
    expect(call.cuts).toBe(1);
    expect(bulkhead.activeCount).toBe(0);
    expect(stats).toMatchObject({ idle: 1, completed: 0 });
  });

  test('headers later than the deadline: the timeout answers, and no stream starts', () => {
    const { clock, start, stats, bulkhead } = setup(400);
    const call = start();
    clock.advance(1002);
    expect(call.timeouts).toHaveLength(1);
    call.watch.headers();
    call.watch.wrote(100);
    call.watch.completed(503);
    expect(stats).toMatchObject({ bytes: 0, completed: 0, idle: 0 });
    // The late handler's end releases its slot.
    expect(bulkhead.activeCount).toBe(1);
    call.finish(0, undefined);
    expect(bulkhead.activeCount).toBe(0);
  });

  test('completed: the breaker judges the status and the time to the headers, not the stream', () => {
    const { clock, stats, bulkhead } = setup(undefined);
    const breaker = new CircuitBreaker({
      slowCallDuration: 500,
      slowCallRateThreshold: 0.5,
      minimumCalls: 1,
      clock,
    });
    const guard = new RouteGuard('GET /s', { breaker, timeoutMs: 1000, stream: true }, clock);
    const call = new Call(guard);
    guard.start(call);
    clock.advance(100);
    call.watch.headers();
    // No idle bound: ten silent minutes are fine.
    clock.advance(600_000);
    call.watch.wrote(5);
    call.watch.completed(200);
    expect(breaker.state).toBe('closed');
    expect(breaker.stats).toMatchObject({ failures: 0, slowCalls: 0 });
    expect(guard.engine.streamStats).toMatchObject({ completed: 1, bytes: 5 });
    // The other route's stats are its own.
    expect(stats.completed).toBe(0);
    expect(bulkhead.activeCount).toBe(0);
  });

  test('the client leaving mid-stream: the signal aborts and the slot is released at once', () => {
    const { clock, breaker, bulkhead, start, stats } = setup(400);
    const call = start();
    call.watch.headers();
    clock.advance(100);
    call.watch.gone();
    expect(call.signal.reason).toBeInstanceOf(ClientClosedError);
    expect(bulkhead.activeCount).toBe(0);
    expect(breaker.state).toBe('closed');
    expect(breaker.stats.failures).toBe(0);
    expect(stats.client_gone).toBe(1);
    // Nothing fires later for it.
    clock.advance(5000);
    expect(call.cuts).toBe(0);
    expect(stats.idle).toBe(0);
  });

  test('a failed stream is a failure for the breaker and frees the slot', () => {
    const { breaker, bulkhead, start, stats } = setup(400);
    const call = start();
    call.watch.headers();
    call.watch.failed(new Error('upstream broke'));
    expect(bulkhead.activeCount).toBe(0);
    expect(breaker.state).toBe('open');
    expect(call.signal.aborted).toBe(true);
    expect(stats.error).toBe(1);
  });
});
