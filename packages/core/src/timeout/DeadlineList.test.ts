import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { systemClock } from '../util/clock.js';
import { DeadlineList, type DeadlineNode } from './DeadlineList.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function node(name: string, fired: string[]): DeadlineNode {
  return { deadlineAt: 0, dlPrev: null, dlNext: null, onDeadline: () => fired.push(name) };
}

describe('DeadlineList', () => {
  test('fires deadlines of varying lengths in deadline order, each on time', async () => {
    const list = new DeadlineList(systemClock);
    const fired: string[] = [];
    const t0 = Date.now();
    list.add(node('long', fired), t0 + 1000);
    list.add(node('short', fired), t0 + 100); // a shrunken adaptive deadline: lands before the head
    list.add(node('mid', fired), t0 + 500);
    await vi.advanceTimersByTimeAsync(101);
    expect(fired).toEqual(['short']);
    await vi.advanceTimersByTimeAsync(400);
    expect(fired).toEqual(['short', 'mid']);
    await vi.advanceTimersByTimeAsync(500);
    expect(fired).toEqual(['short', 'mid', 'long']);
    expect(list.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('removing the last node disarms; releasing leaves the timer to lapse', async () => {
    const list = new DeadlineList(systemClock);
    const fired: string[] = [];
    const a = node('a', fired);
    list.add(a, Date.now() + 100);
    list.remove(a);
    expect(vi.getTimerCount()).toBe(0);
    list.add(a, Date.now() + 100);
    list.release(a);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(fired).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
