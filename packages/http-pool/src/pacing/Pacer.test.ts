import { type Clock, isConfigError } from '@breakwater/core';
import { describe, expect, test } from 'vitest';
import { isPoolPaceTimeoutError } from './errors.js';
import { type PaceOptions, resolvePaceOptions } from './options.js';
import { Pacer } from './Pacer.js';
import type { PaceWaiter } from './PaceWaiter.js';

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

function pacer(o: PaceOptions, clock = new FakeClock()) {
  return { clock, p: new Pacer(resolvePaceOptions(o, 'pace', 2_000), clock, 'api') };
}

/** Records when (relative to the start) each waiter is granted, or why it failed. */
function track(clock: FakeClock, w: PaceWaiter | undefined, log: string[], name: string): void {
  const t0 = clock.t;
  if (w === undefined) {
    log.push(`${name}@0`);
    return;
  }
  w.promise.then(
    () => log.push(`${name}@${clock.t - t0}`),
    (e: { code?: string }) => log.push(`${name}:${e.code ?? e}`),
  );
}

describe('Pacer: the bucket and its queue', () => {
  test('a burst goes at once, then calls leave one token interval apart', async () => {
    const { clock, p } = pacer({ rate: 10, burst: 2 });
    const log: string[] = [];
    for (const n of ['a', 'b', 'c', 'd']) track(clock, p.acquire(1, 1_000), log, n);
    expect(p.waiting).toBe(2);
    expect(clock.timers).toHaveLength(1); // one timer, for the head waiter only
    await clock.advance(250);
    expect(log).toEqual(['a@0', 'b@0', 'c@100', 'd@200']);
    expect(clock.timers).toHaveLength(0);
  });

  test('a call that would wait past its limit is refused at once, typed, with the expected wait', async () => {
    const { p } = pacer({ rate: 10, burst: 1 });
    const refused: number[] = [];
    p.onRefuse((ms) => refused.push(ms));
    expect(p.acquire(1, 250)).toBeUndefined();
    p.acquire(1, 250)!.promise.catch(() => {}); // 100 ms
    p.acquire(1, 250)!.promise.catch(() => {}); // 200 ms
    let err: unknown;
    try {
      p.acquire(1, 250); // would be 300 ms
    } catch (e) {
      err = e;
    }
    expect(isPoolPaceTimeoutError(err)).toBe(true);
    expect((err as { retryAfterMs: number }).retryAfterMs).toBe(300);
    expect(refused).toEqual([300]);
    expect(p.waiting).toBe(2);
    p.close(new Error('end'));
    await flush();
  });

  test('waiters are served by priority, FIFO within one', async () => {
    const { clock, p } = pacer({ rate: 10, burst: 1 });
    p.acquire(1, 1_000);
    const log: string[] = [];
    track(clock, p.acquire(2, 1_000), log, 'shed1');
    track(clock, p.acquire(1, 1_000), log, 'norm1');
    track(clock, p.acquire(2, 1_000), log, 'shed2');
    track(clock, p.acquire(0, 1_000), log, 'crit1');
    track(clock, p.acquire(1, 1_000), log, 'norm2');
    await clock.advance(600);
    expect(log).toEqual(['crit1@100', 'norm1@200', 'norm2@300', 'shed1@400', 'shed2@500']);
  });

  test('an urgent call pushing a waiter past its deadline gets it refused at once, not in vain later', async () => {
    const { clock, p } = pacer({ rate: 10, burst: 1 });
    p.acquire(1, 1_000);
    const log: string[] = [];
    track(clock, p.acquire(2, 250), log, 'shed'); // due at 100, deadline 250
    track(clock, p.acquire(0, 1_000), log, 'c1'); // shed now at 200
    await flush();
    expect(log).toEqual([]);
    track(clock, p.acquire(0, 1_000), log, 'c2'); // shed would be at 300 > 250
    await flush();
    expect(log).toEqual(['shed:POOL_PACE_TIMEOUT']);
    await clock.advance(300);
    expect(log).toEqual(['shed:POOL_PACE_TIMEOUT', 'c1@100', 'c2@200']);
  });

  test('a cancelled waiter leaves the queue at once and those behind move up', async () => {
    const { clock, p } = pacer({ rate: 10, burst: 1 });
    p.acquire(1, 1_000);
    const log: string[] = [];
    const a = p.acquire(1, 1_000)!;
    track(clock, a, log, 'a');
    track(clock, p.acquire(1, 1_000), log, 'b');
    p.cancel(a, Object.assign(new Error('gone'), { code: 'ABORTED' }));
    await flush();
    expect(log).toEqual(['a:ABORTED']);
    expect(p.waiting).toBe(1);
    await clock.advance(150);
    expect(log).toEqual(['a:ABORTED', 'b@100']);
    expect(clock.timers).toHaveLength(0);
  });

  test('close refuses every waiter and every later call; no timer is left', async () => {
    const { clock, p } = pacer({ rate: 1, burst: 1 });
    p.acquire(1, 5_000);
    const log: string[] = [];
    track(clock, p.acquire(1, 5_000), log, 'a');
    const reason = Object.assign(new Error('closed'), { code: 'POOL_CLOSED' });
    p.close(reason);
    await flush();
    expect(log).toEqual(['a:POOL_CLOSED']);
    expect(() => p.acquire(1, 5_000)).toThrow(reason);
    expect(clock.timers).toHaveLength(0);
  });

  test('tokens saved in a quiet spell never exceed the burst', async () => {
    const { clock, p } = pacer({ rate: 100, burst: 3 });
    await clock.advance(60_000);
    let immediate = 0;
    for (let w = p.acquire(1, 10_000); w === undefined; w = p.acquire(1, 10_000)) immediate++;
    expect(immediate).toBe(3);
    expect(p.waiting).toBe(1);
    await clock.advance(10);
    expect(p.waiting).toBe(0);
  });
});

describe('Pacer: adaptation to what the upstream says', () => {
  test('429 with Retry-After pauses every call until then and halves the pace, once per wave', async () => {
    const { clock, p } = pacer({ rate: 100, burst: 1, maxWait: '5s' });
    const changes: string[] = [];
    p.onChange((c) => changes.push(`${c.reason}:${c.rate}`));
    const sent = clock.t;
    p.acquire(1, 5_000);
    clock.t += 10;
    p.observe(429, { 'retry-after': '2' }, sent);
    expect(p.rate).toBe(50);
    // Answers to calls sent before the slow-down do not slow it down again.
    p.observe(429, { 'retry-after': '2' }, sent);
    expect(p.rate).toBe(50);
    const log: string[] = [];
    track(clock, p.acquire(1, 5_000), log, 'a');
    track(clock, p.acquire(1, 5_000), log, 'b');
    await clock.advance(1_999);
    expect(log).toEqual([]);
    await clock.advance(100);
    // One token at the end of the pause, then the halved pace (20 ms).
    expect(log).toEqual(['a@2000', 'b@2020']);
    expect(changes).toEqual(['pause:100', 'throttled:50']);
  });

  test('a pause longer than a waiter may wait refuses it at once', async () => {
    const { clock, p } = pacer({ rate: 100, burst: 1, maxWait: '1s' });
    p.acquire(1, 1_000);
    const log: string[] = [];
    track(clock, p.acquire(1, 1_000), log, 'a');
    p.observe(503, { 'retry-after': '5' }, clock.t);
    await flush();
    expect(log).toEqual(['a:POOL_PACE_TIMEOUT']);
    expect(() => p.acquire(1, 1_000)).toThrow(/pacing would delay the call 50\d\dms/);
  });

  test('a pause is never longer than maxPause, whatever the upstream asks', async () => {
    const { clock, p } = pacer({ rate: 100, burst: 1, maxWait: '1m', maxPause: '3s' });
    p.acquire(1, 60_000);
    const log: string[] = [];
    track(clock, p.acquire(1, 60_000), log, 'a');
    p.observe(429, { 'retry-after': '86400' }, clock.t);
    expect(p.paused).toBe(clock.t + 3_000);
    await clock.advance(3_100);
    expect(log).toEqual(['a@3000']);
    expect(clock.timers).toHaveLength(0);
  });

  test('a 503 without Retry-After is not a pacing signal (health and breakers judge it)', () => {
    const { clock, p } = pacer({ rate: 100 });
    p.observe(503, {}, clock.t);
    expect(p.rate).toBe(100);
  });

  test('RateLimit spreads the remaining quota over its reset; RateLimit-Policy caps the pace', () => {
    const { clock, p } = pacer({ rate: 100 });
    p.observe(200, { ratelimit: '"default";r=10;t=2' }, clock.t);
    expect(p.rate).toBeCloseTo(5, 9);
    const { clock: c2, p: p2 } = pacer({ rate: 100 });
    p2.observe(200, { 'ratelimit-policy': '"default";q=20;w=1', ratelimit: '"default";r=20;t=0' }, c2.t);
    expect(p2.rate).toBeCloseTo(20, 9);
    // Calm never restores past the upstream's policy.
    for (let i = 0; i < 10; i++) {
      c2.t += 1_000;
      p2.observe(200, { ratelimit: '"default";r=20;t=0' }, c2.t);
    }
    expect(p2.rate).toBeCloseTo(20, 9);
  });

  test('an exhausted quota (r=0) pauses until its reset', async () => {
    const { clock, p } = pacer({ rate: 100, burst: 1, maxWait: '5s' });
    p.acquire(1, 5_000);
    p.observe(200, { ratelimit: '"default";r=0;t=3' }, clock.t);
    expect(p.paused).toBe(clock.t + 3_000);
    const log: string[] = [];
    track(clock, p.acquire(1, 5_000), log, 'a');
    await clock.advance(3_000);
    expect(log).toEqual(['a@3000']);
  });

  test('calm restores the pace additively, a tenth of the rate per restoreAfter, back to the rate', () => {
    const { clock, p } = pacer({ rate: 100, minRate: 10 });
    for (let i = 0; i < 5; i++) p.observe(429, {}, clock.t++);
    expect(p.rate).toBeCloseTo(10, 9); // 100 → 50 → 25 → 12.5 → floor 10
    const rates: number[] = [];
    for (let i = 0; i < 12; i++) {
      clock.t += 500;
      p.observe(200, {}, clock.t);
      rates.push(Math.round(p.rate));
    }
    // Nothing in the first second of calm; then +10 per second, up to 100.
    expect(rates).toEqual([10, 20, 20, 30, 30, 40, 40, 50, 50, 60, 60, 70]);
    for (let i = 0; i < 20; i++) {
      clock.t += 1_000;
      p.observe(200, {}, clock.t);
    }
    expect(p.rate).toBe(100);
  });

  test('a slower pace re-times waiting calls; a faster one brings them forward', async () => {
    const { clock, p } = pacer({ rate: 10, burst: 1, maxWait: '5s' });
    p.acquire(1, 5_000);
    const log: string[] = [];
    track(clock, p.acquire(1, 5_000), log, 'a'); // due at 100
    p.observe(200, { ratelimit: '"q";r=2;t=1' }, clock.t); // 2/s: due at 500
    await clock.advance(400);
    expect(log).toEqual([]);
    await clock.advance(100);
    expect(log).toEqual(['a@500']);
  });

  test('adaptive: false paces at the configured rate whatever the upstream says', () => {
    const { clock, p } = pacer({ rate: 100, adaptive: false });
    p.observe(429, { 'retry-after': '10', ratelimit: '"q";r=0;t=10' }, clock.t);
    expect(p.rate).toBe(100);
    expect(p.paused).toBe(0);
  });
});

describe('pace options', () => {
  test('defaults and units', () => {
    const o = resolvePaceOptions({ rate: 600, per: '1m' }, 'pace', 2_000);
    expect(o.ratePerMs * 1000).toBeCloseTo(10, 12);
    expect(o.burst).toBe(60);
    expect(o.maxWaitMs).toBe(2_000);
    expect(o.adaptive).toBe(true);
    expect(o.minPerMs).toBeCloseTo(6 / 60_000, 12);
    expect(o.restoreAfterMs).toBe(1_000);
    expect(o.maxPauseMs).toBe(60_000);
  });

  test.each([
    [{}, 'pace.rate'],
    [{ rate: 0 }, 'pace.rate'],
    [{ rate: 10, per: 'soon' }, 'pace.per'],
    [{ rate: 10, burst: 0.5 }, 'pace.burst'],
    [{ rate: 10, maxWait: -1 }, 'pace.maxWait'],
    [{ rate: 10, adaptive: 'yes' }, 'pace.adaptive'],
    [{ rate: 10, minRate: 20 }, 'pace.minRate'],
    [{ rate: 10, restoreAfter: 0 }, 'pace.restoreAfter'],
    [{ rate: 10, maxPause: 0 }, 'pace.maxPause'],
    [{ rate: 10, burts: 5 }, 'pace.burts'],
  ])('%j fails naming %s', (raw, path) => {
    let err: unknown;
    try {
      resolvePaceOptions(raw, 'pace', 2_000);
    } catch (e) {
      err = e;
    }
    expect(isConfigError(err)).toBe(true);
    expect((err as { path: string }).path).toBe(path);
  });
});
