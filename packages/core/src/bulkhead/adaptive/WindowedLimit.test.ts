import { describe, expect, test } from 'vitest';
import { AimdLimit } from './AimdLimit.js';
import { createLimit } from './createLimit.js';
import { Gradient2Limit } from './Gradient2Limit.js';
import type { LimitAlgorithm } from './LimitAlgorithm.js';
import { WindowedLimit } from './WindowedLimit.js';

describe('WindowedLimit', () => {
  test('hands the delegate one sample per window: mean RTT, most in flight, any drop', () => {
    const seen: Array<[number, number, boolean]> = [];
    const delegate: LimitAlgorithm = {
      name: 'spy',
      limit: 5,
      update: (rtt, inflight, dropped) => {
        seen.push([rtt, inflight, dropped]);
      },
    };
    const w = new WindowedLimit(delegate, 3);
    w.update(10, 2, false);
    w.update(20, 7, false);
    expect(seen).toEqual([]);
    w.update(30, 4, true);
    w.update(5, 1, false);
    w.update(5, 1, false);
    w.update(5, 1, false);
    expect(seen).toEqual([
      [20, 7, true],
      [5, 1, false],
    ]);
    expect(w.limit).toBe(5);
    expect(w.name).toBe('spy');
  });

  test('one event-loop stall is one sample, not a volley of cuts', () => {
    const perCall = new Gradient2Limit({ initial: 40, max: 40 });
    const windowed = new WindowedLimit(new Gradient2Limit({ initial: 40, max: 40 }), 10);
    const feed = (rtt: number) => {
      perCall.update(rtt, 40, false);
      windowed.update(rtt, 40, false);
    };
    for (let i = 0; i < 300; i++) feed(10);
    // A 100 ms stall: the 40 calls in flight all end late at once.
    for (let i = 0; i < 40; i++) feed(110);
    expect(perCall.limit).toBeLessThan(15);
    expect(windowed.limit).toBeGreaterThan(25);
  });
});

describe('createLimit', () => {
  test('windows gradient2 and vegas by default, not aimd', () => {
    expect(createLimit(undefined, {}, 'b').algorithm).toBeInstanceOf(WindowedLimit);
    expect(createLimit('vegas', {}, 'b').algorithm).toBeInstanceOf(WindowedLimit);
    expect(createLimit('aimd', {}, 'b').algorithm).toBeInstanceOf(AimdLimit);
    expect(createLimit({ algorithm: 'gradient2', window: 1 }, {}, 'b').algorithm).toBeInstanceOf(
      Gradient2Limit,
    );
    expect(createLimit({ algorithm: 'aimd', window: 5 }, {}, 'b').algorithm).toBeInstanceOf(WindowedLimit);
  });

  test('passes bounds and tuning on, and names bad values by path', () => {
    const { algorithm, min, max } = createLimit(
      { algorithm: 'aimd', backoffRatio: 0.5 },
      { min: 2, max: 50, initial: 10 },
      'bulkheads.db',
    );
    expect([algorithm.limit, min, max]).toEqual([10, 2, 50]);
    algorithm.update(1, 10, true);
    expect(algorithm.limit).toBe(5);
    expect(() => createLimit({ algorithm: 'aimd', window: 0 }, {}, 'bulkheads.db')).toThrow(
      /bulkheads\.db\.limiter\.window: expected an integer from 1 to 10000, got 0/,
    );
    expect(() => createLimit({ algorithm: 'toString' }, {}, 'b')).toThrow(/b\.limiter\.algorithm/);
    expect(() => createLimit(42, {}, 'b')).toThrow(/b\.limiter: expected one of/);
  });
});
