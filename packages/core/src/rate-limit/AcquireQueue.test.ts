import { describe, expect, test } from 'vitest';
import {
  ConfigError,
  isRateLimiterClosedError,
  isRateLimitQueueFullError,
  isRateLimitWaitTimeoutError,
  type RateLimitWaitTimeoutError,
} from '../errors.js';
import { StepClock } from '../test-clock.js';
import { MemoryStore } from './MemoryStore.js';
import { RateLimiter } from './RateLimiter.js';
import type { RateLimitDecision, RateLimitStore, RateLimitWindow } from './types.js';

/** Lets settled promises run their callbacks. */
const flush = () => new Promise<void>((r) => setImmediate(r));

/** Records when each acquire settles, in clock time. */
function track(clock: StepClock, start: number) {
  const log: string[] = [];
  const settle = (name: string, p: Promise<void>) =>
    p.then(
      () => log.push(`${name}@${clock.t - start}`),
      (e: { code?: string }) => log.push(`${name}!${e.code ?? String(e)}@${clock.t - start}`),
    );
  return { log, settle };
}

function oneASecond(clock: StepClock, maxQueue?: number) {
  return new RateLimiter({ limit: 1, window: '1s' }, { clock, name: 'partner', maxQueue });
}

describe('RateLimiter.acquire', () => {
  test('waits for quota instead of refusing, FIFO, one timer for the queue', async () => {
    const clock = new StepClock();
    const l = oneASecond(clock);
    const { log, settle } = track(clock, clock.t);
    settle('a', l.acquire());
    settle('b', l.acquire());
    settle('c', l.acquire());
    await flush();
    expect(log).toEqual(['a@0']);
    expect(l.waiting).toBe(2);
    expect(clock.timers.size).toBe(1);
    clock.advance(999);
    await flush();
    expect(log).toEqual(['a@0']);
    clock.advance(1);
    await flush();
    expect(log).toEqual(['a@0', 'b@1000']);
    clock.advance(1000);
    await flush();
    expect(log).toEqual(['a@0', 'b@1000', 'c@2000']);
    expect(l.waiting).toBe(0);
    expect(clock.timers.size).toBe(0);
  });

  test('priority: critical before normal before sheddable, FIFO within each', async () => {
    const clock = new StepClock();
    const l = oneASecond(clock);
    const { log, settle } = track(clock, clock.t);
    await l.acquire(); // takes the only unit
    settle('n1', l.acquire());
    settle('s1', l.acquire({ priority: 'sheddable' }));
    settle('n2', l.acquire({ priority: 'normal' }));
    settle('c1', l.acquire({ priority: 'critical' }));
    settle('c2', l.acquire({ priority: 'critical' }));
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await flush();
    }
    expect(log).toEqual(['c1@1000', 'c2@2000', 'n1@3000', 'n2@4000', 's1@5000']);
    expect(clock.timers.size).toBe(0);
  });

  test('maxWait: refused at once when the wait is known to be longer; nothing consumed', async () => {
    const clock = new StepClock();
    const l = oneASecond(clock);
    await l.acquire();
    const e = (await l.acquire({ maxWait: '500ms' }).catch((x: unknown) => x)) as RateLimitWaitTimeoutError;
    expect(isRateLimitWaitTimeoutError(e)).toBe(true);
    expect(e.code).toBe('RATE_LIMIT_WAIT_TIMEOUT');
    expect(e.retryAfterMs).toBe(1000);
    expect(l.waiting).toBe(0);
    // Nothing was taken: the unit is back after exactly one second.
    clock.advance(1000);
    await expect(l.acquire({ maxWait: 0 })).resolves.toBeUndefined();
  });

  test('maxWait: a queued waiter gives up when its turn cannot come in time, or when its time is up', async () => {
    const clock = new StepClock();
    const l = oneASecond(clock);
    const { log, settle } = track(clock, clock.t);
    await l.acquire();
    settle('a', l.acquire());
    // Its turn comes after a's: 2 s away, beyond its 1.5 s.
    settle('b', l.acquire({ maxWait: 1500 }));
    clock.advance(1000);
    await flush();
    expect(log).toEqual(['a@1000', 'b!RATE_LIMIT_WAIT_TIMEOUT@1000']);

    // Behind a large cost, a small one waits until its own maxWait runs out.
    const big = new RateLimiter({ limit: 10, window: '1s' }, { clock });
    const t0 = clock.t;
    const t = track(clock, t0);
    await big.acquire({ cost: 10 });
    t.settle('big', big.acquire({ cost: 10 }));
    t.settle('small', big.acquire({ maxWait: 300 }));
    clock.advance(300);
    await flush();
    expect(t.log).toEqual(['small!RATE_LIMIT_WAIT_TIMEOUT@300']);
    clock.advance(700);
    await flush();
    expect(t.log).toEqual(['small!RATE_LIMIT_WAIT_TIMEOUT@300', 'big@1000']);
    expect(clock.timers.size).toBe(0);
  });

  test('abort: the waiter leaves with the signal’s reason and the next is served on time', async () => {
    const clock = new StepClock();
    const l = oneASecond(clock);
    const { log, settle } = track(clock, clock.t);
    await l.acquire();
    const ac = new AbortController();
    settle('a', l.acquire({ signal: ac.signal }));
    settle('b', l.acquire());
    clock.advance(400);
    ac.abort(new Error('user cancelled'));
    await flush();
    expect(log).toEqual(['a!Error: user cancelled@400']);
    expect(l.waiting).toBe(1);
    clock.advance(600);
    await flush();
    expect(log).toEqual(['a!Error: user cancelled@400', 'b@1000']);
    // Aborted before the call: rejected at once, nothing consumed.
    const gone = AbortSignal.abort('late');
    await expect(l.acquire({ signal: gone })).rejects.toBe('late');
    expect(l.waiting).toBe(0);
    expect(clock.timers.size).toBe(0);
  });

  test('queue full: RATE_LIMIT_QUEUE_FULL at once, the queued ones unaffected', async () => {
    const clock = new StepClock();
    const l = oneASecond(clock, 2);
    const { log, settle } = track(clock, clock.t);
    await l.acquire();
    settle('a', l.acquire());
    settle('b', l.acquire());
    const e = await l.acquire().catch((x: unknown) => x);
    expect(isRateLimitQueueFullError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'RATE_LIMIT_QUEUE_FULL', limiter: 'partner', maxQueue: 2 });
    clock.advance(1000);
    await flush();
    clock.advance(1000);
    await flush();
    expect(log).toEqual(['a@1000', 'b@2000']);
    // maxQueue 0: never waits.
    const never = oneASecond(clock, 0);
    await never.acquire();
    await expect(never.acquire()).rejects.toMatchObject({ code: 'RATE_LIMIT_QUEUE_FULL' });
  });

  test('keys wait apart: one key’s queue does not hold another back', async () => {
    const clock = new StepClock();
    const l = oneASecond(clock);
    const { log, settle } = track(clock, clock.t);
    await l.acquire({ key: 'a' });
    settle('a2', l.acquire({ key: 'a' }));
    settle('b1', l.acquire({ key: 'b' }));
    await flush();
    expect(log).toEqual(['b1@0']);
    clock.advance(1000);
    await flush();
    expect(log).toEqual(['b1@0', 'a2@1000']);
  });

  test('close rejects the waiters with RATE_LIMITER_CLOSED and clears every timer', async () => {
    const clock = new StepClock();
    const l = oneASecond(clock);
    await l.acquire();
    const a = l.acquire({ maxWait: '10s' }).catch((x: unknown) => x);
    const b = l.acquire().catch((x: unknown) => x);
    expect(clock.timers.size).toBe(2);
    await l.close();
    expect(isRateLimiterClosedError(await a)).toBe(true);
    expect(isRateLimiterClosedError(await b)).toBe(true);
    expect(clock.timers.size).toBe(0);
    await expect(l.acquire()).rejects.toMatchObject({ code: 'RATE_LIMITER_CLOSED' });
  });

  test('bad options reject with ConfigError naming the option', async () => {
    const clock = new StepClock();
    const l = new RateLimiter({ limit: 5, window: '1s' }, { clock });
    await expect(l.acquire({ cost: 6 })).rejects.toMatchObject({ path: 'acquire.cost' });
    await expect(l.acquire({ cost: -1 })).rejects.toBeInstanceOf(ConfigError);
    await expect(l.acquire({ maxWait: 'soon' })).rejects.toMatchObject({ path: 'acquire.maxWait' });
    await expect(l.acquire({ priority: 'urgent' as never })).rejects.toMatchObject({
      path: 'acquire.priority',
    });
    expect(() => new RateLimiter({ limit: 5, window: '1s' }, { maxQueue: -1 })).toThrow(
      /rateLimit\.maxQueue/,
    );
    expect(l.waiting).toBe(0);
  });

  test('an asynchronous store: waiters are served in order, one question at a time', async () => {
    const clock = new StepClock();
    const mem = new MemoryStore({ clock });
    let asked = 0;
    const store: RateLimitStore = {
      consume(key: string, windows: readonly RateLimitWindow[], cost: number): Promise<RateLimitDecision> {
        asked++;
        const d = mem.consume(key, windows, cost);
        return Promise.resolve({
          ...d,
          remaining: [...d.remaining],
          resetMs: [...d.resetMs],
          violated: [...d.violated],
        });
      },
    };
    const l = new RateLimiter({ limit: 1, window: '1s', store }, { clock });
    const { log, settle } = track(clock, clock.t);
    settle('a', l.acquire());
    settle('b', l.acquire());
    settle('c', l.acquire());
    await flush();
    expect(log).toEqual(['a@0']);
    const before = asked;
    clock.advance(1000);
    await flush();
    clock.advance(1000);
    await flush();
    expect(log).toEqual(['a@0', 'b@1000', 'c@2000']);
    // Each grant is one question, plus one refusal that sets the next timer.
    expect(asked - before).toBeLessThanOrEqual(4);
    expect(clock.timers.size).toBe(0);
  });
});
