import { afterEach, describe, expect, test } from 'vitest';
import { BreakwaterCore } from '../Breakwater.js';
import { RouteLimits } from '../guard/RouteLimits.js';
import type { RateLimitStore } from '../rate-limit/types.js';
import { StubCall } from '../test-call.js';
import { manualClock } from '../test-clock.js';
import { AdminApi } from './AdminApi.js';

const cores: BreakwaterCore[] = [];
afterEach(async () => {
  await Promise.all(cores.splice(0).map((c) => c.close()));
});

/** A request with headers, answered by the handler with `status` at once. */
class LimitCall extends StubCall {
  constructor(
    guard: ConstructorParameters<typeof StubCall>[0],
    private readonly headers: Record<string, string>,
  ) {
    super(guard);
  }
  override header(name: string): string | undefined {
    return this.headers[name];
  }
  override proceed(): void {
    this.finish(401, undefined);
  }
}

function setup(rateLimit: Record<string, unknown>, store?: RateLimitStore) {
  const clock = manualClock(1_700_000_040_000);
  const c = new BreakwaterCore({ metrics: false, clock, ...(store ? { store } : {}) });
  cores.push(c);
  const g = c.routes.routeGuard({ name: 'POST /login', rateLimit } as never, 'POST', '/login')!;
  return { c, g, clock, api: new AdminApi(c), limits: new RouteLimits(c) };
}

describe('one key of a route, through the admin API and bw.limits', () => {
  test('GET ?route&key reads the state, DELETE forgets it; unknown routes are 404', async () => {
    const { g, api, limits } = setup({
      limit: 2,
      window: '1m',
      algorithm: 'fixed-window',
      key: { header: 'x-user' },
      block: { after: 1, for: '30s' },
    });
    for (let i = 0; i < 3; i++) g.start(new LimitCall(g, { 'x-user': 'eve' }));
    const read = await api.handle({ method: 'GET', query: { route: 'POST /login', key: 'eve' } });
    expect(read.status).toBe(200);
    expect(JSON.parse(read.body)).toEqual({
      route: 'POST /login',
      key: 'eve',
      state: {
        windows: [{ name: 'per-minute', limit: 2, remaining: 0, resetMs: 30_000 }],
        block: { refusals: 0, blocks: 1, blockedMs: 30_000 },
      },
    });
    expect(await limits.get('POST /login', 'eve')).toEqual(JSON.parse(read.body).state);
    const del = await api.handle({ method: 'DELETE', query: { route: 'POST /login', key: 'eve' } });
    expect([del.status, JSON.parse(del.body)]).toEqual([
      200,
      { route: 'POST /login', key: 'eve', reset: true },
    ]);
    const after = await api.handle({ method: 'GET', query: { route: 'POST /login', key: 'eve' } });
    expect(JSON.parse(after.body).state).toBeNull();
    expect((await api.handle({ method: 'GET', query: { route: 'GET /nope', key: 'eve' } })).status).toBe(404);
    expect((await api.handle({ method: 'GET', query: { route: 'POST /login' } })).status).toBe(400);
    await expect(limits.get('GET /nope', 'x')).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  test('a failing store answers 503, never a throw', async () => {
    const broken: RateLimitStore = {
      consume: () => Promise.reject(new Error('down')),
      get: () => Promise.reject(new Error('connection refused')),
      reset: () => Promise.reject(new Error('connection refused')),
    };
    const { api } = setup({ limit: 2, window: '1m' }, broken);
    const r = await api.handle({ method: 'GET', query: { route: 'POST /login', key: 'k' } });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).error).toContain('connection refused');
    expect((await api.handle({ method: 'DELETE', query: { route: 'POST /login', key: 'k' } })).status).toBe(
      503,
    );
  });
});
