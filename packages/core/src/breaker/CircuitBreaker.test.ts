import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { CircuitOpenError, ConfigError } from '../errors.js';
import { manualClock } from '../test-clock.js';
import { BreakerRegistry } from './BreakerRegistry.js';
import { CircuitBreaker, REJECTED, type StateChange } from './CircuitBreaker.js';
import type { CircuitBreakerOptions } from './options.js';

function make(opts: CircuitBreakerOptions) {
  const clock = manualClock();
  const b = new CircuitBreaker({ ...opts, clock }, 'b');
  const changes: string[] = [];
  b.onStateChange((c: StateChange) => changes.push(`${c.from}->${c.to}:${c.reason}`));
  const call = (failure: boolean, durationMs = 1) => {
    const t = b.acquire();
    if (t === REJECTED) return false;
    b.record(t, failure, durationMs);
    return true;
  };
  return { b, clock, changes, call };
}

describe('CircuitBreaker', () => {
  test('stays closed below minimumCalls, trips at the failure-rate threshold', () => {
    const { b, changes, call } = make({ minimumCalls: 4, failureRateThreshold: 0.5 });
    call(true);
    call(true);
    call(true);
    expect(b.state).toBe('closed'); // 3 calls < minimumCalls
    call(false);
    expect(b.state).toBe('closed'); // 3/4 but the last call succeeded: judged on the next failure
    call(true);
    expect(b.state).toBe('open');
    expect(changes).toEqual(['closed->open:failure-rate']);
    expect(call(false)).toBe(false);
  });

  test('consecutive failures trip regardless of minimumCalls', () => {
    const { b, call } = make({ consecutiveFailures: 3, minimumCalls: 100 });
    call(true);
    call(true);
    call(false);
    call(true);
    call(true);
    expect(b.state).toBe('closed');
    call(true);
    expect(b.state).toBe('open');
  });

  test('slow calls trip at the slow-call rate', () => {
    const { b, changes, call } = make({
      minimumCalls: 2,
      slowCallDuration: '100ms',
      slowCallRateThreshold: 0.5,
      failureRateThreshold: 1,
    });
    call(false, 10);
    call(false, 150);
    expect(b.state).toBe('open');
    expect(changes).toEqual(['closed->open:slow-call-rate']);
  });

  test('count window forgets calls beyond its size', () => {
    const { b, call } = make({
      window: { kind: 'count', size: 4 },
      minimumCalls: 4,
      failureRateThreshold: 0.75,
    });
    call(true);
    call(true);
    call(false);
    call(false);
    call(false); // pushes out the first failure: 1/4
    call(false);
    call(true); // 1/4 → 1 failure of 4 ... then 2/4
    expect(b.stats.failures).toBe(1);
    expect(b.state).toBe('closed');
  });

  test('time window forgets calls older than its size', () => {
    const { b, clock, call } = make({
      window: { kind: 'time', size: '10s' },
      minimumCalls: 3,
      failureRateThreshold: 0.6,
    });
    call(true);
    call(true);
    clock.t += 11_000;
    call(true);
    expect(b.stats.calls).toBe(1);
    expect(b.state).toBe('closed');
    call(true);
    call(true);
    expect(b.state).toBe('open');
  });

  test('open → half-open after openFor; probes limited to halfOpenMaxCalls; closes after successThreshold', () => {
    const { b, clock, changes, call } = make({
      consecutiveFailures: 1,
      openFor: '5s',
      halfOpenMaxCalls: 2,
      successThreshold: 2,
    });
    call(true);
    expect(b.state).toBe('open');
    expect(b.retryAfterMs()).toBe(5000);
    clock.t += 4999;
    expect(b.acquire()).toBe(REJECTED);
    clock.t += 1;
    const t1 = b.acquire();
    const t2 = b.acquire();
    expect(t1).not.toBe(REJECTED);
    expect(t2).not.toBe(REJECTED);
    expect(b.acquire()).toBe(REJECTED); // a third probe is refused
    b.record(t1, false, 1);
    expect(b.state).toBe('half-open');
    b.record(t2, false, 1);
    expect(b.state).toBe('closed');
    expect(changes).toEqual([
      'closed->open:consecutive-failures',
      'open->half-open:open-elapsed',
      'half-open->closed:probe-succeeded',
    ]);
  });

  test('a failed probe re-opens, and openFor doubles up to openForMax', () => {
    const { b, clock, call } = make({ consecutiveFailures: 1, openFor: '1s', openForMax: '3s' });
    call(true);
    expect(b.retryAfterMs()).toBe(1000);
    clock.t += 1000;
    call(true); // probe fails
    expect(b.retryAfterMs()).toBe(2000);
    clock.t += 2000;
    call(true);
    expect(b.retryAfterMs()).toBe(3000); // capped
    clock.t += 3000;
    call(false); // probe succeeds: closed, growth resets
    expect(b.state).toBe('closed');
    call(true);
    expect(b.retryAfterMs()).toBe(1000);
  });

  test('a ticket from before a state change is ignored', () => {
    const { b, call } = make({ consecutiveFailures: 1 });
    const stale = b.acquire();
    call(true);
    expect(b.state).toBe('open');
    b.close();
    b.record(stale, true, 1);
    expect(b.state).toBe('closed');
  });

  test('release returns a half-open probe slot', () => {
    const { b, clock, call } = make({ consecutiveFailures: 1, openFor: 10 });
    call(true);
    clock.t += 10;
    const t = b.acquire();
    expect(b.acquire()).toBe(REJECTED);
    b.release(t);
    expect(b.acquire()).not.toBe(REJECTED);
  });

  test('open() isolates until close(); reset() forgets trips', () => {
    const { b, clock } = make({ openFor: 10 });
    b.open();
    clock.t += 1_000_000;
    expect(b.state).toBe('open');
    expect(b.acquire()).toBe(REJECTED);
    b.close();
    expect(b.state).toBe('closed');
    b.open();
    b.reset();
    expect(b.stats.trips).toBe(0);
    expect(b.state).toBe('closed');
  });

  test('execute: judges thrown errors and HTTP-like statuses, rejects with CircuitOpenError when open', async () => {
    const { b } = make({ consecutiveFailures: 2 });
    await expect(b.execute(async () => ({ status: 503 }))).resolves.toEqual({ status: 503 });
    await expect(b.execute(async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    const err = await b.execute(async () => 1).catch((e) => e);
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect(err.code).toBe('CIRCUIT_OPEN');
    expect(err.retryAfterMs).toBe(30_000);
  });

  test('execute: an abort of the caller signal is not a failure', async () => {
    const { b } = make({ consecutiveFailures: 1 });
    const ac = new AbortController();
    const p = b.execute(
      (signal) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason));
        }),
      ac.signal,
    );
    ac.abort(new Error('client left'));
    await expect(p).rejects.toThrow('client left');
    expect(b.state).toBe('closed');
  });

  test('custom isFailure decides', async () => {
    const { b } = make({ consecutiveFailures: 1, isFailure: (o) => o.status === 429 });
    await b.execute(async () => ({ status: 500 }));
    expect(b.state).toBe('closed');
    await b.execute(async () => ({ status: 429 }));
    expect(b.state).toBe('open');
  });

  test.each<[CircuitBreakerOptions, RegExp]>([
    [
      { failureRateThreshold: 2 },
      /circuitBreaker\.failureRateThreshold: expected a number from 0 to 1, got 2/,
    ],
    [{ window: { kind: 'sliding' } as never }, /circuitBreaker\.window\.kind/],
    [{ openFor: 'later' }, /circuitBreaker\.openFor/],
    [{ openFor: '10s', openForMax: '1s' }, /circuitBreaker\.openForMax/],
    [{ halfOpenMaxCalls: 0 }, /circuitBreaker\.halfOpenMaxCalls/],
    [{ isFailure: 'yes' as never }, /circuitBreaker\.isFailure: expected a function/],
  ])('validation %#', (opts, msg) => {
    expect(() => new CircuitBreaker(opts)).toThrow(ConfigError);
    expect(() => new CircuitBreaker(opts)).toThrow(msg);
  });

  test('property: half-open never admits more than halfOpenMaxCalls at once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(
          fc.oneof(fc.constant('acquire'), fc.constant('ok'), fc.constant('fail'), fc.constant('tick')),
          { maxLength: 200 },
        ),
        (max, ops) => {
          const clock = manualClock();
          const b = new CircuitBreaker({
            consecutiveFailures: 1,
            openFor: 100,
            halfOpenMaxCalls: max,
            clock,
          });
          const inFlight: number[] = [];
          b.record(b.acquire(), true, 1); // open
          let halfOpenEpochInFlight = 0;
          for (const op of ops) {
            if (op === 'tick') clock.t += 50;
            else if (op === 'acquire') {
              const wasHalf = b.state === 'half-open';
              const t = b.acquire();
              if (t !== REJECTED) {
                inFlight.push(t);
                if (wasHalf || (b.state as string) === 'half-open') halfOpenEpochInFlight++;
              }
            } else if (inFlight.length > 0) {
              b.record(inFlight.shift()!, op === 'fail', 1);
              if (halfOpenEpochInFlight > 0) halfOpenEpochInFlight--;
            }
            if (b.state === 'half-open') expect(halfOpenEpochInFlight).toBeLessThanOrEqual(max);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('BreakerRegistry', () => {
  test('shares breakers by name and refuses duplicates', () => {
    const reg = new BreakerRegistry();
    const added: string[] = [];
    reg.onAdd((b) => added.push(b.name));
    const a = reg.create('upstream', { consecutiveFailures: 1 });
    expect(reg.getOrCreate('upstream')).toBe(a);
    expect(() => reg.create('upstream')).toThrow(/not already registered/);
    expect(reg.getOrCreate('other').name).toBe('other');
    expect(added).toEqual(['upstream', 'other']);
    expect([...reg].map((b) => b.name)).toEqual(['upstream', 'other']);
  });
});
