import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import { Bulkhead } from '../bulkhead/Bulkhead.js';
import {
  BulkheadRejectedError,
  CircuitOpenError,
  ConfigError,
  RateLimitError,
  RateLimitedError,
  TimeoutError,
} from '../errors.js';
import { MemoryStore } from '../rate-limit/MemoryStore.js';
import { RateLimiter } from '../rate-limit/RateLimiter.js';
import type { RateLimitStore } from '../rate-limit/types.js';
import { Retry } from '../retry/Retry.js';
import { Timeout } from '../timeout/Timeout.js';
import { type ComposedContext, ComposedPolicy, compose } from './ComposedPolicy.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const connReset = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
const breaker = (o = {}) => new CircuitBreaker({ minimumCalls: 1, failureRateThreshold: 0.5, ...o });

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}

describe('compose', () => {
  test('runs the work through every policy and hands it its deadline and attempt', async () => {
    const b = breaker();
    const h = new Bulkhead({ maxConcurrent: 2 });
    const p = compose({
      rateLimit: new RateLimiter({ limit: 10, window: '1s' }),
      circuitBreaker: b,
      bulkhead: h,
      timeout: new Timeout('250ms'),
      retry: new Retry({ attempts: 3 }),
    });
    const start = Date.now();
    let seen: ComposedContext | undefined;
    const v = await p.execute(async (ctx) => {
      seen = ctx;
      expect(h.activeCount).toBe(1);
      return 'ok';
    });
    expect(v).toBe('ok');
    expect(seen!.deadline).toBe(start + 250);
    expect(seen!.attempt).toBe(1);
    expect(seen!.signal.aborted).toBe(false);
    expect(h.activeCount).toBe(0);
    expect(b.stats).toMatchObject({ calls: 1, failures: 0 });
  });

  test('without a timeout the deadline is Infinity; an empty composition just runs the work', async () => {
    await expect(compose({}).execute(({ deadline }) => deadline)).resolves.toBe(Number.POSITIVE_INFINITY);
  });

  test('the rate limit refuses per key with RateLimitedError before anything else runs', async () => {
    const b = breaker();
    const p = compose({ rateLimit: new RateLimiter({ limit: 1, window: '1s' }), circuitBreaker: b });
    const fn = vi.fn(async () => 1);
    await p.execute(fn, { key: 'a' });
    const refused = await p.execute(fn, { key: 'a' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).retryAfterMs).toBe(1000);
    await expect(p.execute(fn, { key: 'b' })).resolves.toBe(1);
    expect(fn).toHaveBeenCalledTimes(2);
    expect(b.stats.calls).toBe(2);
  });

  test('a limit function that fails refuses with RateLimitError, reason rate_limited, before the work', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const limits: Array<() => unknown> = [
      () => {
        throw new Error('plan lookup failed');
      },
      () => Promise.reject(new Error('plan lookup failed')),
    ];
    for (const limit of limits) {
      const reasons: string[] = [];
      const fn = vi.fn(() => 'ran');
      const p = compose({
        rateLimit: new RateLimiter({ limit, window: '1s' } as never),
        fallback: ({ reason }) => {
          reasons.push(reason);
          throw new Error('no fallback here');
        },
        fallbackOn: ['rate_limited'],
      });
      const plain = compose({ rateLimit: new RateLimiter({ limit, window: '1s' } as never) });
      const refused = await plain.execute(fn).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(RateLimitError);
      expect((refused as RateLimitError).code).toBe('RATE_LIMIT_ERROR');
      await p.execute(fn).catch(() => {});
      expect(reasons).toEqual(['rate_limited']);
      expect(fn).not.toHaveBeenCalled();
    }
    warn.mockRestore();
  });

  test('an asynchronous store is awaited, and a caller who left meanwhile is not run', async () => {
    const memory = new MemoryStore();
    const store: RateLimitStore = { consume: (k, w, c) => Promise.resolve(memory.consume(k, w, c)) };
    const p = compose({ rateLimit: new RateLimiter({ limit: 1, window: '1s', store }) });
    await expect(p.execute(() => 'first')).resolves.toBe('first');
    await expect(p.execute(() => 'second')).rejects.toBeInstanceOf(RateLimitedError);
    const ac = new AbortController();
    const fn = vi.fn();
    const late = p.execute(fn, { signal: ac.signal, key: 'other' });
    ac.abort(new Error('gone'));
    await expect(late).rejects.toThrow('gone');
    expect(fn).not.toHaveBeenCalled();
  });

  test('an open breaker refuses with CircuitOpenError and the work never runs', async () => {
    const b = breaker();
    b.open();
    const fn = vi.fn();
    const err = await compose({ circuitBreaker: b })
      .execute(fn)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect(fn).not.toHaveBeenCalled();
  });

  test('failures reach the breaker once per call, after retries', async () => {
    const b = breaker({ minimumCalls: 2 });
    const p = compose({ circuitBreaker: b, retry: new Retry({ attempts: 3, baseDelay: '1ms' }) });
    let calls = 0;
    const run = p.execute(() => {
      calls++;
      throw connReset();
    });
    const check = expect(run).rejects.toMatchObject({ code: 'ECONNRESET' });
    await vi.runAllTimersAsync();
    await check;
    expect(calls).toBe(3);
    expect(b.stats).toMatchObject({ calls: 1, failures: 1, state: 'closed' });
  });

  test('a full bulkhead refuses without charging the breaker; a half-open probe slot is given back', async () => {
    const b = breaker({ openFor: '1s', halfOpenMaxCalls: 1 });
    const h = new Bulkhead({ maxConcurrent: 1 });
    const p = compose({ circuitBreaker: b, bulkhead: h });
    const first = deferred<string>();
    const running = p.execute(() => first.promise);
    const err = await p.execute(() => 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BulkheadRejectedError);
    expect((err as BulkheadRejectedError).reason).toBe('full');
    expect(h.stats.rejected).toBe(1);
    first.resolve('done');
    await expect(running).resolves.toBe('done');
    expect(b.stats).toMatchObject({ calls: 1, failures: 0 });

    // Half-open with its one probe slot: a refusal by the bulkhead must not use it up.
    const tripped = breaker({ openFor: '1s', halfOpenMaxCalls: 1, successThreshold: 1 });
    const shared = new Bulkhead({ maxConcurrent: 1 });
    const p2 = compose({ circuitBreaker: tripped, bulkhead: shared });
    await p2.execute(() => Promise.reject(new Error('boom'))).catch(() => {});
    expect(tripped.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1000);
    // The slot is taken by another user of the same bulkhead.
    const other = deferred<string>();
    const holding = compose({ bulkhead: shared }).execute(() => other.promise);
    await expect(p2.execute(() => 'refused')).rejects.toBeInstanceOf(BulkheadRejectedError);
    other.resolve('done');
    await holding;
    // The probe slot came back: the next call is the probe, and closes the breaker.
    await expect(p2.execute(() => 'probe')).resolves.toBe('probe');
    expect(tripped.state).toBe('closed');
  });

  test('a queued call runs when a slot frees, or leaves with queue_timeout', async () => {
    const h = new Bulkhead({ maxConcurrent: 1, maxQueue: 2, queueTimeout: '100ms' });
    const p = compose({ bulkhead: h, timeout: new Timeout('1s') });
    const first = deferred<string>();
    const a = p.execute(() => first.promise);
    const b = p.execute(({ deadline }) => deadline);
    expect(h.queuedCount).toBe(1);
    await vi.advanceTimersByTimeAsync(40);
    first.resolve('a');
    await expect(a).resolves.toBe('a');
    // The timeout starts with the slot: queue time does not count against it.
    await expect(b).resolves.toBe(Date.now() + 1000);

    const hold = deferred<string>();
    const c = p.execute(() => hold.promise);
    const d = p.execute(() => 'never');
    const check = expect(d).rejects.toMatchObject({ code: 'BULKHEAD_FULL', reason: 'queue_timeout' });
    await vi.advanceTimersByTimeAsync(100);
    await check;
    hold.resolve('c');
    await expect(c).resolves.toBe('c');
    expect(h.stats).toMatchObject({ active: 0, queued: 0 });
  });

  test('at the deadline: TimeoutError, the signal aborts, the breaker counts it, the slot waits for the work', async () => {
    const b = breaker({ minimumCalls: 5 });
    const h = new Bulkhead({ maxConcurrent: 1 });
    const t = new Timeout('100ms');
    const timedOut = vi.fn();
    t.onTimeout(timedOut);
    const p = compose({ circuitBreaker: b, bulkhead: h, timeout: t });
    const work = deferred<string>();
    let signal: AbortSignal | undefined;
    const run = p.execute((ctx) => {
      signal = ctx.signal;
      return work.promise;
    });
    const check = expect(run).rejects.toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(99);
    expect(signal!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await check;
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBeInstanceOf(TimeoutError);
    expect(timedOut).toHaveBeenCalledWith({ timeoutMs: 100 });
    expect(b.stats).toMatchObject({ calls: 1, failures: 1 });
    // The work still runs, so it still holds its slot.
    expect(h.activeCount).toBe(1);
    await expect(p.execute(() => 'x')).rejects.toBeInstanceOf(BulkheadRejectedError);
    work.resolve('late');
    await vi.advanceTimersByTimeAsync(0);
    expect(h.activeCount).toBe(0);
    expect(b.stats.calls).toBe(1);
  });

  test('retries a retryable outcome within the deadline; the breaker sees the final one', async () => {
    const b = breaker();
    const p = compose({
      circuitBreaker: b,
      timeout: new Timeout('1s'),
      retry: new Retry({ attempts: 3, baseDelay: '10ms' }),
    });
    const attempts: number[] = [];
    const run = p.execute(({ attempt }) => {
      attempts.push(attempt);
      return attempt < 3 ? { status: 503 } : { status: 200 };
    });
    await vi.runAllTimersAsync();
    await expect(run).resolves.toEqual({ status: 200 });
    expect(attempts).toEqual([1, 2, 3]);
    expect(b.stats).toMatchObject({ calls: 1, failures: 0 });
  });

  test('no backoff sleeps past the deadline: the retry gives up and the last error stands', async () => {
    const retry = new Retry({ attempts: 5, baseDelay: '10s', maxDelay: '10s', random: () => 0.99 });
    const gaveUp = vi.fn();
    retry.onGiveUp(gaveUp);
    const p = compose({ timeout: new Timeout('100ms'), retry });
    const fn = vi.fn(() => Promise.reject(connReset()));
    await expect(p.execute(fn)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(fn).toHaveBeenCalledTimes(1);
    expect(gaveUp).toHaveBeenCalledWith('deadline');
  });

  test('the deadline ends a retry in progress: its signal aborts and no further attempt starts', async () => {
    const p = compose({
      timeout: new Timeout('100ms'),
      retry: new Retry({ attempts: 5, baseDelay: '10ms', random: () => 0.5 }),
    });
    const signals: AbortSignal[] = [];
    const fn = vi.fn(({ signal, attempt }: ComposedContext) => {
      signals.push(signal);
      return attempt === 1 ? Promise.reject(connReset()) : new Promise<never>(() => {});
    });
    const run = p.execute(fn);
    const check = expect(run).rejects.toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(1000);
    await check;
    expect(fn).toHaveBeenCalledTimes(2);
    expect(signals[1]!.aborted).toBe(true);
  });

  test("the caller's abort rejects with its reason, is not held against the breaker, and keeps the slot until the work ends", async () => {
    const b = breaker();
    const h = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const p = compose({ circuitBreaker: b, bulkhead: h, timeout: new Timeout('1s') });
    const ac = new AbortController();
    const work = deferred<string>();
    let signal: AbortSignal | undefined;
    const run = p.execute(
      (ctx) => {
        signal = ctx.signal;
        return work.promise;
      },
      { signal: ac.signal },
    );
    const queuedAc = new AbortController();
    const queued = p.execute(() => 'q', { signal: queuedAc.signal });
    expect(h.queuedCount).toBe(1);
    queuedAc.abort(new Error('queued caller left'));
    await expect(queued).rejects.toThrow('queued caller left');
    expect(h.queuedCount).toBe(0);

    ac.abort(new Error('caller left'));
    await expect(run).rejects.toThrow('caller left');
    expect(signal!.aborted).toBe(true);
    expect(h.activeCount).toBe(1);
    work.reject(new Error('aborted'));
    await vi.advanceTimersByTimeAsync(0);
    expect(h.activeCount).toBe(0);
    expect(b.stats).toMatchObject({ calls: 0, failures: 0 });
    // Nothing left armed: the deadline went with the call.
    await vi.advanceTimersByTimeAsync(2000);
  });

  test('an already aborted signal rejects at once; a synchronous throw is the work failing', async () => {
    const ac = new AbortController();
    ac.abort(new Error('before'));
    const fn = vi.fn();
    const h = new Bulkhead({ maxConcurrent: 1 });
    const p = compose({ bulkhead: h, timeout: new Timeout('1s') });
    await expect(p.execute(fn, { signal: ac.signal })).rejects.toThrow('before');
    expect(fn).not.toHaveBeenCalled();
    await expect(
      p.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(h.activeCount).toBe(0);
  });

  test('an adaptive bulkhead learns from the slot time of composed calls', async () => {
    const h = new Bulkhead({ maxConcurrent: 'adaptive', limiter: 'aimd', initial: 10, min: 1, max: 10 });
    const p = compose({ bulkhead: h, timeout: new Timeout('50ms') });
    const work = deferred<string>();
    const run = p.execute(() => work.promise);
    const check = expect(run).rejects.toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(50);
    await check;
    // Still running: no sample until the slot comes back; then it counts as a drop.
    expect(h.limit).toBe(10);
    work.resolve('late');
    await vi.advanceTimersByTimeAsync(0);
    expect(h.limit).toBeLessThan(10);
    await expect(p.execute(async () => 'fine')).resolves.toBe('fine');
  });

  test('options are validated at construction, naming the path', () => {
    expect(() => new ComposedPolicy({ timout: new Timeout('1s') } as never)).toThrow(ConfigError);
    expect(() => compose({ timeout: '1s' } as never)).toThrow(/compose\.timeout/);
    expect(() => compose({ circuitBreaker: {} } as never)).toThrow(/compose\.circuitBreaker/);
    expect(() => compose(null as never)).toThrow(ConfigError);
  });
});
