import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { ConfigError } from '../errors.js';
import { StepClock } from '../test-clock.js';
import { BackgroundCheck } from './BackgroundCheck.js';
import { systemClock } from './clock.js';

/** A check that takes `ms` of (fake) time and records how many runs overlap. */
function slowCheck(ms: number) {
  const s = { runs: 0, running: 0, maxRunning: 0, starts: [] as number[] };
  const check = async () => {
    s.runs++;
    s.running++;
    s.maxRunning = Math.max(s.maxRunning, s.running);
    s.starts.push(Date.now());
    await new Promise((r) => setTimeout(r, ms));
    s.running--;
  };
  return { s, check };
}

describe('BackgroundCheck', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('a check slower than the interval never overlaps itself; the wait starts when it ends', async () => {
    const { s, check } = slowCheck(250); // 2.5 intervals
    const loop = new BackgroundCheck(check, { intervalMs: 100, clock: systemClock });
    loop.start();
    await vi.advanceTimersByTimeAsync(1_050);
    expect(s.maxRunning).toBe(1);
    // Every 350 ms: 250 of check, then 100 of wait.
    expect(s.starts.map((t, i) => t - s.starts[0]! - i * 350)).toEqual([0, 0, 0]);
    // One timer at most, whether waiting or running.
    expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
    await loop.stop();
  });

  test('stop() during a running check: that run ends, no other starts, no timer is left', async () => {
    const { s, check } = slowCheck(250);
    const loop = new BackgroundCheck(check, { intervalMs: 100, clock: systemClock });
    loop.start();
    await vi.advanceTimersByTimeAsync(150);
    expect([s.runs, s.running, loop.isRunning]).toEqual([1, 1, true]);
    let stopped = false;
    const stopping = loop.stop().then(() => {
      stopped = true;
    });
    expect(loop.isStarted).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    await stopping;
    expect([stopped, s.running]).toEqual([true, 0]);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(s.runs).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a fixed wait refreshes one timer in place; a jittered wait draws each round', async () => {
    const set = vi.fn(systemClock.setTimeout);
    const clock = { ...systemClock, setTimeout: set };
    const fixed = new BackgroundCheck(() => {}, { intervalMs: 100, clock });
    fixed.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(set).toHaveBeenCalledTimes(1);
    await fixed.stop();

    const starts: number[] = [];
    const randoms = [0, 1, 0.5];
    let r = 0;
    const jittered = new BackgroundCheck(() => void starts.push(Date.now()), {
      intervalMs: 1000,
      jitter: 0.1,
      clock,
      random: () => randoms[r++ % randoms.length]!,
    });
    jittered.start(0);
    await vi.advanceTimersByTimeAsync(4_000);
    await jittered.stop();
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    expect(gaps.slice(0, 3)).toEqual([900, 1100, 1000]);
  });

  test('a throwing or rejecting check keeps the loop going', async () => {
    let n = 0;
    const loop = new BackgroundCheck(
      () => {
        n++;
        if (n % 2 === 0) throw new Error('sync');
        return Promise.reject(new Error('async'));
      },
      { intervalMs: 10, clock: systemClock },
    );
    loop.start();
    await vi.advanceTimersByTimeAsync(55);
    expect(n).toBe(5);
    await loop.stop();
  });

  test('runNow() joins the run under way, or runs at once and times the next from its end', async () => {
    const { s, check } = slowCheck(50);
    const loop = new BackgroundCheck(check, { intervalMs: 100, clock: systemClock });
    // Not started: runs once, schedules nothing.
    await Promise.all([loop.runNow(), vi.advanceTimersByTimeAsync(50)]);
    expect([s.runs, vi.getTimerCount()]).toEqual([1, 0]);
    loop.start();
    await vi.advanceTimersByTimeAsync(20);
    const a = loop.runNow();
    expect(loop.runNow()).toBe(a);
    expect(s.runs).toBe(2);
    await vi.advanceTimersByTimeAsync(50);
    await a;
    // The timer set by start() was replaced: the next run is 100 ms after runNow's ended.
    await vi.advanceTimersByTimeAsync(99);
    expect(s.runs).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect([s.runs, s.maxRunning]).toEqual([3, 1]);
    // The third run is under way: stop() waits for it.
    await Promise.all([loop.stop(), vi.advanceTimersByTimeAsync(50)]);
  });

  test('stop() then start() while a run is under way arms one timer, after it ends', async () => {
    const { s, check } = slowCheck(100);
    const loop = new BackgroundCheck(check, { intervalMs: 100, clock: systemClock });
    loop.start(0);
    await vi.advanceTimersByTimeAsync(10);
    void loop.stop();
    loop.start();
    await vi.advanceTimersByTimeAsync(90); // the run ends
    expect([s.running, vi.getTimerCount()]).toEqual([0, 1]);
    await vi.advanceTimersByTimeAsync(100); // one interval later: the second run
    expect([s.runs, s.maxRunning]).toEqual([2, 1]);
    await Promise.all([loop.stop(), vi.advanceTimersByTimeAsync(100)]);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('on an injected step clock a synchronous check re-arms at once', () => {
    const clock = new StepClock();
    let runs = 0;
    const loop = new BackgroundCheck(() => void runs++, { intervalMs: 100, clock });
    loop.start();
    clock.advance(350);
    expect([runs, clock.timers.size]).toEqual([3, 1]);
    void loop.stop();
    expect(clock.timers.size).toBe(0);
    clock.advance(1_000);
    expect(runs).toBe(3);
  });

  test('options are checked with their path', () => {
    expect(() => new BackgroundCheck(() => {}, { intervalMs: 0 })).toThrow(ConfigError);
    expect(() => new BackgroundCheck(() => {}, { intervalMs: 0 }, 'pool.healthCheck')).toThrow(
      'pool.healthCheck.intervalMs',
    );
    expect(() => new BackgroundCheck(() => {}, { intervalMs: 10, jitter: 2 })).toThrow(
      'backgroundCheck.jitter',
    );
  });
});
