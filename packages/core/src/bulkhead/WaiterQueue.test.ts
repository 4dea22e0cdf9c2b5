import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { Bulkhead } from './Bulkhead.js';
import type { BulkheadWaiter } from './WaiterQueue.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

interface TestWaiter extends BulkheadWaiter {
  id: string;
}

/** A waiter that logs what happens to it. */
function waiter(id: string, priority: number, log: string[]): TestWaiter {
  return {
    id,
    priority,
    bhPrev: null,
    bhNext: null,
    bhQueuedAt: 0,
    onGranted: () => log.push(`granted ${id}`),
    onQueueTimeout: () => log.push(`expired ${id}`),
  };
}

describe('Bulkhead queue by priority', () => {
  test('serves lower priority first, FIFO within a priority', () => {
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 10 });
    const log: string[] = [];
    expect(b.tryAcquire()).toBe(true);
    for (const [id, p] of [
      ['s1', 2],
      ['n1', 1],
      ['c1', 0],
      ['n2', 1],
      ['c2', 0],
      ['s2', 2],
      ['x', 7], // out of range counts as normal
    ] as const)
      b.enqueue(waiter(id, p, log));
    for (let i = 0; i < 7; i++) b.release();
    expect(log).toEqual([
      'granted c1',
      'granted c2',
      'granted n1',
      'granted n2',
      'granted x',
      'granted s1',
      'granted s2',
    ]);
    b.release();
    expect(b.stats).toMatchObject({ active: 0, queued: 0 });
  });

  test('each waiter expires on time, in arrival order whatever its priority, with one timer', async () => {
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 10, queueTimeout: '100ms' });
    const log: string[] = [];
    b.tryAcquire();
    b.enqueue(waiter('s', 2, log));
    await vi.advanceTimersByTimeAsync(30);
    b.enqueue(waiter('n', 1, log));
    await vi.advanceTimersByTimeAsync(30);
    b.enqueue(waiter('c', 0, log));
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(40);
    expect(log).toEqual(['expired s']);
    await vi.advanceTimersByTimeAsync(29);
    expect(log).toEqual(['expired s']);
    await vi.advanceTimersByTimeAsync(1);
    expect(log).toEqual(['expired s', 'expired n']);
    await vi.advanceTimersByTimeAsync(30);
    expect(log).toEqual(['expired s', 'expired n', 'expired c']);
    expect(vi.getTimerCount()).toBe(0);
    expect(b.stats).toMatchObject({ queued: 0, rejected: 3 });
  });

  test('a waiter granted early does not shorten the others’ waits', async () => {
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 10, queueTimeout: 100 });
    const log: string[] = [];
    b.tryAcquire();
    b.enqueue(waiter('n', 1, log));
    await vi.advanceTimersByTimeAsync(50);
    b.enqueue(waiter('c', 0, log));
    b.release(); // c is served first; n keeps waiting
    expect(log).toEqual(['granted c']);
    await vi.advanceTimersByTimeAsync(49);
    expect(log).toEqual(['granted c']);
    await vi.advanceTimersByTimeAsync(1);
    expect(log).toEqual(['granted c', 'expired n']);
  });

  test('property: against a model, by priority then arrival, with cancels from anywhere', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('push' as const), p: fc.integer({ min: 0, max: 2 }) }),
            fc.record({ op: fc.constant('release' as const) }),
            fc.record({ op: fc.constant('cancel' as const), i: fc.nat() }),
          ),
          { maxLength: 60 },
        ),
        (ops) => {
          const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 1000 });
          b.tryAcquire();
          const log: string[] = [];
          let model: TestWaiter[] = [];
          let n = 0;
          for (const o of ops) {
            if (o.op === 'push') {
              const w = waiter(String(n++), o.p, log);
              b.enqueue(w);
              model.push(w);
            } else if (o.op === 'release') {
              const next = [...model].sort((x, y) => x.priority - y.priority)[0];
              b.release();
              if (next) {
                expect(log.at(-1)).toBe(`granted ${next.id}`);
                model = model.filter((w) => w !== next);
              } else b.tryAcquire();
            } else if (model.length > 0) {
              const w = model[o.i % model.length]!;
              b.cancel(w);
              b.cancel(w); // twice: the second is ignored
              model = model.filter((x) => x !== w);
            }
            expect(b.queuedCount).toBe(model.length);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
