/**
 * The same routes in Express 5, Express 4, Koa 3, Koa 2, Fastify 5 and Hono 4, so one
 * scenario table runs against every framework Breakwater supports. Handlers are written
 * once, framework-free: they get the request's BreakwaterContext and return a status and
 * body (or throw).
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BreakwaterContext, BreakwaterOptions, Refusal, RoutePolicy } from '@breakwater/core';
import type { RouteGuard } from '@breakwater/core/adapter';
import { breakwater as expressBreakwater } from '@breakwater/express';
import { breakwater as fastifyBreakwater } from '@breakwater/fastify';
import { breakwater as honoBreakwater } from '@breakwater/hono';
import { breakwater as koaBreakwater } from '@breakwater/koa';
import { createAdaptorServer } from '@hono/node-server';
import Router from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import { Hono, type MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode, StatusCode } from 'hono/utils/http-status';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { afterEach } from 'vitest';

export type Reply = { status: number; body?: unknown; headers?: Record<string, string> };
export type Handler = (ctx: BreakwaterContext | undefined) => Promise<Reply> | Reply;

export interface RouteDef {
  method?: 'get' | 'post';
  path: string;
  policy?: RoutePolicy | false;
  handler: Handler;
}

export interface TestApp {
  flavor: string;
  url: string;
  server: http.Server;
  bw: { core: import('@breakwater/core/adapter').BreakwaterCore; close(): Promise<void> };
  close(): Promise<void>;
}

/** An answer to a refusal, for {@link Flavor.onReject}. */
export type RejectAnswer = (refusal: Refusal) => { status: number; body: unknown };

export interface Flavor {
  name: string;
  kind: 'express' | 'koa' | 'fastify' | 'hono';
  make(routes: RouteDef[], options?: BreakwaterOptions): Promise<TestApp>;
  /** An `onReject` in the framework's terms answering JSON as `answer` says. */
  onReject(answer: RejectAnswer): (...args: any[]) => unknown;
}

async function listen(server: http.Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function finish(
  flavor: string,
  server: http.Server,
  url: string,
  bw: TestApp['bw'],
  closeApp?: () => Promise<unknown>,
): TestApp {
  return {
    flavor,
    url,
    server,
    bw,
    async close() {
      server.closeAllConnections();
      await (closeApp?.() ?? new Promise<void>((r) => server.close(() => r())));
      await bw.close();
    },
  };
}

function expressFlavor(name: string, express: typeof express5): Flavor {
  return {
    name,
    kind: 'express',
    onReject: (answer) => (refusal: Refusal, _req: express5.Request, res: express5.Response) => {
      const a = answer(refusal);
      res.status(a.status).json(a.body);
    },
    async make(routes, options) {
      const bw = expressBreakwater(options as never);
      const app = express();
      app.use(bw.middleware());
      for (const r of routes) {
        const h = async (req: express5.Request, res: express5.Response, next: express5.NextFunction) => {
          try {
            const reply = await r.handler(req.breakwater);
            for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
            if (reply.body === undefined) res.status(reply.status).end();
            else res.status(reply.status).json(reply.body);
          } catch (e) {
            next(e);
          }
        };
        const mws = r.policy === false ? [] : [bw.route(r.policy ?? {})];
        app[r.method ?? 'get'](r.path, ...mws, h);
      }
      // Quiet error handler: the default one logs stacks to stderr.
      app.use((err: Error, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
        if (res.headersSent) return;
        res.status(500).json({ error: err.message });
      });
      const server = http.createServer(app);
      return finish(name, server, await listen(server), bw);
    },
  };
}

function koaFlavor(name: string, Koa: typeof Koa3): Flavor {
  return {
    name,
    kind: 'koa',
    onReject: (answer) => (refusal: Refusal, ctx: Koa3.Context) => {
      const a = answer(refusal);
      ctx.status = a.status;
      ctx.body = a.body;
    },
    async make(routes, options) {
      const bw = koaBreakwater(options as never);
      const app = new Koa();
      app.silent = true;
      app.use(async (ctx, next) => {
        try {
          await next();
        } catch (e) {
          ctx.status = 500;
          ctx.body = { error: (e as Error).message };
        }
      });
      app.use(bw.middleware());
      const router = new Router();
      for (const r of routes) {
        const h = async (ctx: Koa3.Context) => {
          const reply = await r.handler(ctx.state.breakwater);
          for (const [k, v] of Object.entries(reply.headers ?? {})) ctx.set(k, v);
          ctx.status = reply.status;
          // Koa turns a null body into a 204: leave it unset to keep the status.
          if (reply.body !== undefined) ctx.body = reply.body;
        };
        const mws = r.policy === false ? [] : [bw.route(r.policy ?? {})];
        router[r.method ?? 'get'](r.path, ...(mws as never[]), h);
      }
      app.use(router.routes());
      const server = http.createServer(app.callback());
      return finish(name, server, await listen(server), bw);
    },
  };
}

const fastifyFlavor: Flavor = {
  name: 'fastify 5',
  kind: 'fastify',
  onReject: (answer) => (refusal: Refusal, _request: unknown, reply: import('fastify').FastifyReply) => {
    const a = answer(refusal);
    reply.code(a.status).send(a.body);
  },
  async make(routes, options) {
    const bw = fastifyBreakwater(options as never);
    const app = Fastify();
    await app.register(bw.plugin);
    // Quiet error handler, as in the other flavors.
    app.setErrorHandler((err: Error, _request, reply) => {
      reply.code(500).send({ error: err.message });
    });
    for (const r of routes) {
      app.route({
        method: (r.method ?? 'get').toUpperCase() as 'GET' | 'POST',
        url: r.path,
        onRequest: r.policy === false ? [] : [bw.route((r.policy ?? {}) as never)],
        handler: async (request, reply) => {
          const a = await r.handler(request.breakwater);
          reply.code(a.status).headers(a.headers ?? {});
          return a.body === undefined ? reply.send() : a.body;
        },
      });
    }
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    return finish('fastify 5', app.server, url, bw, () => app.close());
  },
};

const honoFlavor: Flavor = {
  name: 'hono 4',
  kind: 'hono',
  onReject: (answer) => (refusal: Refusal, c: import('hono').Context) => {
    const a = answer(refusal);
    return c.json(a.body, a.status as ContentfulStatusCode);
  },
  async make(routes, options) {
    const bw = honoBreakwater(options as never);
    const app = new Hono();
    app.onError((err, c) => c.json({ error: err.message }, 500));
    app.use(bw.middleware());
    for (const r of routes) {
      const mws = r.policy === false ? [] : [bw.route((r.policy ?? {}) as never)];
      const on = app.on.bind(app) as (method: string, path: string, ...h: MiddlewareHandler[]) => unknown;
      on(r.method === 'post' ? 'POST' : 'GET', r.path, ...mws, async (c) => {
        const a = await r.handler(c.get('breakwater'));
        for (const [k, v] of Object.entries(a.headers ?? {})) c.header(k, v);
        return a.body === undefined
          ? c.body(null, a.status as StatusCode)
          : c.json(a.body, a.status as ContentfulStatusCode);
      });
    }
    const server = createAdaptorServer({ fetch: app.fetch }) as http.Server;
    return finish('hono 4', server, await listen(server), bw);
  },
};

export const flavors: Flavor[] = [
  expressFlavor('express 5', express5),
  expressFlavor('express 4', express4 as unknown as typeof express5),
  koaFlavor('koa 3', Koa3),
  koaFlavor('koa 2', Koa2 as unknown as typeof Koa3),
  fastifyFlavor,
  honoFlavor,
];

/**
 * One app at a time in a `describe.each(flavors)` block: `start` makes it with `flavor`,
 * `guard` finds one of its route guards by name, and it is closed after each test.
 */
export function appPerTest(flavor: Flavor): {
  start(routes: RouteDef[], options?: BreakwaterOptions): Promise<TestApp>;
  guard(name: string): RouteGuard;
} {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  return {
    async start(routes, options) {
      app = await flavor.make(routes, options);
      return app;
    },
    guard(name) {
      if (!app) throw new Error('no app started');
      const guards = app.bw.core.guards;
      const g = guards.find((x) => x.name === name);
      if (!g) throw new Error(`no guard ${name}: ${guards.map((x) => x.name).join(', ')}`);
      return g;
    },
  };
}

/**
 * A request header from what key, cost and `when` functions receive: Express's and
 * Fastify's request, Koa's context (`ctx.headers`), Hono's context (`c.req.header()`).
 */
export function requestHeader(native: unknown, name: string): string | undefined {
  const n = native as {
    headers?: Record<string, string>;
    req?: { header?(name: string): string | undefined };
  };
  return n.headers !== undefined ? n.headers[name] : n.req?.header?.(name);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves when `fn` returns true, polling every 5ms; rejects after `ms`, naming `what`. */
export async function until(fn: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  const check = () => {
    try {
      return fn();
    } catch {
      return false;
    }
  };
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms}ms`);
    await sleep(5);
  }
}

/** A promise with its resolve, for holding handlers open. */
export function gate<T = void>() {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    open = r;
  });
  return { promise, open };
}
