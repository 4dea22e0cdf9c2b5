import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { TimeoutError } from '../errors.js';
import { SampleOutcome } from './adaptive/LimitAlgorithm.js';
import { Bulkhead } from './Bulkhead.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('adaptive Bulkhead', () => {
  test('the limit falls as calls get slower, and rises again when they recover', async () => {
    const b = new Bulkhead({ maxConcurrent: 'adaptive', initial: 20, max: 40 });
    expect(b.stats).toMatchObject({ maxConcurrent: 20, limiter: 'gradient2' });
    let latency = 10;
    // Closed-loop callers: always as many as the limit allows, so the limit is in use.
    let stop = false;
    const caller = async () => {
      while (!stop) await b.execute(() => sleep(latency)).catch(() => sleep(10));
    };
    const callers = Array.from({ length: 45 }, caller);
    await vi.advanceTimersByTimeAsync(1_500);
    const good = b.limit;
    expect(good).toBe(40);
    latency = 60;
    await vi.advanceTimersByTimeAsync(300);
    const degraded = b.limit;
    expect(degraded).toBeLessThan(good / 2);
    latency = 10;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(b.limit).toBeGreaterThan(degraded * 2);
    stop = true;
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all(callers);
    expect(b.stats).toMatchObject({ active: 0, queued: 0 });
  });

  test('aimd backs off on timeouts and never leaves [min, max]', async () => {
    const b = new Bulkhead({ maxConcurrent: 'adaptive', limiter: 'aimd', min: 2, max: 10, initial: 10 });
    const changes: number[] = [];
    b.onLimitChange((l) => changes.push(l));
    const timeouts = Array.from({ length: 10 }, () =>
      b.execute(() => Promise.reject(new TimeoutError(100))).catch(() => {}),
    );
    await Promise.all(timeouts);
    expect(b.limit).toBe(2);
    expect(changes.at(-1)).toBe(2);
    expect(Math.min(...changes)).toBeGreaterThanOrEqual(2);
    // Other failures teach nothing.
    await b.execute(() => Promise.reject(new Error('bug'))).catch(() => {});
    expect(b.limit).toBe(2);
  });

  test('a limit that grows lets queued calls in at once', async () => {
    const b = new Bulkhead({
      maxConcurrent: 'adaptive',
      limiter: { algorithm: 'aimd' },
      initial: 1,
      maxQueue: 5,
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const first = b.execute(() => gate);
    const started: number[] = [];
    const queued = [1, 2, 3].map((i) => b.execute(async () => started.push(i)));
    expect(b.stats).toMatchObject({ active: 1, queued: 3 });
    // One sample with the limit in use: 1 → 2; the freed slot and the new one go to waiters.
    release();
    await vi.advanceTimersByTimeAsync(0);
    await Promise.all([first, ...queued]);
    expect(started).toEqual([1, 2, 3]);
    expect(b.limit).toBeGreaterThan(1);
  });

  test('releaseSample: a fixed bulkhead just releases; ignored samples teach nothing', () => {
    const fixed = new Bulkhead({ maxConcurrent: 1 });
    expect(fixed.tryAcquire()).toBe(true);
    fixed.releaseSample(0, SampleOutcome.dropped);
    expect(fixed.stats).toMatchObject({ active: 0, maxConcurrent: 1 });
    const b = new Bulkhead({ maxConcurrent: 'adaptive', limiter: 'aimd', initial: 4 });
    expect(b.tryAcquire()).toBe(true);
    b.releaseSample(0, SampleOutcome.ignored);
    expect(b.limit).toBe(4);
    expect(b.tryAcquire()).toBe(true);
    b.releaseSample(0, SampleOutcome.dropped);
    expect(b.limit).toBe(3);
    expect(b.activeCount).toBe(0);
  });

  test('validation names the option path', () => {
    const path = "routes['GET /x'].bulkhead";
    expect(() => new Bulkhead({ maxConcurrent: 'adaptive', limiter: 'bbr' as never }, 'x', path)).toThrow(
      /routes\['GET \/x'\]\.bulkhead\.limiter: expected one of 'gradient2', 'aimd', 'vegas'/,
    );
    expect(
      () =>
        new Bulkhead(
          { maxConcurrent: 'adaptive', limiter: { algorithm: 'aimd', tolerance: 2 } as never },
          'x',
          path,
        ),
    ).toThrow(/bulkhead\.limiter\.tolerance: expected one of the known options/);
    expect(
      () =>
        new Bulkhead(
          { maxConcurrent: 'adaptive', limiter: { algorithm: 'aimd', backoffRatio: 2 } },
          'x',
          path,
        ),
    ).toThrow(/bulkhead\.limiter\.backoffRatio/);
    expect(() => new Bulkhead({ maxConcurrent: 'adaptive', min: 5, max: 2 }, 'x', path)).toThrow(
      /bulkhead\.max: expected an integer >= min \(5\), got 2/,
    );
    expect(() => new Bulkhead({ maxConcurrent: 10, limiter: 'aimd' }, 'x', path)).toThrow(
      /bulkhead\.limiter: expected nothing, unless maxConcurrent is 'adaptive'/,
    );
    expect(() => new Bulkhead({ maxConcurrent: 'fast' as never }, 'x', path)).toThrow(
      /bulkhead\.maxConcurrent: expected an integer >= 1 or 'adaptive', got "fast"/,
    );
    // Defaults: initial 20 clamped into a smaller max.
    expect(new Bulkhead({ maxConcurrent: 'adaptive', max: 8 }).limit).toBe(8);
  });

  test('a LimitAlgorithm of your own', async () => {
    const samples: Array<[number, number, boolean]> = [];
    const b = new Bulkhead({
      maxConcurrent: 'adaptive',
      max: 3,
      limiter: {
        name: 'mine',
        limit: 7,
        update(rtt, inflight, dropped) {
          samples.push([rtt, inflight, dropped]);
        },
      },
    });
    expect(b.stats).toMatchObject({ maxConcurrent: 3, limiter: 'mine' });
    const run = b.execute(() => sleep(25));
    await vi.advanceTimersByTimeAsync(25);
    await run;
    expect(samples).toEqual([[25, 1, false]]);
  });

  test('property: no call starts while the limit is taken; every call settles; no slot leaks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('aimd', 'gradient2', 'vegas') as fc.Arbitrary<'aimd' | 'gradient2' | 'vegas'>,
        fc.integer({ min: 0, max: 6 }),
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 200 }),
            work: fc.integer({ min: 0, max: 80 }),
            outcome: fc.constantFrom('ok', 'ok', 'timeout', 'error'),
            abortAt: fc.option(fc.integer({ min: 0, max: 100 })),
          }),
          { maxLength: 40 },
        ),
        async (limiter, maxQueue, calls) => {
          const b = new Bulkhead({
            maxConcurrent: 'adaptive',
            limiter,
            min: 1,
            max: 6,
            initial: 3,
            maxQueue,
            queueTimeout: 30,
          });
          let running = 0;
          let violations = 0;
          const all = calls.map(async ({ at, work, outcome, abortAt }) => {
            await sleep(at);
            const ac = new AbortController();
            if (abortAt !== null) setTimeout(() => ac.abort(new Error('abort')), abortAt);
            return b
              .execute(async () => {
                running++;
                if (running > b.limit) violations++;
                await sleep(work);
                running--;
                if (outcome === 'timeout') throw new TimeoutError(work);
                if (outcome === 'error') throw new Error('fail');
              }, ac.signal)
              .catch(() => {});
          });
          await vi.advanceTimersByTimeAsync(3_000);
          await Promise.all(all);
          expect(violations).toBe(0);
          expect(b.limit).toBeGreaterThanOrEqual(1);
          expect(b.limit).toBeLessThanOrEqual(6);
          expect(b.stats).toMatchObject({ active: 0, queued: 0 });
        },
      ),
      { numRuns: 100 },
    );
  });
});
