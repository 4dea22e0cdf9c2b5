import { describe, expect, test } from 'vitest';
import { isConfigError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { Retry } from './Retry.js';
import { RetryBudget } from './RetryBudget.js';
import { parseRetryAfter } from './retryAfter.js';

/** A manual clock: timers fire only when the test advances time. */
class FakeClock implements Clock {
  t = 1_000_000;
  timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private next = 1;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  /** Runs every timer due within `ms`, letting promises settle in between. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
    await flush();
  }
}
const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

const res = (status: number, headers: Record<string, string> = {}) => ({ status, headers });
const econnrefused = () => Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });

describe('Retry', () => {
  test('retries 503 with exponential full-jitter backoff, capped', async () => {
    const clock = new FakeClock();
    const r = new Retry({
      attempts: 5,
      baseDelay: 100,
      maxDelay: 250,
      budget: false,
      clock,
      random: () => 0.5,
    });
    const delays: number[] = [];
    r.onRetry((e) => delays.push(e.delayMs));
    const calls: number[] = [];
    const p = r.execute(() => {
      calls.push(clock.t);
      return res(503);
    });
    await clock.advance(10_000);
    expect((await p).status).toBe(503);
    expect(calls.length).toBe(5);
    // 0.5 × min(250, 100 × 2^n): 50, 100, 125, 125.
    expect(delays).toEqual([50, 100, 125, 125]);
    expect(calls.slice(1).map((t, i) => t - calls[i]!)).toEqual(delays);
  });

  test('jitter stays within [0, ceiling)', () => {
    const r = new Retry({ baseDelay: 100, maxDelay: 1000, budget: false });
    for (let n = 1; n < 10; n++) {
      const d = r.backoffMs(n);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(Math.min(1000, 100 * 2 ** (n - 1)));
    }
  });

  test('returns the first success; does not retry 500 or non-connection errors', async () => {
    const clock = new FakeClock();
    const r = new Retry({ budget: false, clock, baseDelay: 1 });
    let n = 0;
    const p = r.execute(() => (++n < 2 ? res(502) : res(200)));
    await clock.advance(100);
    expect((await p).status).toBe(200);
    n = 0;
    expect(
      (
        await r.execute(() => {
          n++;
          return res(500);
        })
      ).status,
    ).toBe(500);
    expect(n).toBe(1);
    const boom = new Error('bug');
    await expect(r.execute(() => Promise.reject(boom))).rejects.toBe(boom);
  });

  test('retries connection errors and throws the last one', async () => {
    const clock = new FakeClock();
    const r = new Retry({ attempts: 3, budget: false, clock, baseDelay: 1 });
    let n = 0;
    const p = r.execute(() => {
      n++;
      throw econnrefused();
    });
    const caught = p.catch((e) => e);
    await clock.advance(100);
    expect((await caught).code).toBe('ECONNREFUSED');
    expect(n).toBe(3);
  });

  test('never retries a non-idempotent method unless told', async () => {
    const clock = new FakeClock();
    const r = new Retry({ budget: false, clock, baseDelay: 1 });
    let n = 0;
    await r.execute(
      () => {
        n++;
        return res(503);
      },
      undefined,
      { method: 'POST' },
    );
    expect(n).toBe(1);
    const p = r.execute(
      () => {
        n++;
        return res(503);
      },
      undefined,
      { method: 'POST', idempotent: true },
    );
    await clock.advance(100);
    await p;
    expect(n).toBe(4);
    const r2 = new Retry({ budget: false, clock, baseDelay: 1, retryNonIdempotent: true, attempts: 2 });
    const p2 = r2.execute(
      () => {
        n++;
        return res(503);
      },
      undefined,
      { method: 'patch' },
    );
    await clock.advance(100);
    await p2;
    expect(n).toBe(6);
  });

  test('honours Retry-After in seconds and as an HTTP date; gives up when it is too long', async () => {
    const clock = new FakeClock();
    const r = new Retry({ attempts: 2, budget: false, clock, baseDelay: 1, maxRetryAfter: '10s' });
    const times: number[] = [];
    const p = r.execute(() => {
      times.push(clock.t);
      return times.length === 1 ? res(429, { 'retry-after': '3' }) : res(200);
    });
    await clock.advance(2_999);
    expect(times.length).toBe(1);
    await clock.advance(1);
    expect((await p).status).toBe(200);

    const date = new Date(clock.t + 5_000).toUTCString();
    const times2: number[] = [];
    const p2 = r.execute(() => {
      times2.push(clock.t);
      return times2.length === 1 ? res(503, { 'retry-after': date }) : res(200);
    });
    await clock.advance(10_000);
    await p2;
    expect(times2[1]! - times2[0]!).toBeGreaterThanOrEqual(4_000);
    expect(times2[1]! - times2[0]!).toBeLessThanOrEqual(5_000);

    const giveUps: string[] = [];
    r.onGiveUp((g) => giveUps.push(g));
    let n = 0;
    expect(
      (
        await r.execute(() => {
          n++;
          return res(503, { 'retry-after': '60' });
        })
      ).status,
    ).toBe(503);
    expect(n).toBe(1);
    expect(giveUps).toEqual(['retry_after']);
  });

  test('never sleeps past the deadline', async () => {
    const clock = new FakeClock();
    const r = new Retry({ attempts: 5, budget: false, clock, baseDelay: 1000, random: () => 0.99 });
    const giveUps: string[] = [];
    r.onGiveUp((g) => giveUps.push(g));
    let n = 0;
    const out = await r.execute(
      () => {
        n++;
        return res(503);
      },
      undefined,
      { deadline: clock.t + 500 },
    );
    expect(out.status).toBe(503);
    expect(n).toBe(1);
    expect(giveUps).toEqual(['deadline']);
    expect(clock.timers.length).toBe(0);
  });

  test('an abort during the backoff rejects at once and clears the timer', async () => {
    const clock = new FakeClock();
    const r = new Retry({ budget: false, clock, baseDelay: 1000, random: () => 0.99 });
    const ac = new AbortController();
    const p = r.execute(() => res(503), ac.signal).catch((e) => e);
    await flush();
    expect(clock.timers.length).toBe(1);
    ac.abort(new Error('client left'));
    expect((await p).message).toBe('client left');
    expect(clock.timers.length).toBe(0);
  });

  test('discards a retried result', async () => {
    const clock = new FakeClock();
    const r = new Retry({ budget: false, clock, baseDelay: 1, attempts: 3 });
    const discarded: number[] = [];
    let n = 0;
    const p = r.execute(() => ({ status: ++n < 3 ? 503 : 200, n }), undefined, {
      discard: (x) => void discarded.push(x.n),
    });
    await clock.advance(100);
    expect((await p).n).toBe(3);
    expect(discarded).toEqual([1, 2]);
  });

  test('stops when the budget is spent', async () => {
    const clock = new FakeClock();
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 0.2, window: '10s', clock }); // 2 retries per window
    const r = new Retry({ attempts: 10, clock, baseDelay: 1, budget });
    let n = 0;
    const p = r.execute(() => {
      n++;
      return res(503);
    });
    await clock.advance(100);
    await p;
    expect(n).toBe(3);
  });

  test('bad options name the path and value', () => {
    try {
      new Retry({ attempts: 0 });
      expect.unreachable();
    } catch (e) {
      expect(isConfigError(e)).toBe(true);
      expect((e as Error).message).toMatch(/^retry\.attempts: expected an integer from 1 to 100, got 0/);
    }
    expect(() => new Retry({ baseDelay: '1s', maxDelay: '10ms' })).toThrow(/retry\.maxDelay/);
    expect(() => new Retry({ statuses: [99] })).toThrow(/retry\.statuses/);
    expect(() => new Retry({ budget: { ratio: 2 } })).toThrow(/retry\.budget\.ratio/);
  });
});

describe('parseRetryAfter', () => {
  test('seconds, HTTP dates, garbage', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(['5'], now)).toBe(5_000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 00:00:10 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-1', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
