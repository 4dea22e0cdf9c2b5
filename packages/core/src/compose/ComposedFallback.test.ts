import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import { Bulkhead } from '../bulkhead/Bulkhead.js';
import {
  type BulkheadRejectedError,
  CircuitOpenError,
  ConfigError,
  RateLimitedError,
  TimeoutError,
} from '../errors.js';
import { RateLimiter } from '../rate-limit/RateLimiter.js';
import { Retry } from '../retry/Retry.js';
import { Timeout } from '../timeout/Timeout.js';
import type { ComposedFallbackContext, ComposedFallbackEvent } from './ComposedFallback.js';
import { compose } from './ComposedPolicy.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const boom = () => Promise.reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));

describe('compose({ fallback })', () => {
  test('circuit open: the fallback value is returned; the breaker still records and stays open', async () => {
    const b = new CircuitBreaker({ consecutiveFailures: 2, openFor: '10s' });
    const seen: ComposedFallbackContext[] = [];
    const events: ComposedFallbackEvent[] = [];
    const p = compose({
      circuitBreaker: b,
      fallback: (ctx) => {
        seen.push(ctx);
        return 'cached';
      },
    });
    p.onFallback((e) => events.push(e));
    expect(await p.execute(boom, { key: 'k1' })).toBe('cached');
    expect(await p.execute(boom)).toBe('cached');
    expect(b.state).toBe('open');
    expect(b.stats).toMatchObject({ calls: 2, failures: 2 });
    const work = vi.fn(async () => 'fresh');
    expect(await p.execute(work)).toBe('cached');
    expect(work).not.toHaveBeenCalled();
    expect(seen.map((c) => c.reason)).toEqual(['error', 'error', 'circuit_open']);
    expect((seen[0]!.error as { code: string }).code).toBe('ECONNRESET');
    expect(seen[0]!.key).toBe('k1');
    expect(seen[2]!.error).toBeInstanceOf(CircuitOpenError);
    expect(seen[2]!.signal.aborted).toBe(false);
    expect(events.map((e) => `${e.reason}:${e.result}`)).toEqual([
      'error:served',
      'error:served',
      'circuit_open:served',
    ]);
    expect(b.state).toBe('open');
  });

  test('the timeout: an async fallback answers after the deadline; the work is aborted and the timeout counted', async () => {
    const t = new Timeout('100ms');
    const timedOut = vi.fn();
    t.onTimeout(timedOut);
    const p = compose({
      timeout: t,
      fallback: async ({ reason, error }) => {
        await new Promise((r) => setTimeout(r, 20));
        return { reason, timeout: error instanceof TimeoutError };
      },
    });
    let signal: AbortSignal | undefined;
    const pending = p.execute(
      (ctx) =>
        new Promise<{ reason: string; timeout: boolean }>(() => {
          signal = ctx.signal;
        }),
    );
    let settled = false;
    void pending.then(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(signal!.aborted).toBe(true);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    expect(settled).toBe(true);
    await expect(pending).resolves.toEqual({ reason: 'timeout', timeout: true });
    expect(timedOut).toHaveBeenCalledTimes(1);
  });

  test('bulkhead full and its queue timeout are both bulkhead_full', async () => {
    const h = new Bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeout: '50ms' });
    const errors: unknown[] = [];
    const p = compose({
      bulkhead: h,
      fallback: ({ reason, error }) => {
        errors.push(error);
        return reason;
      },
    });
    let release!: () => void;
    const first = p.execute(() => new Promise<string>((r) => (release = () => r('done'))));
    const queued = p.execute(async () => 'late');
    expect(await p.execute(async () => 'x')).toBe('bulkhead_full');
    expect((errors[0] as BulkheadRejectedError).reason).toBe('full');
    await vi.advanceTimersByTimeAsync(50);
    expect(await queued).toBe('bulkhead_full');
    expect((errors[1] as BulkheadRejectedError).reason).toBe('queue_timeout');
    release();
    expect(await first).toBe('done');
    expect(h.activeCount).toBe(0);
  });

  test('rate_limited only when listed in fallbackOn; unlisted reasons reject as before', async () => {
    const limited = () => new RateLimiter({ limit: 1, window: '1s' });
    const plain = compose({ rateLimit: limited(), fallback: () => 'fb' });
    await plain.execute(async () => 1);
    await expect(plain.execute(async () => 1)).rejects.toBeInstanceOf(RateLimitedError);

    const listed = compose({ rateLimit: limited(), fallback: () => 'fb', fallbackOn: ['rate_limited'] });
    await listed.execute(async () => 1);
    expect(await listed.execute(async () => 1)).toBe('fb');
    // Not listed: a failure rejects with what the work threw.
    await vi.advanceTimersByTimeAsync(1000);
    await expect(listed.execute(boom)).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  test('a fallback that throws or rejects declines: the original error propagates, announced as failed', async () => {
    const events: ComposedFallbackEvent[] = [];
    const sync = compose({
      fallback: () => {
        throw new Error('fallback broke');
      },
    });
    sync.onFallback((e) => events.push(e));
    await expect(sync.execute(boom)).rejects.toMatchObject({ code: 'ECONNRESET' });
    const async = compose({ fallback: async () => Promise.reject(new Error('fallback broke')) });
    async.onFallback((e) => events.push(e));
    await expect(async.execute(boom)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(events.map((e) => e.result)).toEqual(['failed', 'failed']);
    expect((events[0]!.error as { code: string }).code).toBe('ECONNRESET');
  });

  test('the fallback stands in for the final failure only, after retries', async () => {
    const fallback = vi.fn(() => 'fb');
    const p = compose({ retry: new Retry({ attempts: 3, baseDelay: 10, random: () => 0.5 }), fallback });
    const work = vi.fn(boom);
    const done = p.execute(work);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await done).toBe('fb');
    expect(work).toHaveBeenCalledTimes(3);
    expect(fallback).toHaveBeenCalledTimes(1);
  });

  test("the caller's abort is not handed to the fallback; success never reaches it", async () => {
    const fallback = vi.fn(() => 'fb');
    const p = compose({ timeout: new Timeout('1s'), fallback });
    const ac = new AbortController();
    const pending = p.execute(() => new Promise(() => {}), { signal: ac.signal });
    ac.abort(new Error('caller left'));
    await expect(pending).rejects.toThrow('caller left');
    expect(await p.execute(async () => 'ok')).toBe('ok');
    expect(fallback).not.toHaveBeenCalled();
  });

  test('a sync fallback value is returned as is (undefined and null included)', async () => {
    await expect(compose({ fallback: () => undefined }).execute(boom)).resolves.toBeUndefined();
    await expect(compose({ fallback: () => null }).execute(boom)).resolves.toBeNull();
  });

  test('invalid configuration names the option', () => {
    expect(() => compose({ fallback: 'nope' as never })).toThrow(ConfigError);
    expect(() => compose({ fallback: 'nope' as never })).toThrow(/compose\.fallback/);
    expect(() => compose({ fallback: () => 1, fallbackOn: ['overloaded' as never] })).toThrow(
      /compose\.fallbackOn\[0\]/,
    );
    expect(() => compose({ fallbackOn: ['timeout'] })).toThrow(/compose\.fallback/);
    expect(() => compose({ fallback: () => 1, fallbackOn: 'timeout' as never })).toThrow(
      /compose\.fallbackOn/,
    );
  });
});
