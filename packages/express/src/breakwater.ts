import {
  type BreakwaterContext,
  BreakwaterCore,
  type BreakwaterOptions,
  type RouteGuard,
  type RoutePolicy,
} from '@breakwater/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { attach, ExpressCall, type ExpressOnReject } from './ExpressCall.js';

/** A route policy for Express: `onReject(refusal, req, res, next)`. */
export type ExpressRoutePolicy = RoutePolicy<Request, ExpressOnReject>;

/** Options of the Express `breakwater()`. */
export type ExpressBreakwaterOptions = BreakwaterOptions<ExpressRoutePolicy>;

declare global {
  namespace Express {
    interface Request {
      /** The request's guard: `signal` and `deadline`, on routes with policies. */
      breakwater?: BreakwaterContext;
    }
  }
}

/** What `breakwater()` returns for Express. */
export interface ExpressBreakwater {
  /** The framework-neutral instance underneath: breakers, guards, pools. */
  readonly core: BreakwaterCore;
  /** Shared pools, reachable inside handlers. */
  readonly pools: BreakwaterCore['pools'];
  /** Shared circuit breakers by name. */
  readonly breakers: BreakwaterCore['breakers'];
  /** App-level middleware: applies `routes` entries. Mount it first. */
  middleware(): RequestHandler;
  /** Route-level middleware applying `policy` (merged over `defaults` and any `routes` entry). */
  route(policy?: ExpressRoutePolicy): RequestHandler;
  /** Closes pools and stops background work. Safe to call twice. */
  close(): Promise<void>;
}

/** Starts guarding `req` with `guard`. */
function guardRequest(guard: RouteGuard, req: Request, res: Response, next: NextFunction): void {
  const call = new ExpressCall(guard, req, res, next);
  req.breakwater = call;
  attach(res, call);
  guard.start(call);
}

/**
 * Creates a Breakwater instance for Express 4 or 5.
 *
 * ```ts
 * const bw = breakwater();
 * app.use(bw.middleware());
 * app.get('/api/x', bw.route({ timeout: '2s', bulkhead: { maxConcurrent: 10 } }), handler);
 * ```
 */
export function breakwater(options: ExpressBreakwaterOptions = {}): ExpressBreakwater {
  const core = new BreakwaterCore(options as BreakwaterOptions);

  function middleware(): RequestHandler {
    if (!core.hasRouteTable) {
      return function breakwaterMiddleware(_req, _res, next) {
        next();
      };
    }
    return function breakwaterMiddleware(req, res, next) {
      const guard = core.entryGuard(req.method, req.path);
      if (guard === undefined) return next();
      guardRequest(guard, req, res, next);
    };
  }

  function route(policy: ExpressRoutePolicy = {}): RequestHandler {
    core.validateRoutePolicy(policy as RoutePolicy, 'route');
    // One guard per matched route and method, so one middleware mounted on several
    // routes keeps them isolated. Keyed by Express's Route object: no string building.
    const byRoute = new WeakMap<object, Map<string, RouteGuard | null>>();
    let unrouted: Map<string, RouteGuard | null> | undefined;

    function guardFor(req: Request): RouteGuard | null {
      const r = req.route as { path?: unknown } | undefined;
      let perMethod = r ? byRoute.get(r) : unrouted;
      if (perMethod === undefined) {
        perMethod = new Map();
        if (r) byRoute.set(r, perMethod);
        else unrouted = perMethod;
      }
      let guard = perMethod.get(req.method);
      if (guard === undefined) {
        const pattern = r
          ? req.baseUrl + (typeof r.path === 'string' ? r.path : String(r.path))
          : req.baseUrl || '*';
        guard = core.routeGuard(policy as RoutePolicy, req.method, pattern) ?? null;
        perMethod.set(req.method, guard);
      }
      return guard;
    }

    return function breakwaterRoute(req, res, next) {
      // Already guarded by a `routes` entry in the app middleware (the first request
      // before this route claimed its entry): guarding twice would count twice.
      if (req.breakwater !== undefined) return next();
      const guard = guardFor(req);
      if (guard === null) return next();
      guardRequest(guard, req, res, next);
    };
  }

  return {
    core,
    pools: core.pools,
    breakers: core.breakers,
    middleware,
    route,
    close: () => core.close(),
  };
}
