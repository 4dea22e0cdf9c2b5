import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isOverloadedError } from '../errors.js';
import { LoadShedder, type ShedLevelChange } from './LoadShedder.js';
import { resolveOverloadOptions } from './options.js';
import type { LoadSample } from './sampler.js';

const calm: LoadSample = { eventLoopDelayMs: 5, eventLoopUtilization: 0.2, heapUsedBytes: 0 };
/** Past the default 100 ms delay threshold, but under twice it. */
const busy: LoadSample = { eventLoopDelayMs: 150, eventLoopUtilization: 0.5, heapUsedBytes: 0 };
/** Between recovery (80 ms) and the threshold (100 ms). */
const warm: LoadSample = { eventLoopDelayMs: 90, eventLoopUtilization: 0.5, heapUsedBytes: 0 };

function shedder(o: Record<string, unknown> = {}) {
  const s = new LoadShedder(resolveOverloadOptions(o));
  const changes: ShedLevelChange[] = [];
  s.onLevelChange((c) => changes.push(c));
  return { s, changes, feed: (x: LoadSample, n = 1) => Array.from({ length: n }, () => s.observe(x)) };
}

describe('LoadShedder', () => {
  test('escalates after consecutive samples past a threshold, one level at a time, up to 2', () => {
    const { s, changes, feed } = shedder();
    expect([s.level, s.shedFrom]).toEqual([0, 3]);
    feed(busy);
    expect(s.level).toBe(0);
    feed(busy);
    expect([s.level, s.shedFrom]).toEqual([1, 2]);
    feed(busy, 2);
    expect([s.level, s.shedFrom]).toEqual([2, 1]);
    feed(busy, 10);
    expect(s.level).toBe(2);
    expect(changes.map((c) => `${c.from}>${c.to}`)).toEqual(['0>1', '1>2']);
    expect(changes[0]!.pressure).toBeCloseTo(1.5);
  });

  test('a sample past twice a threshold escalates at once', () => {
    const { s, feed } = shedder();
    feed({ ...calm, eventLoopDelayMs: 250 });
    expect(s.level).toBe(1);
    feed({ ...calm, eventLoopDelayMs: 250 });
    expect(s.level).toBe(2);
  });

  test('a calm sample breaks a run of busy ones', () => {
    const { s, feed } = shedder();
    for (let i = 0; i < 10; i++) {
      feed(busy);
      feed(calm);
    }
    expect(s.level).toBe(0);
  });

  test('after recoverAfter calm samples, re-admits the shed priority step by step, then leaves the level', () => {
    const { s, changes, feed } = shedder({ recoverAfter: 3 });
    feed(busy, 4);
    expect([s.level, s.admitted]).toEqual([2, 0]);
    feed(calm, 2);
    expect([s.level, s.admitted]).toEqual([2, 0]);
    const steps: number[] = [];
    for (let i = 0; i < 5; i++) {
      feed(calm);
      steps.push(s.admitted);
      expect(s.level).toBe(2);
    }
    expect(steps).toEqual([1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2]);
    feed(calm);
    expect([s.level, s.shedFrom, s.admitted]).toEqual([1, 2, 0]);
    feed(calm, 3 + 5);
    expect([s.level, s.shedFrom, s.admitted]).toEqual([0, 3, 1]);
    expect(changes.map((c) => `${c.from}>${c.to}`)).toEqual(['0>1', '1>2', '2>1', '1>0']);
  });

  test('while re-admitting, refuses() lets the step’s share of the priority at the line through, evenly', () => {
    const { s, feed } = shedder({ recoverAfter: 1 });
    feed(busy, 2);
    expect(s.level).toBe(1);
    expect(s.refuses(2)).toBe(true);
    feed(calm);
    expect(s.admitted).toBe(1 / 32);
    const admitted = (n: number, priority: number) =>
      Array.from({ length: n }, () => s.refuses(priority)).filter((r) => !r).length;
    expect(admitted(64, 2)).toBe(2);
    feed(calm, 3);
    expect(s.admitted).toBe(1 / 4);
    expect(admitted(8, 2)).toBe(2);
    // At level 2 the line is `normal`: sheddable stays refused while normal is re-admitted.
    // (Four busy samples step the recovery back to fully shed; two more escalate.)
    feed(busy, 4 + 2);
    expect(s.level).toBe(2);
    feed(calm);
    expect(s.shedFrom).toBe(1);
    expect(admitted(64, 1)).toBe(2);
    expect(admitted(64, 2)).toBe(0);
  });

  test('a sample past a threshold while re-admitting steps back; before the first step the priority is shed again', () => {
    const { s, feed } = shedder({ recoverAfter: 1 });
    feed(busy, 2);
    feed(calm, 3);
    expect(s.admitted).toBe(1 / 8);
    feed(busy);
    expect([s.level, s.admitted]).toEqual([1, 1 / 16]);
    feed(warm, 5);
    expect(s.admitted).toBe(1 / 16);
    feed(busy, 2);
    expect([s.level, s.admitted]).toEqual([1, 0]);
    // Back to gathering evidence: further busy samples escalate as usual.
    feed(busy, 2);
    expect(s.level).toBe(2);
    // A severe sample ends a recovery at once.
    feed(calm, 2);
    expect(s.admitted).toBe(1 / 16);
    feed({ ...calm, eventLoopDelayMs: 500 });
    expect([s.level, s.admitted]).toEqual([2, 0]);
  });

  test('holds its level between recoverBelow and the threshold (hysteresis)', () => {
    const { s, feed } = shedder({ recoverAfter: 2 });
    feed(busy, 2);
    expect(s.level).toBe(1);
    feed(warm, 20);
    expect([s.level, s.admitted]).toEqual([1, 0]);
    // Warm samples also break a run towards recovery.
    feed(calm);
    feed(warm);
    feed(calm);
    expect(s.admitted).toBe(0);
    feed(calm);
    expect(s.admitted).toBe(1 / 32);
    feed(calm, 5);
    expect(s.level).toBe(0);
  });

  test('judges every configured signal, and ignores those turned off', () => {
    const elu = shedder({ maxEventLoopDelay: false, maxEventLoopUtilization: 0.9, escalateAfter: 1 });
    expect(shedder().s.pressure({ ...calm, eventLoopUtilization: 1 })).toBe(0.05);
    elu.feed({ ...calm, eventLoopDelayMs: 10_000 });
    expect(elu.s.level).toBe(0);
    elu.feed({ ...calm, eventLoopUtilization: 0.95 });
    expect(elu.s.level).toBe(1);
    const heap = shedder({
      maxEventLoopDelay: false,
      maxEventLoopUtilization: false,
      maxHeapUsedBytes: 1000,
    });
    heap.feed({ ...calm, heapUsedBytes: 1500 }, 2);
    expect(heap.s.level).toBe(1);
    expect(heap.s.pressure({ ...calm, heapUsedBytes: 500 })).toBe(0.5);
  });

  test('the refusal is a 503 problem with the reduced-capacity type, Retry-After and its level', () => {
    const { s, feed } = shedder({ sampleInterval: '500ms', recoverAfter: 5 });
    expect(s.retryAfterSec).toBe(3);
    feed(busy, 2);
    const r = s.refusal;
    expect(r.status).toBe(503);
    expect(r.reason).toBe('overloaded');
    expect(r.problem).toMatchObject({
      type: 'https://iana.org/assignments/http-problem-types#temporary-reduced-capacity',
      status: 503,
      code: 'OVERLOADED',
    });
    expect(r.headers).toContainEqual(['Retry-After', '3']);
    expect(r.headers).toContainEqual(['Content-Type', 'application/problem+json']);
    expect(isOverloadedError(r.error)).toBe(true);
    expect(r.error.retryAfterMs).toBe(3000);
    feed(busy, 2);
    expect((s.refusal.error as { level?: number }).level).toBe(2);
  });

  test('property: the level stays in 0..2, moves one step at a time, and shedFrom follows it', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ d: fc.integer({ min: 0, max: 400 }), u: fc.double({ min: 0, max: 1, noNaN: true }) }),
          {
            maxLength: 200,
          },
        ),
        (xs) => {
          const { s, changes } = shedder();
          for (const x of xs) {
            s.observe({ eventLoopDelayMs: x.d, eventLoopUtilization: x.u, heapUsedBytes: 0 });
            expect(s.level).toBeGreaterThanOrEqual(0);
            expect(s.level).toBeLessThanOrEqual(2);
            expect(s.shedFrom).toBe(3 - s.level);
            expect(s.admitted).toBeGreaterThanOrEqual(0);
            expect(s.admitted).toBeLessThanOrEqual(1);
          }
          for (const c of changes) expect(Math.abs(c.to - c.from)).toBe(1);
        },
      ),
    );
  });

  test('a run of calm samples always brings it back to 0', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 100 }), (ds) => {
        const { s, feed } = shedder();
        for (const d of ds) feed({ ...calm, eventLoopDelayMs: d });
        feed(calm, 2 * (4 + 5));
        expect(s.level).toBe(0);
      }),
    );
  });
});

describe('overload options', () => {
  test('defaults', () => {
    expect(resolveOverloadOptions({})).toEqual({
      maxEventLoopDelayMs: 100,
      maxEventLoopUtilization: undefined,
      maxHeapUsedBytes: undefined,
      sampleIntervalMs: 500,
      escalateAfter: 2,
      recoverAfter: 4,
      recoverBelow: 0.8,
      sampler: undefined,
    });
  });

  test.each([
    [{ maxEventLoopDelay: 'soon' }, 'breakwater.overload.maxEventLoopDelay'],
    [{ maxEventLoopDelay: 0 }, 'breakwater.overload.maxEventLoopDelay'],
    [{ maxEventLoopUtilization: 1.5 }, 'breakwater.overload.maxEventLoopUtilization'],
    [{ maxEventLoopUtilization: 0 }, 'breakwater.overload.maxEventLoopUtilization'],
    [{ maxHeapUsedBytes: -1 }, 'breakwater.overload.maxHeapUsedBytes'],
    [{ sampleInterval: 0 }, 'breakwater.overload.sampleInterval'],
    [{ escalateAfter: 0 }, 'breakwater.overload.escalateAfter'],
    [{ recoverAfter: 1.5 }, 'breakwater.overload.recoverAfter'],
    [{ recoverBelow: 2 }, 'breakwater.overload.recoverBelow'],
    [{ sampler: {} }, 'breakwater.overload.sampler'],
    [{ maxEventLoopDelay: false }, 'breakwater.overload'],
    [{ maxDelay: '1s' }, 'breakwater.overload.maxDelay'],
  ])('%j is refused, naming %s', (o, path) => {
    expect(() => resolveOverloadOptions(o)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', path }),
    );
  });
});
