import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { isTimeoutError, TimeoutError } from '../errors.js';
import { systemClock } from '../util/clock.js';
import { DeadlineList, type DeadlineNode } from './DeadlineList.js';
import { Timeout } from './Timeout.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Timeout', () => {
  test('resolves work that finishes in time, exposing the deadline', async () => {
    const t = new Timeout('100ms');
    const start = Date.now();
    const p = t.execute(async ({ deadline, signal }) => {
      expect(deadline).toBe(start + 100);
      expect(signal.aborted).toBe(false);
      return 42;
    });
    await expect(p).resolves.toBe(42);
  });

  test('rejects with TimeoutError at the deadline and aborts the signal it handed out', async () => {
    const t = new Timeout({ after: '1s' });
    let seen: AbortSignal | undefined;
    const fired = vi.fn();
    t.onTimeout(fired);
    const p = t.execute(({ signal }) => {
      seen = signal;
      return new Promise(() => {});
    });
    const check = expect(p).rejects.toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(999);
    expect(seen!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await check;
    expect(seen!.aborted).toBe(true);
    expect(isTimeoutError(seen!.reason)).toBe(true);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  test('a parent abort aborts the work and clears the timer', async () => {
    const t = new Timeout(1000);
    const ac = new AbortController();
    const p = t.execute(() => new Promise(() => {}), ac.signal);
    ac.abort(new Error('gone'));
    await expect(p).rejects.toThrow('gone');
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a synchronous throw rejects', async () => {
    const t = new Timeout(1000);
    await expect(
      t.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('DeadlineList', () => {
  function node(log: string[], name: string): DeadlineNode {
    return { deadlineAt: 0, dlPrev: null, dlNext: null, onDeadline: () => log.push(name) };
  }

  test('fires in order with one timer, skips removed nodes, and disarms when empty', async () => {
    const list = new DeadlineList(systemClock, 0);
    const log: string[] = [];
    const a = node(log, 'a');
    const b = node(log, 'b');
    const c = node(log, 'c');
    list.add(a, Date.now() + 100);
    await vi.advanceTimersByTimeAsync(10);
    list.add(b, Date.now() + 100);
    list.add(c, Date.now() + 100);
    expect(vi.getTimerCount()).toBe(1);
    list.remove(b);
    list.remove(b); // twice is harmless
    await vi.advanceTimersByTimeAsync(90);
    expect(log).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(10);
    expect(log).toEqual(['a', 'c']);
    expect(list.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('removing the last node clears the timer', () => {
    const list = new DeadlineList(systemClock);
    const n = node([], 'n');
    list.add(n, Date.now() + 1000);
    expect(vi.getTimerCount()).toBe(1);
    list.remove(n);
    expect(vi.getTimerCount()).toBe(0);
  });
});
