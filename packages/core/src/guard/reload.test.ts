import { describe, expect, test } from 'vitest';
import { BreakwaterCore, type BreakwaterOptions } from '../Breakwater.js';
import { ConfigError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { RouteTable } from './RouteTable.js';
import type { ReconfigureResult } from './reload.js';

function manualClock(start = 1_000_000): Clock & { t: number } {
  const c = { t: start, now: () => c.t, setTimeout: () => 0, clearTimeout: () => {} };
  return c;
}

function core(options: BreakwaterOptions = {}): BreakwaterCore {
  return new BreakwaterCore({ metrics: false, clock: manualClock(), ...options });
}

const perMinute = (limit: number) => ({ rateLimit: { limit, window: '1m' } });

describe('reconfigure()', () => {
  test('an unchanged entry keeps its guard; a changed one gets a new guard; a removed one stops applying', () => {
    const c = core({
      routes: { 'GET /a': perMinute(2), 'GET /b': perMinute(2), 'GET /c': { timeout: '1s' } },
    });
    const a = c.entryGuard('GET', '/a');
    const b = c.entryGuard('GET', '/b');
    expect(c.entryGuard('GET', '/c')).toBeDefined();
    const r = c.reconfigure({
      // Reparsed from a file: new objects, same content for /a.
      routes: { 'GET /a': perMinute(2), 'GET /b': perMinute(5), 'GET /d': { timeout: '2s' } },
    });
    expect(r).toEqual<ReconfigureResult>({
      changed: ['GET /b'],
      unchanged: ['GET /a'],
      added: ['GET /d'],
      removed: ['GET /c'],
      breakers: { added: [], changed: [], removed: [] },
    });
    expect(c.entryGuard('GET', '/a')).toBe(a);
    const b2 = c.entryGuard('GET', '/b');
    expect(b2).not.toBe(b);
    expect(b2!.limiter!.windows[0]!.limit).toBe(5);
    expect(c.entryGuard('GET', '/c')).toBeUndefined();
    expect(c.entryGuard('GET', '/d')!.timeoutMs).toBe(2000);
    expect(c.guards).not.toContain(b);
    expect(c.guards).toContain(b2);
  });

  test('a changed timeout keeps the route’s limiter and breaker (their options did not change)', () => {
    const c = core({
      routes: { 'GET /a': { ...perMinute(2), circuitBreaker: { minimumCalls: 1 }, timeout: '1s' } },
    });
    const g = c.entryGuard('GET', '/a')!;
    const r = c.reconfigure({
      routes: { 'GET /a': { ...perMinute(2), circuitBreaker: { minimumCalls: 1 }, timeout: '3s' } },
    });
    expect(r.changed).toEqual(['GET /a']);
    const g2 = c.entryGuard('GET', '/a')!;
    expect(g2).not.toBe(g);
    expect(g2.timeoutMs).toBe(3000);
    expect(g2.limiter).toBe(g.limiter);
    expect(g2.breaker).toBe(g.breaker);
    expect(c.breakers.get('GET /a')).toBe(g.breaker);
  });

  test('a route’s own breaker with new options is a new breaker under the same name', () => {
    const c = core({ routes: { 'GET /a': { circuitBreaker: { minimumCalls: 1 } } } });
    const old = c.entryGuard('GET', '/a')!.breaker!;
    old.open();
    c.reconfigure({ routes: { 'GET /a': { circuitBreaker: { minimumCalls: 2 } } } });
    const b = c.entryGuard('GET', '/a')!.breaker!;
    expect(b).not.toBe(old);
    expect(b.name).toBe('GET /a');
    expect(b.state).toBe('closed');
    expect(c.breakers.get('GET /a')).toBe(b);
  });

  test('route() guards merge the new entry and defaults under their own options', () => {
    const c = core({ defaults: { timeout: '5s' }, routes: { 'GET /a': perMinute(2) } });
    const cache = c.routeGuards({ bulkhead: { maxConcurrent: 3 } });
    const g = cache.get('k', 'GET', (p: string) => p, '/a')!;
    expect(g.limiter!.windows[0]!.limit).toBe(2);
    // The app middleware leaves a claimed route to its route().
    expect(c.entryGuard('GET', '/a')).toBeUndefined();
    const r = c.reconfigure({ routes: { 'GET /a': perMinute(5) } });
    expect(r.changed).toEqual(['GET /a']);
    const g2 = cache.get('k', 'GET', () => '/never-asked', undefined)!;
    expect(g2).not.toBe(g);
    expect(g2.limiter!.windows[0]!.limit).toBe(5);
    expect(g2.bulkhead).toBe(g.bulkhead);
    expect(g2.timeoutMs).toBe(5000);
    expect(c.entryGuard('GET', '/a')).toBeUndefined();

    // defaults left out: kept. Given: applied under the entry.
    c.reconfigure({ defaults: { timeout: '1s' } });
    const g3 = cache.get('k', 'GET', () => '/never-asked', undefined)!;
    expect(g3.timeoutMs).toBe(1000);
    expect(g3.limiter).toBe(g2.limiter);
  });

  test('a route() on an instance without routes sees entries a reconfiguration adds', () => {
    const c = core();
    expect(c.hasRouteTable).toBe(false);
    const cache = c.routeGuards({});
    expect(cache.get('k', 'GET', (p: string) => p, '/a')).toBeNull();
    const r = c.reconfigure({ routes: { 'GET /a': perMinute(5), 'GET /b': perMinute(1) } });
    expect(r).toMatchObject({ changed: ['GET /a'], added: ['GET /a', 'GET /b'] });
    expect(c.hasRouteTable).toBe(true);
    expect(cache.get('k', 'GET', (p: string) => p, '/a')!.limiter!.windows[0]!.limit).toBe(5);
    expect(c.entryGuard('GET', '/b')!.limiter!.windows[0]!.limit).toBe(1);
    c.reconfigure({ routes: undefined });
    expect(c.hasRouteTable).toBe(false);
    expect(cache.get('k', 'GET', (p: string) => p, '/a')).toBeNull();
  });

  test('a bad option throws with its path and changes nothing', () => {
    const c = core({ routes: { 'GET /a': perMinute(2) }, breakers: { up: { minimumCalls: 5 } } });
    const g = c.entryGuard('GET', '/a');
    const up = c.breakers.get('up');
    const bad: Array<[unknown, string]> = [
      [{ routes: { 'GET /a': perMinute(-1) } }, "breakwater.routes['GET /a'].rateLimit.limit"],
      [{ routes: { 'GET /a': perMinute(5), 'get /a': perMinute(1) } }, "breakwater.routes['get /a']"],
      [{ routes: { 'FETCH /a': {} } }, "breakwater.routes['FETCH /a']"],
      [{ defaults: { timeout: 'soon' } }, 'breakwater.defaults.timeout'],
      [{ breakers: { up: { failureRateThreshold: 2 } } }, 'breakwater.breakers.up.failureRateThreshold'],
      [{ routes: { 'GET /a': perMinute(5) }, breakers: { up: 'x' } }, 'breakwater.breakers.up'],
      [{ route: {} }, 'reconfigure.route'],
    ];
    for (const [options, path] of bad) {
      let err: unknown;
      try {
        c.reconfigure(options as never);
      } catch (e) {
        err = e;
      }
      expect(err, path).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).path, path).toBe(path);
      expect(c.entryGuard('GET', '/a')).toBe(g);
      expect(c.entryGuard('GET', '/a')!.limiter!.windows[0]!.limit).toBe(2);
      expect(c.breakers.get('up')).toBe(up);
    }
  });

  test('shared breakers: unchanged ones keep their state, changed ones are rebuilt with the routes naming them', () => {
    const c = core({
      breakers: { up: { minimumCalls: 5 }, db: { minimumCalls: 5 } },
      routes: { 'GET /a': { circuitBreaker: 'up' }, 'GET /b': { circuitBreaker: 'db' } },
    });
    const a = c.entryGuard('GET', '/a')!;
    const b = c.entryGuard('GET', '/b')!;
    a.breaker!.open();
    b.breaker!.open();
    const r = c.reconfigure({
      breakers: { up: { minimumCalls: 5 }, db: { minimumCalls: 9 }, cache: {} },
    });
    expect(r.breakers).toEqual({ added: ['cache'], changed: ['db'], removed: [] });
    expect(r.unchanged).toEqual(['GET /a']);
    expect(r.changed).toEqual(['GET /b']);
    expect(c.entryGuard('GET', '/a')).toBe(a);
    expect(a.breaker!.state).toBe('open');
    const b2 = c.entryGuard('GET', '/b')!;
    expect(b2.breaker).toBe(c.breakers.get('db'));
    expect(b2.breaker).not.toBe(b.breaker);
    expect(b2.breaker!.state).toBe('closed');
    expect(c.breakers.has('cache')).toBe(true);

    // 'db' is still named by GET /b: dropping it is a mistake, reported with the route's path.
    expect(() => c.reconfigure({ breakers: { up: { minimumCalls: 5 } } })).toThrow(
      "breakwater.routes['GET /b'].circuitBreaker: expected a breaker listed in breakwater.breakers",
    );
    expect(c.breakers.has('db')).toBe(true);
    const r2 = c.reconfigure({
      breakers: { up: { minimumCalls: 5 } },
      routes: { 'GET /a': { circuitBreaker: 'up' }, 'GET /b': {} },
    });
    expect(r2.breakers.removed).toEqual(['db', 'cache']); // in configuration order
    expect(c.breakers.has('db')).toBe(false);
    expect(c.entryGuard('GET', '/b')).toBeUndefined();
    expect(c.breakers.has('cache')).toBe(false);
    // A name taken by something else (here a route's own breaker) is not a shared breaker's to take.
    c.reconfigure({ routes: { 'GET /own': { circuitBreaker: {} } } });
    c.entryGuard('GET', '/own');
    expect(() => c.reconfigure({ breakers: { up: { minimumCalls: 5 }, 'GET /own': {} } })).toThrow(
      'breakwater.breakers.GET /own: expected a breaker name not already registered',
    );
  });

  test('onReconfigure announces what changed', () => {
    const c = core({ routes: { 'GET /a': perMinute(2) } });
    const seen: ReconfigureResult[] = [];
    c.onReconfigure((r) => seen.push(r));
    c.reconfigure({ routes: { 'GET /a': perMinute(3) } });
    expect(() => c.reconfigure({ routes: { 'GET /a': perMinute(0) } })).toThrow(ConfigError);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.changed).toEqual(['GET /a']);
  });
});

describe('RouteTable.values()', () => {
  test('lists every value once', () => {
    const t = new RouteTable<string>();
    for (const k of ['GET /a', '/a', 'POST /a/:id', 'GET /a/:id/x', 'GET /f/*p', '*', 'GET /']) t.add(k, k);
    expect([...t.values()].sort()).toEqual(
      ['GET /a', '/a', 'POST /a/:id', 'GET /a/:id/x', 'GET /f/*p', '*', 'GET /'].sort(),
    );
  });
});
