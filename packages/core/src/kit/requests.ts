import type { ServerResponse } from 'node:http';
import type { BreakwaterCore } from '../Breakwater.js';
import type { RoutePolicy } from '../guard/policy.js';
import type { RouteGuard } from '../guard/RouteGuard.js';
import type { RouteGuardCache } from '../guard/RouteGuardCache.js';
import type { BreakwaterMetrics } from '../metrics/BreakwaterMetrics.js';
import { recordResponse } from './nodeHttp.js';

function identity(s: string): string {
  return s;
}

/**
 * The guard `guards` holds for a route known by its pattern (the framework names its
 * routes by pattern: Koa, Fastify, Hono); resolving it claims the route's `routes` entry.
 * `null`: the merged policy protects nothing.
 */
export function guardByPattern(guards: RouteGuardCache, pattern: string, method: string): RouteGuard | null {
  return guards.get(pattern, method, identity, pattern);
}

/**
 * Records the request in the duration histogram when `res` closes (see `recordResponse`),
 * for a framework that knows the matched route (`pattern`) as the request starts.
 */
export function measureResponse(
  m: BreakwaterMetrics,
  res: ServerResponse,
  method: string,
  pattern: string | undefined,
): void {
  const start = m.now();
  res.on('close', () => recordResponse(m, res, method, start, pattern));
}

/**
 * Runs a promise-returning `next()` (Koa's, Hono's) and reports how it ended: `done` when
 * it resolves, `failed` when it throws at once or rejects.
 */
export function runNext(next: () => Promise<unknown>, done: () => void, failed: (e: unknown) => void): void {
  let p: Promise<unknown>;
  try {
    p = next();
  } catch (e) {
    p = Promise.reject(e);
  }
  p.then(done, failed);
}

/**
 * Guard caches by policy object, for policies declared on the route itself (a route's
 * config) rather than by mounting `route(policy)`: every route sharing the object (a GET
 * route and the HEAD route a framework adds for it) shares its cache, and so its guards.
 */
export function guardsByPolicy(
  core: Pick<BreakwaterCore, 'routeGuards'>,
): (policy: RoutePolicy) => RouteGuardCache {
  const caches = new WeakMap<object, RouteGuardCache>();
  return (policy) => {
    let c = caches.get(policy);
    if (c === undefined) caches.set(policy, (c = core.routeGuards(policy)));
    return c;
  };
}
