/// <reference path="./global.d.ts" />
import type { ServerResponse } from 'node:http';
import type { BreakwaterAdapter, BreakwaterOptions, HealthEndpoints, RoutePolicy } from '@breakwater/core';
import {
  type AdapterIO,
  type BreakwaterCore,
  createBreakwater,
  type MiddlewareHost,
  type RouteGuard,
  type RouteGuardCache,
  recordResponse,
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

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

function identity(s: string): string {
  return s;
}

/** The guard `guards` resolves for the request's route; resolving it claims the route's `routes` entry. */
function routeGuard(guards: RouteGuardCache, url: string | undefined, method: string): RouteGuard | null {
  const pattern = url ?? '*';
  return guards.get(pattern, method, identity, pattern);
}

/** Guards the request with `guard`, unless there is none or a guard has the request already. */
function guardWith(
  guard: RouteGuard | null | undefined,
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  if (guard == null || request.breakwater !== undefined) return done();
  const call = new FastifyCall(guard, request, reply, done);
  request.breakwater = call;
  guard.start(call);
}

function plugin(
  host: MiddlewareHost,
  guardsFor: (policy: FastifyRoutePolicy) => RouteGuardCache,
): FastifyPluginCallback {
  const m = host.metrics;
  const onRequest: Hook = function breakwaterOnRequest(request, reply, done) {
    const route = request.routeOptions;
    const url = route.url;
    if (m !== undefined) {
      const start = m.now();
      const method = request.method;
      reply.raw.on('close', function breakwaterRequestDone(this: ServerResponse): void {
        recordResponse(m, this, method, start, url);
      });
    }
    const policy = route.config?.breakwater;
    const guard =
      policy !== undefined
        ? routeGuard(guardsFor(policy), url, request.method)
        : host.hasRouteTable
          ? host.entryGuard(request.method, request.url.split('?', 1)[0]!)
          : undefined;
    guardWith(guard, request, reply, done);
  };
  const register: FastifyPluginCallback = function breakwaterPlugin(app, _options, next) {
    if (!app.hasRequestDecorator('breakwater')) app.decorateRequest('breakwater', undefined);
    app.addHook('onRoute', (route) => {
      const policy = route.config?.breakwater;
      if (policy === undefined) return;
      // Checked as the route is declared (a bad option fails start-up); the route's guard
      // is resolved now, so its policy applies from the first request on.
      for (const method of [route.method].flat()) routeGuard(guardsFor(policy), route.url, method);
    });
    app.addHook('onRequest', onRequest);
    // A handler's failure, for a fallback on 'error': what it threw, then its answer.
    app.addHook('onError', (request, _reply, error, done) => {
      if (request.breakwater instanceof FastifyCall) request.breakwater.error = error;
      done();
    });
    app.addHook('onSend', (request, _reply, payload, done) => {
      const call = request.breakwater;
      if (!(call instanceof FastifyCall) || !call.failed(payload, done)) done(null, payload);
    });
    next();
  };
  // What fastify-plugin sets: the hooks apply to the whole app, not to a child context.
  Object.assign(register, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: '@breakwater/fastify',
    [Symbol.for('plugin-meta')]: { name: '@breakwater/fastify', fastify: '5.x' },
  });
  return register;
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
  let core: BreakwaterCore | undefined;
  // One guard cache per policy object: a GET route and the HEAD route Fastify adds for it
  // share their config, and so their guard.
  const caches = new WeakMap<object, RouteGuardCache>();
  const guardsFor = (policy: FastifyRoutePolicy): RouteGuardCache => {
    let c = caches.get(policy);
    if (c === undefined) caches.set(policy, (c = core!.routeGuards(policy as RoutePolicy)));
    return c;
  };
  const io: AdapterIO<(...args: any[]) => any> = {
    middleware: (host) => plugin(host, guardsFor),
    route(guards): Hook {
      return function breakwaterRoute(request, reply, done) {
        guardWith(routeGuard(guards, request.routeOptions.url, request.method), request, reply, done);
      };
    },
    endpoint(serve): RouteHandlerMethod {
      return async function breakwaterEndpoint(request, reply) {
        const a = await serve({
          method: request.method,
          accept: request.headers.accept,
          query: request.query as Record<string, unknown>,
          body: request.body,
        });
        reply.code(a.status);
        for (const [name, value] of a.headers) reply.header(name, value);
        return reply.send(a.body);
      };
    },
  };
  const bw = createBreakwater(options, io);
  core = bw.core;
  const p = bw.middleware() as FastifyPluginCallback;
  return Object.assign(bw, { plugin: p, middleware: () => p }) as unknown as FastifyBreakwater;
}
