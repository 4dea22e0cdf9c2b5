import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { HealthChecker } from './HealthChecker.js';

const clock = {
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
};

describe('HealthChecker', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('a check slower than the interval never overlaps the next one', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const checker = new HealthChecker(
      async () => {
        running++;
        runs++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 250)); // 2.5 intervals
        running--;
      },
      100,
      clock,
      () => 0.5,
    );
    checker.start();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(maxRunning).toBe(1);
    // Each round: 250 ms of check + 100 ms (±10%; 0.5 → exactly 100) of wait.
    expect(runs).toBeGreaterThanOrEqual(5);
    expect(runs).toBeLessThanOrEqual(6);
    // stop() waits for a running check to end.
    const stopped = checker.stop();
    await vi.advanceTimersByTimeAsync(300);
    await stopped;
    const after = runs;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(runs).toBe(after);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a throwing check does not stop the loop; delays are jittered ±10%', async () => {
    const starts: number[] = [];
    let r = 0;
    const randoms = [0, 0, 1, 0.5];
    const checker = new HealthChecker(
      async () => {
        starts.push(Date.now());
        throw new Error('down');
      },
      1000,
      clock,
      () => randoms[r++ % randoms.length]!,
    );
    checker.start();
    await vi.advanceTimersByTimeAsync(5_000);
    await checker.stop();
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    expect(gaps.slice(0, 3)).toEqual([900, 1100, 1000]);
  });
});
