import { describe, expect, test } from 'vitest';
import { AimdLimit } from './AimdLimit.js';

describe('AimdLimit', () => {
  test('grows by one per sample while the limit is in use, not while idle', () => {
    const a = new AimdLimit({ initial: 10 });
    a.update(20, 5, false);
    expect(a.limit).toBe(11);
    a.update(20, 2, false); // 2·2 < 11: not using the limit, proves nothing
    expect(a.limit).toBe(11);
  });

  test('backs off by backoffRatio on a drop and on a call slower than timeout', () => {
    const a = new AimdLimit({ initial: 100, timeout: '1s' });
    a.update(20, 50, true);
    expect(a.limit).toBe(90);
    a.update(1500, 50, false);
    expect(a.limit).toBe(81);
    a.update(999, 50, false); // under the timeout: latency alone means nothing to AIMD
    expect(a.limit).toBe(82);
  });

  test('stays within min and max', () => {
    const a = new AimdLimit({ initial: 5, min: 3, max: 8, backoffRatio: 0.5 });
    for (let i = 0; i < 10; i++) a.update(1, 100, true);
    expect(a.limit).toBe(3);
    for (let i = 0; i < 20; i++) a.update(1, 100, false);
    expect(a.limit).toBe(8);
  });

  test('recovers after the drops stop', () => {
    const a = new AimdLimit({ initial: 40 });
    for (let i = 0; i < 10; i++) a.update(10, 40, true);
    const low = a.limit;
    expect(low).toBeLessThan(20);
    for (let i = 0; i < 10; i++) a.update(10, a.limit, false);
    expect(a.limit).toBe(low + 10);
  });

  test('validation names the option', () => {
    expect(() => new AimdLimit({ backoffRatio: 1.5 }, 'bulkhead.limiter')).toThrow(
      /bulkhead\.limiter\.backoffRatio: expected a number from 0.01 to 0.99, got 1.5/,
    );
    expect(() => new AimdLimit({ timeout: 'soon' })).toThrow(/limiter\.timeout/);
    expect(() => new AimdLimit({ min: 10, max: 5 })).toThrow(/limiter\.max/);
    expect(() => new AimdLimit({ min: 10, initial: 5 })).toThrow(/limiter\.initial/);
  });
});
