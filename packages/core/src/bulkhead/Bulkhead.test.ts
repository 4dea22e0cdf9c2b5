import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { BulkheadRejectedError, ConfigError } from '../errors.js';
import { Bulkhead } from './Bulkhead.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('Bulkhead', () => {
  test('runs up to maxConcurrent, queues up to maxQueue, refuses beyond', async () => {
    const b = new Bulkhead({ maxConcurrent: 2, maxQueue: 1 });
    const gates = [deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      b.execute(async () => {
        started.push(i);
        await g.promise;
        return i;
      }),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual([0, 1]);
    expect(b.stats).toMatchObject({ active: 2, queued: 1 });
    const refused = await b.execute(async () => 9).catch((e) => e);
    expect(refused).toBeInstanceOf(BulkheadRejectedError);
    expect(refused.code).toBe('BULKHEAD_FULL');
    gates[0]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual([0, 1, 2]);
    gates[1]!.resolve();
    gates[2]!.resolve();
    await expect(Promise.all(runs)).resolves.toEqual([0, 1, 2]);
    expect(b.stats).toMatchObject({ active: 0, queued: 0, rejected: 1 });
  });

  test('queueTimeout expires waiters in order with one timer', async () => {
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 5, queueTimeout: '100ms' });
    const gate = deferred();
    const running = b.execute(() => gate.promise);
    const w1 = b.execute(async () => 1).catch((e) => e);
    await vi.advanceTimersByTimeAsync(50);
    const w2 = b.execute(async () => 2).catch((e) => e);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(50);
    expect((await w1).reason).toBe('queue_timeout');
    expect(b.stats.queued).toBe(1);
    await vi.advanceTimersByTimeAsync(50);
    expect((await w2).reason).toBe('queue_timeout');
    expect(vi.getTimerCount()).toBe(0);
    gate.resolve();
    await running;
    expect(b.stats).toMatchObject({ active: 0, queued: 0, rejected: 2 });
  });

  test('an aborted queued call leaves the queue at once', async () => {
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const gate = deferred();
    const running = b.execute(() => gate.promise);
    const ac = new AbortController();
    const ran = vi.fn();
    const queued = b.execute(ran, ac.signal);
    expect(b.stats.queued).toBe(1);
    ac.abort(new Error('client left'));
    await expect(queued).rejects.toThrow('client left');
    expect(b.stats.queued).toBe(0);
    gate.resolve();
    await running;
    expect(ran).not.toHaveBeenCalled();
    expect(b.stats.active).toBe(0);
  });

  test('a throwing call releases its slot exactly once', async () => {
    const b = new Bulkhead({ maxConcurrent: 1 });
    await expect(
      b.execute(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(b.stats.active).toBe(0);
    await expect(b.execute(async () => 'ok')).resolves.toBe('ok');
  });

  test('validation names the option', () => {
    expect(() => new Bulkhead({ maxConcurrent: 0 })).toThrow(
      /bulkhead\.maxConcurrent: expected an integer >= 1, got 0/,
    );
    expect(() => new Bulkhead({ maxConcurrent: 1, maxQueue: -1 })).toThrow(ConfigError);
    expect(() => new Bulkhead({ maxConcurrent: 1, queueTimeout: 'x' })).toThrow(/bulkhead\.queueTimeout/);
  });

  test('property: never more than maxConcurrent running, every call settles, no slot leaks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(
          fc.record({
            work: fc.integer({ min: 0, max: 30 }),
            fail: fc.boolean(),
            abortAt: fc.option(fc.integer({ min: 0, max: 30 })),
          }),
          { maxLength: 25 },
        ),
        async (maxConcurrent, maxQueue, calls) => {
          const b = new Bulkhead({ maxConcurrent, maxQueue, queueTimeout: 20 });
          let running = 0;
          let peak = 0;
          const all = calls.map(({ work, fail, abortAt }) => {
            const ac = new AbortController();
            if (abortAt !== null) setTimeout(() => ac.abort(new Error('abort')), abortAt);
            return b
              .execute(async () => {
                running++;
                peak = Math.max(peak, running);
                await new Promise((r) => setTimeout(r, work));
                running--;
                if (fail) throw new Error('fail');
              }, ac.signal)
              .catch(() => {});
          });
          await vi.advanceTimersByTimeAsync(2000);
          await Promise.all(all);
          expect(peak).toBeLessThanOrEqual(maxConcurrent);
          expect(b.stats.active).toBe(0);
          expect(b.stats.queued).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });
});
