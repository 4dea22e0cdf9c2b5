/// <reference path="./global.d.ts" />
import type { BreakwaterAdapter, BreakwaterOptions, HealthEndpoints, RoutePolicy } from '@breakwater/core';
import type { MiddlewareHost, RouteGuard, RouteGuardCache } from '@breakwater/core/adapter';
import {
  createBreakwater,
  guardByPattern,
  guardsByPolicy,
  measureResponse,
  recordPayload,
  recordsAnswer,
} from '@breakwater/core/adapter';
import type {
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  onRequestHookHandler,
  RouteHandlerMethod,
} from 'fastify';
import { FastifyCall, type FastifyOnReject } from './FastifyCall.js';

/** A route policy for Fastify: `onReject(refusal, request, reply)`. */
export type FastifyRoutePolicy = RoutePolicy<FastifyRequest, FastifyOnReject>;

/** Options of the Fastify `breakwater()`. */
export type FastifyBreakwaterOptions = BreakwaterOptions<FastifyRoutePolicy>;

/** What `breakwater()` returns for Fastify. */
export interface FastifyBreakwater
  extends Omit<BreakwaterAdapter<RouteHandlerMethod, FastifyRoutePolicy>, 'middleware' | 'route'> {
  /**
   * The plugin: request metrics for every request, `routes` entries, and each route's
   * `config.breakwater`. It applies app-wide (it skips Fastify's encapsulation). Await its
   * registration before declaring routes, so a route's policy is checked as it is declared.
   */
  readonly plugin: FastifyPluginCallback;
  /** The same plugin as `plugin`. */
  middleware(): FastifyPluginCallback;
  /** An `onRequest` hook applying `policy` (merged over `defaults` and any `routes` entry). */
  route(policy?: FastifyRoutePolicy): onRequestHookHandler;
}

/** `bw.health` for Fastify. */
export type FastifyHealth = HealthEndpoints<RouteHandlerMethod>;

/** Whatever the framework takes: a plugin, a hook, a handler. */
type AnyHandler = (...args: any[]) => any;

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

/** The guard `guards` holds for the request's route. */
function patternGuard(guards: RouteGuardCache, request: FastifyRequest): RouteGuard | null {
  return guardByPattern(guards, request.routeOptions.url ?? '*', request.method);
}

/** Guards the request with `guard`, unless there is none or a guard has the request already. */
function guardWith(
  guard: RouteGuard | null | undefined,
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  if (guard == null || request.breakwater !== undefined) return done();
  guard.start((request.breakwater = new FastifyCall(guard, request, reply, done)));
}

function plugin(
  host: MiddlewareHost,
  guardsFor: (policy: RoutePolicy) => RouteGuardCache,
): FastifyPluginCallback {
  const m = host.metrics;
  const onRequest: Hook = function breakwaterOnRequest(request, reply, done) {
    // A getter that builds an object each time: read once.
    const route = request.routeOptions;
    if (m !== undefined) measureResponse(m, reply.raw, request.method, route.url);
    const policy = route.config?.breakwater;
    const guard =
      policy !== undefined
        ? guardByPattern(guardsFor(policy as RoutePolicy), route.url ?? '*', request.method)
        : host.hasRouteTable
          ? host.entryGuard(request.method, request.url.split('?', 1)[0]!)
          : undefined;
    guardWith(guard, request, reply, done);
  };
  const register: FastifyPluginCallback = function breakwaterPlugin(app, _options, next) {
    if (!app.hasRequestDecorator('breakwater')) app.decorateRequest('breakwater', undefined);
    app.addHook('onRoute', (route) => {
      const policy = route.config?.breakwater;
      // Checked as the route is declared (a bad option fails start-up); the route's guard
      // is resolved now, so its policy applies from the first request on.
      if (policy !== undefined)
        for (const method of [route.method].flat())
          guardByPattern(guardsFor(policy as RoutePolicy), route.url, method);
    });
    app.addHook('onRequest', onRequest);
    // A handler's failure, for a fallback on 'error': what it threw, then its answer.
    app.addHook('onError', (request, _reply, error, done) => {
      if (request.breakwater instanceof FastifyCall) request.breakwater.error = error;
      done();
    });
    app.addHook('onSend', (request, reply, payload, done) => {
      const call = request.breakwater;
      if (!(call instanceof FastifyCall)) return done(null, payload);
      if (call.failed(payload, done)) return;
      // Only a route that remembers answers pays for reading the reply's headers.
      if (recordsAnswer(call)) recordPayload(call, reply.statusCode, reply.getHeaders(), payload);
      done(null, payload);
    });
    next();
  };
  // What fastify-plugin sets: the hooks apply to the whole app, not to a child context.
  return Object.assign(register, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: '@breakwater/fastify',
    [Symbol.for('plugin-meta')]: { name: '@breakwater/fastify', fastify: '5.x' },
  });
}

/**
 * Creates a Breakwater instance for Fastify 5.
 *
 * ```ts
 * const bw = breakwater();
 * await app.register(bw.plugin);
 * app.get('/api/x', { config: { breakwater: { timeout: '2s' } } }, handler);
 * app.get('/api/y', { onRequest: bw.route({ bulkhead: { maxConcurrent: 10 } }) }, handler);
 * ```
 */
export function breakwater(options: FastifyBreakwaterOptions = {}): FastifyBreakwater {
  const bw: BreakwaterAdapter<AnyHandler, FastifyRoutePolicy> = createBreakwater(options, {
    // A GET route and the HEAD route Fastify adds for it share their config, and so their guards.
    middleware: (host): AnyHandler => plugin(host, guardsByPolicy(bw.core)),
    route: (guards): AnyHandler =>
      function breakwaterRoute(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
        guardWith(patternGuard(guards, request), request, reply, done);
      },
    endpoint: (serve): AnyHandler =>
      async function breakwaterEndpoint(request: FastifyRequest, reply: FastifyReply) {
        const { method, headers, query, body } = request;
        const a = await serve({
          method,
          accept: headers.accept,
          query: query as Record<string, unknown>,
          body,
        });
        reply.code(a.status);
        for (const [name, value] of a.headers) reply.header(name, value);
        return reply.send(a.body);
      },
  });
  const p = bw.middleware() as FastifyPluginCallback;
  return Object.assign(bw, { plugin: p, middleware: () => p }) as unknown as FastifyBreakwater;
}
