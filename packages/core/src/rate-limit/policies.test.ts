import { afterEach, describe, expect, test } from 'vitest';
import { BreakwaterCore } from '../Breakwater.js';
import type { PolicyRefusal } from '../guard/problem.js';
import type { RouteGuard } from '../guard/RouteGuard.js';
import { StubCall } from '../test-call.js';
import { manualClock, StepClock } from '../test-clock.js';
import { MemoryStore } from './MemoryStore.js';
import { RateLimiter, type RateLimitOptions } from './RateLimiter.js';
import type { RateLimitBlock, RateLimitStore, RateLimitWindow } from './types.js';

const cores: BreakwaterCore[] = [];
afterEach(async () => {
  await Promise.all(cores.splice(0).map((c) => c.close()));
});

/** A request with headers; its handler stays open until `end(status)`. */
class Call extends StubCall {
  answer: string | undefined;
  constructor(
    guard: ConstructorParameters<typeof StubCall>[0],
    private readonly headers: Record<string, string> = {},
  ) {
    super(guard);
  }
  override header(name: string): string | undefined {
    return this.headers[name];
  }
  override nativeRequest(): unknown {
    return { headers: this.headers };
  }
  override refuse(r: PolicyRefusal): void {
    this.answer = `${r.status} ${r.problem.code}`;
  }
  override proceed(): void {
    this.answer = 'running';
  }
  end(status: number): void {
    this.finish(status, undefined);
  }
}

/** The memory store behind a counter of calls, answering with promises when `async`. */
function counted(async = false) {
  const clock = manualClock();
  const mem = new MemoryStore({ clock });
  const calls = { consume: 0, refund: 0 };
  const copy = <T>(v: T): T => structuredClone(v);
  const store: RateLimitStore = {
    supportsBlock: true,
    consume(k: string, w: readonly RateLimitWindow[], c: number, b?: RateLimitBlock) {
      calls.consume++;
      const d = copy(mem.consume(k, w, c, b));
      return async ? Promise.resolve(d) : d;
    },
    refund(k: string, w: readonly RateLimitWindow[], c: number) {
      calls.refund++;
      mem.refund(k, w, c);
    },
  };
  return { store, calls, clock };
}

function route(rateLimit: RateLimitOptions<any>, store?: RateLimitStore): RouteGuard {
  const c = new BreakwaterCore({ metrics: false, clock: manualClock(), ...(store ? { store } : {}) });
  cores.push(c);
  return c.routes.routeGuard({ name: 'r', rateLimit } as never, 'POST', '/r')!;
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('rate-limit options checked at construction, naming the option', () => {
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ limit: 'many' }, 'rateLimit.limit'],
    [{ limit: 0 }, 'rateLimit.limit'],
    [{ skip: true }, 'rateLimit.skip'],
    [{ count: 'some' }, 'rateLimit.count'],
    [{ block: 3 }, 'rateLimit.block'],
    [{ block: { after: 0, for: '1m' } }, 'rateLimit.block.after'],
    [{ block: { after: 1 } }, 'rateLimit.block.for'],
    [{ block: { after: 1, for: 'soon' } }, 'rateLimit.block.for'],
    [{ block: { after: 1, for: '1m', growth: 0.5 } }, 'rateLimit.block.growth'],
    [{ block: { after: 1, for: '1m', max: '10s' } }, 'rateLimit.block.max'],
    [{ block: { after: 1, for: '1m', forever: true } }, 'rateLimit.block.forever'],
  ];
  test.each(bad)('%o → %s', (extra, path) => {
    expect(() => new RateLimiter({ limit: 1, window: '1m', ...extra } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', path }),
    );
  });

  test('count needs a store with refund(), block one that supports it', () => {
    const bare: RateLimitStore = {
      consume: () => ({ allowed: true, remaining: [1], resetMs: [0], retryAfterMs: 0, violated: [] }),
    };
    expect(() => new RateLimiter({ limit: 1, window: '1m', count: 'failed', store: bare })).toThrow(
      expect.objectContaining({ path: 'rateLimit.count' }),
    );
    expect(
      () => new RateLimiter({ limit: 1, window: '1m', block: { after: 1, for: '1m' }, store: bare }),
    ).toThrow(expect.objectContaining({ path: 'rateLimit.block' }));
  });
});

describe('count', () => {
  test("without count a route makes no refund call; with 'failed' each success gives its cost back", async () => {
    const plain = counted();
    const g = route({ limit: 3, window: '1m' }, plain.store);
    for (let i = 0; i < 5; i++) {
      const c = new Call(g);
      g.start(c);
      if (c.answer === 'running') c.end(200);
    }
    expect(plain.calls).toEqual({ consume: 5, refund: 0 });

    const failed = counted();
    const h = route({ limit: 3, window: '1m', count: 'failed' }, failed.store);
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) {
      const c = new Call(h);
      h.start(c);
      answers.push(c.answer!);
      c.end(200);
    }
    expect(answers).toEqual(Array(5).fill('running'));
    expect(failed.calls).toEqual({ consume: 5, refund: 5 });
  });

  test("'succeeded': failures give their cost back, successes count", () => {
    const g = route({ limit: 2, window: '1m', count: 'succeeded' });
    const run = (status: number) => {
      const c = new Call(g);
      g.start(c);
      const a = c.answer!;
      if (a === 'running') c.end(status);
      return a;
    };
    expect([run(500), run(404), run(500), run(200), run(500), run(200), run(200)]).toEqual([
      'running',
      'running',
      'running',
      'running',
      'running',
      'running',
      '429 RATE_LIMITED',
    ]);
  });

  test('the cost is taken at admission: concurrent requests never overshoot, answers give back', async () => {
    const { store, calls } = counted(true);
    const g = route({ limit: 3, window: '1m', count: 'failed' }, store);
    const first = Array.from({ length: 10 }, () => new Call(g));
    for (const c of first) g.start(c);
    await flush();
    expect(first.map((c) => c.answer)).toEqual([
      ...Array(3).fill('running'),
      ...Array(7).fill('429 RATE_LIMITED'),
    ]);
    // Two succeed (their cost comes back), one fails (it keeps its cost).
    first[0]!.end(200);
    first[1]!.end(302);
    first[2]!.end(401);
    expect(calls.refund).toBe(2);
    const next = Array.from({ length: 3 }, () => new Call(g));
    for (const c of next) g.start(c);
    await flush();
    expect(next.map((c) => c.answer)).toEqual(['running', 'running', '429 RATE_LIMITED']);
  });

  test("a client that leaves while the store decides settles as a failure ('succeeded' refunds it)", async () => {
    const { store, calls } = counted(true);
    const g = route({ limit: 1, window: '1m', count: 'succeeded' }, store);
    const c = new Call(g);
    g.start(c);
    c.clientGone();
    await flush();
    expect(c.answer).toBeUndefined();
    expect(calls.refund).toBe(1);
    const d = new Call(g);
    g.start(d);
    await flush();
    expect(d.answer).toBe('running');
  });
});

describe('count and a failing store', () => {
  test("what onStoreError 'allow' admits owes nothing: no refund reaches the store", async () => {
    let refunds = 0;
    const store: RateLimitStore = {
      consume: () => Promise.reject(new Error('down')),
      refund: () => {
        refunds++;
      },
    };
    const g = route({ limit: 1, window: '1m', count: 'failed' }, store);
    for (let i = 0; i < 3; i++) {
      const c = new Call(g);
      g.start(c);
      await flush();
      expect(c.answer).toBe('running');
      c.end(200);
    }
    expect(refunds).toBe(0);
  });

  test("onStoreError 'memory': the local store takes the cost and gets it back", async () => {
    let refunds = 0;
    const store: RateLimitStore = {
      consume: () => Promise.reject(new Error('down')),
      refund: () => {
        refunds++;
      },
    };
    const g = route({ limit: 1, window: '1m', count: 'failed', onStoreError: 'memory' }, store);
    const answers: string[] = [];
    for (const status of [200, 200, 401, 200]) {
      const c = new Call(g);
      g.start(c);
      await flush();
      answers.push(c.answer!);
      if (c.answer === 'running') c.end(status);
    }
    expect(answers).toEqual(['running', 'running', 'running', '429 RATE_LIMITED']);
    expect(refunds).toBe(0);
  });
});

describe('count and the deadline', () => {
  test("a request the timeout answered settles as a failure: 'succeeded' gives it back, 'failed' keeps it", () => {
    for (const count of ['succeeded', 'failed'] as const) {
      const clock = new StepClock();
      const c = new BreakwaterCore({ metrics: false, clock });
      cores.push(c);
      const g = c.routes.routeGuard(
        { name: 't', timeout: '1s', rateLimit: { limit: 1, window: '1m', count } } as never,
        'GET',
        '/t',
      )!;
      const slow = new Call(g);
      g.start(slow);
      expect(slow.answer).toBe('running');
      clock.advance(1500); // the deadline answers; the handler ends later with a 200
      slow.end(200);
      const next = new Call(g);
      g.start(next);
      expect([count, next.answer]).toEqual([count, count === 'succeeded' ? 'running' : '429 RATE_LIMITED']);
      if (next.answer === 'running') next.end(200);
    }
  });
});

describe('limit functions and skip', () => {
  test('a limit function answering nonsense refuses with 503 RATE_LIMIT_ERROR, reported once', async () => {
    const values: unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, -1, 0, '5', undefined];
    let i = 0;
    const g = route({ limit: () => values[i++] as number, window: '1m' });
    const reports: string[] = [];
    g.limiter!.onMisconfiguration((m) => reports.push(`${m.option}: ${m.problem}`));
    const answers: string[] = [];
    for (let k = 0; k < values.length; k++) {
      const c = new Call(g);
      g.start(c);
      answers.push(c.answer!);
    }
    expect(answers).toEqual(Array(values.length).fill('503 RATE_LIMIT_ERROR'));
    // The limiter reports each; the instance's log keeps the first (once per option).
    expect(reports[0]).toBe(
      'route.rateLimit.limit: the limit function returned NaN: such requests are refused with 503 RATE_LIMIT_ERROR',
    );
  });

  test('a skip that throws counts the request; an async skip exempts it uncounted', async () => {
    const g = route({
      limit: 1,
      window: '1m',
      key: { header: 'x-k' },
      skip: (req: { headers: Record<string, string> }) => {
        if (req.headers['x-skip'] === 'throw') throw new Error('boom');
        return Promise.resolve(req.headers['x-skip'] === 'yes');
      },
    });
    const start = async (headers: Record<string, string>) => {
      const c = new Call(g, headers);
      g.start(c);
      await flush();
      if (c.answer === 'running') c.end(200);
      return c.answer;
    };
    expect(await start({ 'x-k': 'a', 'x-skip': 'yes' })).toBe('running');
    expect(await start({ 'x-k': 'a', 'x-skip': 'yes' })).toBe('running');
    expect(await start({ 'x-k': 'a', 'x-skip': 'throw' })).toBe('running');
    expect(await start({ 'x-k': 'a' })).toBe('429 RATE_LIMITED');
  });
});

describe('block outside a route', () => {
  test('execute() honours a block and reports when it ends', async () => {
    const clock = manualClock();
    const l = new RateLimiter(
      { limit: 1, window: '10s', algorithm: 'fixed-window', block: { after: 2, for: '5s' } },
      { clock },
    );
    clock.t = 1_000_000;
    await l.execute(() => 'ok');
    await expect(l.execute(() => 'ok')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await expect(l.execute(() => 'ok')).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 5000 });
    clock.t += 1000;
    await expect(l.execute(() => 'ok')).rejects.toMatchObject({ retryAfterMs: 4000 });
    expect(await l.get('*')).toMatchObject({ block: { refusals: 0, blocks: 1, blockedMs: 4000 } });
    clock.t += 10_000; // the window is over, the block too, and `max` (= for) after it, its history
    await expect(l.execute(() => 'ok')).resolves.toBe('ok');
    expect(await l.get('*')).toMatchObject({ block: { blocks: 0, blockedMs: 0 } });
  });
});
