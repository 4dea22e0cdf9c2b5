/// <reference path="./global.d.ts" />
import type { ServerResponse } from 'node:http';
import type { BreakwaterAdapter, BreakwaterOptions, HealthEndpoints, RoutePolicy } from '@breakwater/core';
import {
  type AdapterIO,
  createBreakwater,
  guardByPattern,
  type RouteGuard,
  recordResponse,
  toResponse,
} from '@breakwater/core/adapter';
import type { Context, MiddlewareHandler, Next } from 'hono';
import { matchedRoutes, routePath } from 'hono/route';
import { HonoCall, type HonoOnReject } from './HonoCall.js';

/** A route policy for Hono: `onReject(refusal, c)` returns the `Response`. */
export type HonoRoutePolicy = RoutePolicy<Context, HonoOnReject>;

/** Options of the Hono `breakwater()`. */
export type HonoBreakwaterOptions = BreakwaterOptions<HonoRoutePolicy>;

/** What `breakwater()` returns for Hono. */
export type HonoBreakwater = BreakwaterAdapter<MiddlewareHandler, HonoRoutePolicy>;

/** `bw.health` for Hono. */
export type HonoHealth = HealthEndpoints<MiddlewareHandler>;

function guardRequest(guard: RouteGuard, c: Context, next: Next): Promise<Response | undefined> {
  const call = new HonoCall(guard, c, next);
  c.set('breakwater', call);
  guard.start(call);
  return call.done;
}

/**
 * The pattern of the route that answered, read when the response is out; undefined when
 * only middleware matched and Hono answered 404 (no route).
 */
function answeredPattern(c: Context, status: number): string | undefined {
  const route = matchedRoutes(c)[c.req.routeIndex];
  if (route === undefined || (status === 404 && route.method === 'ALL')) return undefined;
  return route.path;
}

const io: AdapterIO<MiddlewareHandler> = {
  middleware(host) {
    const m = host.metrics;
    return async function breakwaterMiddleware(c, next) {
      const res = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
      if (m !== undefined && res !== undefined) {
        const start = m.now();
        const method = c.req.method;
        res.on('close', () => recordResponse(m, res, method, start, answeredPattern(c, res.statusCode)));
      }
      if (host.hasRouteTable) {
        const guard = host.entryGuard(c.req.method, c.req.path);
        if (guard !== undefined) return guardRequest(guard, c, next);
      }
      await next();
    };
  },

  route(guards) {
    return function breakwaterRoute(c, next) {
      // Resolving the guard claims this route's `routes` entry. A request the app middleware
      // already guarded (only before that claim) is not guarded twice.
      const guard = guardByPattern(guards, routePath(c), c.req.method);
      if (c.get('breakwater') !== undefined || guard === null) return next();
      return guardRequest(guard, c, next);
    };
  },

  endpoint(serve) {
    return async function breakwaterEndpoint(c) {
      const a = await serve({
        method: c.req.method,
        accept: c.req.header('accept'),
        query: c.req.query(),
        stream: c.req.raw.body ?? undefined,
      });
      return toResponse(a.status, a.headers, a.body);
    };
  },
};

/**
 * Creates a Breakwater instance for Hono 4 on @hono/node-server.
 *
 * ```ts
 * const bw = breakwater();
 * app.use(bw.middleware());
 * app.get('/api/x', bw.route({ timeout: '2s', bulkhead: { maxConcurrent: 10 } }), handler);
 * ```
 */
export function breakwater(options: HonoBreakwaterOptions = {}): HonoBreakwater {
  return createBreakwater(options, io);
}
