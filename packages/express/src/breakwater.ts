/// <reference path="./global.d.ts" />
import type { BreakwaterAdapter, BreakwaterOptions, HealthEndpoints, RoutePolicy } from '@breakwater/core';
import {
  type AdapterIO,
  CLOSE_WATCHED,
  createBreakwater,
  type RouteGuard,
  recordResponse,
  writeAnswer,
} from '@breakwater/core/adapter';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ExpressCall, type ExpressOnReject } from './ExpressCall.js';
import { routePattern } from './route-pattern.js';

/** A route policy for Express: `onReject(refusal, req, res, next)`. */
export type ExpressRoutePolicy = RoutePolicy<Request, ExpressOnReject>;

/** Options of the Express `breakwater()`. */
export type ExpressBreakwaterOptions = BreakwaterOptions<ExpressRoutePolicy>;

/** What `breakwater()` returns for Express. */
export type ExpressBreakwater = BreakwaterAdapter<RequestHandler, ExpressRoutePolicy>;

/** `bw.health` for Express. */
export type ExpressHealth = HealthEndpoints<RequestHandler>;

/** A route's pattern for its guard's name; mounted with app.use() there is none: name the policy with `name`. */
function patternOf(req: Request): string {
  return routePattern(req) ?? '*';
}

/** Starts guarding `req` with `guard`. */
function guardRequest(guard: RouteGuard, req: Request, res: Response, next: NextFunction): void {
  guard.start((req.breakwater = new ExpressCall(guard, req, res, next)));
}

const io: AdapterIO<RequestHandler> = {
  middleware(host) {
    const m = host.metrics;
    return function breakwaterMiddleware(req, res, next) {
      if (m !== undefined) {
        const start = m.now();
        // A closure per request holds the start: storing it on `res` costs more, as Express
        // gives each response a hidden class of its own (a property added builds a new one).
        res.on('close', function breakwaterRequestDone(this: Response): void {
          const call = req.breakwater;
          if (call instanceof ExpressCall) call.responseClosed();
          // Express's matched route with its mount path, read at response end.
          recordResponse(m, this, req.method, start, routePattern(req));
        });
        // The listener above tells the request's guard, if any, that its response closed.
        (req as { [CLOSE_WATCHED]?: true })[CLOSE_WATCHED] = true;
      }
      // `req.path` parses the URL: read only with a `routes` table.
      const guard = host.hasRouteTable ? host.entryGuard(req.method, req.path) : undefined;
      if (guard === undefined) return next();
      guardRequest(guard, req, res, next);
    };
  },

  route(guards) {
    return function breakwaterRoute(req, res, next) {
      // Resolving the guard claims this route's `routes` entry. A request the app middleware
      // already guarded (only before that claim) is not guarded twice.
      const guard = guards.get(req.route, req.method, patternOf, req);
      if (req.breakwater !== undefined || guard === null) return next();
      guardRequest(guard, req, res, next);
    };
  },

  endpoint(serve) {
    return function breakwaterEndpoint(req, res, next) {
      serve({
        method: req.method,
        accept: req.headers.accept,
        query: req.query as Record<string, unknown>,
        body: req.body,
        stream: req,
      }).then((a) => writeAnswer(res, a.status, a.headers, a.body), next);
    };
  },
};

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
  return createBreakwater(options, io);
}
