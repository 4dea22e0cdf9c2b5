import {
  type BreakwaterContext,
  BreakwaterCore,
  type BreakwaterOptions,
  type RouteGuard,
  type RoutePolicy,
} from '@breakwater/core';
import type { Context, Middleware, Next } from 'koa';
import { KoaCall, type KoaOnReject } from './KoaCall.js';

/** A route policy for Koa: `onReject(refusal, ctx)`. */
export type KoaRoutePolicy = RoutePolicy<Context, KoaOnReject>;

/** Options of the Koa `breakwater()`. */
export type KoaBreakwaterOptions = BreakwaterOptions<KoaRoutePolicy>;

/** What handlers find in `ctx.state.breakwater`. */
export interface BreakwaterState {
  breakwater?: BreakwaterContext;
}

/** What `breakwater()` returns for Koa. */
export interface KoaBreakwater {
  readonly core: BreakwaterCore;
  readonly pools: BreakwaterCore['pools'];
  readonly breakers: BreakwaterCore['breakers'];
  /** App-level middleware: applies `routes` entries. Mount it first. */
  middleware(): Middleware;
  /** Route-level middleware (after @koa/router matched) applying `policy`. */
  route(policy?: KoaRoutePolicy): Middleware;
  close(): Promise<void>;
}

function guardRequest(guard: RouteGuard, ctx: Context, next: Next): Promise<void> {
  const call = new KoaCall(guard, ctx, next);
  (ctx.state as BreakwaterState).breakwater = call;
  guard.start(call);
  return call.done;
}

/** The route pattern @koa/router matched, with its prefix. */
function matchedPattern(ctx: Context): string | undefined {
  const c = ctx as Context & { _matchedRoute?: unknown; routerPath?: unknown };
  const p = c._matchedRoute ?? c.routerPath;
  return typeof p === 'string' ? p : p === undefined ? undefined : String(p);
}

/**
 * Creates a Breakwater instance for Koa 2 or 3.
 *
 * ```ts
 * const bw = breakwater();
 * app.use(bw.middleware());
 * router.get('/api/x', bw.route({ timeout: '2s' }), handler);
 * ```
 */
export function breakwater(options: KoaBreakwaterOptions = {}): KoaBreakwater {
  const core = new BreakwaterCore(options as BreakwaterOptions);

  function middleware(): Middleware {
    if (!core.hasRouteTable) {
      return function breakwaterMiddleware(_ctx, next) {
        return next();
      };
    }
    return function breakwaterMiddleware(ctx, next) {
      const guard = core.entryGuard(ctx.method, ctx.path);
      if (guard === undefined) return next();
      return guardRequest(guard, ctx, next);
    };
  }

  function route(policy: KoaRoutePolicy = {}): Middleware {
    core.validateRoutePolicy(policy as RoutePolicy, 'route');
    const byPattern = new Map<string, Map<string, RouteGuard | null>>();

    function guardFor(ctx: Context): RouteGuard | null {
      const pattern = matchedPattern(ctx) ?? '*';
      let perMethod = byPattern.get(pattern);
      if (perMethod === undefined) byPattern.set(pattern, (perMethod = new Map()));
      let guard = perMethod.get(ctx.method);
      if (guard === undefined) {
        guard = core.routeGuard(policy as RoutePolicy, ctx.method, pattern) ?? null;
        perMethod.set(ctx.method, guard);
      }
      return guard;
    }

    return function breakwaterRoute(ctx, next) {
      if ((ctx.state as BreakwaterState).breakwater !== undefined) return next();
      const guard = guardFor(ctx);
      if (guard === null) return next();
      return guardRequest(guard, ctx, next);
    };
  }

  return { core, pools: core.pools, breakers: core.breakers, middleware, route, close: () => core.close() };
}
