import type { ServerResponse } from 'node:http';
import type {
  BreakwaterAdapter,
  BreakwaterContext,
  BreakwaterOptions,
  HealthEndpoints,
  RoutePolicy,
} from '@breakwater/core';
import {
  type AdapterIO,
  CLOSE_WATCHED,
  createBreakwater,
  guardByPattern,
  type RouteGuard,
  recordResponse,
} from '@breakwater/core/adapter';
import type { Context, Middleware, Next } from 'koa';
import { KoaCall, type KoaOnReject, type WatchedContext } from './KoaCall.js';

/** A route policy for Koa: `onReject(refusal, ctx)`. */
export type KoaRoutePolicy = RoutePolicy<Context, KoaOnReject>;

/** Options of the Koa `breakwater()`. */
export type KoaBreakwaterOptions = BreakwaterOptions<KoaRoutePolicy>;

/** What handlers find in `ctx.state.breakwater`. */
export interface BreakwaterState {
  breakwater?: BreakwaterContext;
}

/** What `breakwater()` returns for Koa. */
export type KoaBreakwater = BreakwaterAdapter<Middleware, KoaRoutePolicy>;

/** `bw.health` for Koa. */
export type KoaHealth = HealthEndpoints<Middleware>;

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

const io: AdapterIO<Middleware> = {
  middleware(host) {
    const m = host.metrics;
    if (m !== undefined) {
      return function breakwaterMiddleware(ctx, next) {
        const start = m.now();
        // A closure per request holds the start: storing it on `res` costs more, as each
        // response has a hidden class of its own (a property added builds a new one).
        ctx.res.on('close', function breakwaterRequestDone(this: ServerResponse): void {
          if (!this.writableFinished) {
            const call = (ctx.state as BreakwaterState).breakwater;
            if (call instanceof KoaCall) call.clientClosed();
          }
          recordResponse(m, this, ctx.method, start, matchedPattern(ctx));
        });
        // The listener above tells the request's guard, if any, that the client left.
        (ctx as WatchedContext)[CLOSE_WATCHED] = true;
        if (host.hasRouteTable) {
          const guard = host.entryGuard(ctx.method, ctx.path);
          if (guard !== undefined) return guardRequest(guard, ctx, next);
        }
        return next();
      };
    }
    return function breakwaterMiddleware(ctx, next) {
      if (!host.hasRouteTable) return next();
      const guard = host.entryGuard(ctx.method, ctx.path);
      if (guard === undefined) return next();
      return guardRequest(guard, ctx, next);
    };
  },

  route(guards) {
    return function breakwaterRoute(ctx, next) {
      // Resolving the guard claims this route's `routes` entry. A request the app middleware
      // already guarded (only before that claim) is not guarded twice.
      const guard = guardByPattern(guards, matchedPattern(ctx) ?? '*', ctx.method);
      if ((ctx.state as BreakwaterState).breakwater !== undefined || guard === null) return next();
      return guardRequest(guard, ctx, next);
    };
  },

  endpoint(serve) {
    return async function breakwaterEndpoint(ctx) {
      const { method, query, req } = ctx;
      const body = (ctx.request as { body?: unknown }).body;
      const a = await serve({ method, accept: ctx.get('Accept') || undefined, query, body, stream: req });
      ctx.status = a.status;
      for (const [name, value] of a.headers) ctx.set(name, value);
      ctx.body = a.body;
    };
  },
};

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
  return createBreakwater(options, io);
}
