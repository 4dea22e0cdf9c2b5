import {
  AdminApi,
  type BreakwaterAdapter,
  type BreakwaterContext,
  BreakwaterCore,
  type BreakwaterMetrics,
  type BreakwaterOptions,
  ConfigError,
  type EndpointAnswer,
  type HealthCheck,
  type HealthCheckOptions,
  type HealthEndpoints,
  type HealthKind,
  HealthRegistry,
  type ReconfigureOptions,
  type RouteGuard,
  type RoutePolicy,
} from '@breakwater/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { attach, ExpressCall, type ExpressOnReject } from './ExpressCall.js';
import { routePattern } from './route-pattern.js';

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
export type ExpressBreakwater = BreakwaterAdapter<RequestHandler, ExpressRoutePolicy>;

/** `bw.health` for Express. */
export type ExpressHealth = HealthEndpoints<RequestHandler>;

/** Copies a core answer onto the response. */
function send(res: Response, a: EndpointAnswer): void {
  res.statusCode = a.status;
  for (const [name, value] of a.headers) res.setHeader(name, value);
  res.end(a.body);
}

/**
 * The route label of a finished request: Express's matched route with its mount path,
 * read at response end; one shared label when no route matched.
 */
function requestSeries(m: BreakwaterMetrics, req: Request) {
  const pattern = routePattern(req);
  return pattern === undefined ? m.unmatched : m.route(pattern);
}

/** A route's pattern for its guard's name; mounted with app.use() there is none: name the policy with `name`. */
function patternOf(req: Request): string {
  return routePattern(req) ?? '*';
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
    const m = core.metrics;
    if (m !== undefined) {
      return function breakwaterMiddleware(req, res, next) {
        const start = m.now();
        // A closure per request holds the start: storing it on `res` costs more, as Express
        // gives each response a hidden class of its own (a property added builds a new one).
        res.on('close', function breakwaterRequestDone(this: Response): void {
          // 'close' without 'finish': the client left before the answer was out (nginx's 499).
          const status = this.writableFinished ? this.statusCode : 499;
          requestSeries(m, req).observe(req.method, status, m.now() - start);
        });
        // Read per request: reconfigure() may add or drop the `routes` table.
        if (core.hasRouteTable) {
          const guard = core.entryGuard(req.method, req.path);
          if (guard !== undefined) return guardRequest(guard, req, res, next);
        }
        next();
      };
    }
    return function breakwaterMiddleware(req, res, next) {
      if (!core.hasRouteTable) return next();
      const guard = core.entryGuard(req.method, req.path);
      if (guard === undefined) return next();
      guardRequest(guard, req, res, next);
    };
  }

  function route(policy: ExpressRoutePolicy = {}): RequestHandler {
    const guards = core.routeGuards(policy as RoutePolicy);
    return function breakwaterRoute(req, res, next) {
      // Resolving the guard claims this route's `routes` entry. A request the app middleware
      // already guarded (only before that claim) is not guarded twice.
      const guard = guards.get(req.route, req.method, patternOf, req);
      if (req.breakwater !== undefined || guard === null) return next();
      guardRequest(guard, req, res, next);
    };
  }

  function metrics(): RequestHandler {
    const m = core.metrics;
    if (m === undefined) throw new ConfigError('breakwater.metrics', false, 'metrics on to mount metrics()');
    return function breakwaterMetrics(req, res, next) {
      m.render(req.headers.accept).then((a) => {
        res.statusCode = 200;
        res.setHeader('Content-Type', a.contentType);
        res.end(a.body);
      }, next);
    };
  }

  const health = Object.assign(
    function health(kind?: HealthKind): RequestHandler {
      const k = HealthRegistry.checkKind(kind);
      return function breakwaterHealth(_req, res, next) {
        core.health.answer(k).then((a) => send(res, a), next);
      };
    },
    {
      register: (name: string, check: HealthCheck, opts?: HealthCheckOptions) =>
        core.health.register(name, check, opts),
    },
  );

  let adminApi: AdminApi | undefined;
  function admin(): RequestHandler {
    const api = (adminApi ??= new AdminApi(core));
    return function breakwaterAdmin(req, res, next) {
      api
        .handle({
          method: req.method,
          query: req.query as Record<string, unknown>,
          body: req.body,
          stream: req,
        })
        .then((a) => send(res, a), next);
    };
  }

  return {
    core,
    pools: core.pools,
    breakers: core.breakers,
    chaos: core.chaos,
    middleware,
    route,
    metrics,
    health,
    admin,
    reconfigure: (o) => core.reconfigure(o as ReconfigureOptions),
    close: () => core.close(),
  };
}
