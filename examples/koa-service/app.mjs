/**
 * The demo service on Koa: the same routes, policies and pools as the Express service,
 * with the handlers, pools and configuration shared (../shared/service.mjs).
 */
import { readBody } from '@breakwater/core/adapter';
import { breakwater } from '@breakwater/koa';
import Router from '@koa/router';
import Koa from 'koa';
import { createDemoWith, problem, serve } from '../shared/service.mjs';

function reply(ctx, r) {
  ctx.status = r.status;
  if (r.headers) ctx.set(r.headers);
  if (r.headers?.['content-type']) ctx.body = JSON.stringify(r.body);
  else ctx.body = r.body;
}

/** A JSON body (64 KiB at most) into `ctx.request.body`; a bad one is a 400. */
async function jsonBody(ctx, next) {
  if (ctx.request.body === undefined && ctx.method !== 'GET' && ctx.method !== 'HEAD') {
    let text;
    try {
      text = await readBody(ctx.req, 64 * 1024);
    } catch (e) {
      return reply(ctx, problem(e.status === 413 ? 413 : 400, 'Bad Request', e.message, 'BAD_BODY'));
    }
    try {
      ctx.request.body = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      return reply(ctx, problem(400, 'Bad Request', 'the body is not JSON', 'BAD_BODY'));
    }
  }
  await next();
}

/** Adapts a shared handler to Koa; the request's BreakwaterContext goes along. */
function handle(fn) {
  return async function demoHandler(ctx) {
    reply(
      ctx,
      await fn({
        method: ctx.method,
        params: ctx.params,
        query: ctx.query,
        body: ctx.request.body,
        context: ctx.state.breakwater,
      }),
    );
  };
}

/**
 * Starts the service. `config`: from `loadConfig()`. Resolves with
 * `{ url, server, bw, demo, close() }` once it listens.
 */
export async function startKoaService(config, { log = () => {} } = {}) {
  const { demo, bw } = await createDemoWith(config, breakwater, { log });
  const h = demo.handlers;
  const p = demo.policy; // the configured policy of a route

  const app = new Koa();
  app.silent = true; // errors become 500 answers; the breaker counts them
  const router = new Router();
  app.use(bw.middleware());

  router.get('/health', bw.health());
  router.get('/health/live', bw.health('live'));
  router.get('/health/ready', bw.health('ready'));
  router.get('/metrics', bw.metrics());

  router.get('/api/external-data', bw.route(p('GET /api/external-data')), handle(h.externalData));
  router.get('/api/cache/:key', bw.route(p('GET /api/cache/:key')), handle(h.cacheGet));
  router.post('/api/cache/:key', bw.route(p('POST /api/cache/:key')), jsonBody, handle(h.cacheSet));
  router.get('/api/heavy-computation', bw.route(p('GET /api/heavy-computation')), handle(h.heavy));
  router.get('/api/error-prone', bw.route(p('GET /api/error-prone')), handle(h.errorProne));

  async function requireAdminToken(ctx, next) {
    if (demo.isAdmin(ctx.get('authorization') || undefined, ctx.get('x-admin-token') || undefined))
      return next();
    ctx.set('WWW-Authenticate', 'Bearer realm="breakwater-admin"');
    reply(ctx, problem(401, 'Unauthorized', 'the admin endpoints need the admin token', 'UNAUTHORIZED'));
  }
  router.get('/admin/events', requireAdminToken, handle(h.events));
  router.get('/admin/runtime', requireAdminToken, handle(h.runtime));
  router.all('/admin/error-prone', requireAdminToken, jsonBody, handle(h.errorProneSettings));
  router.all('/admin/chaos', requireAdminToken, jsonBody, handle(h.chaos));
  router.all('/admin', requireAdminToken, bw.admin());

  app.use(router.routes());
  app.use(async function notFound(ctx) {
    reply(ctx, problem(404, 'Not Found', 'no such route', 'NOT_FOUND'));
  });

  return serve((port, host) => app.listen(port, host), config, bw, demo);
}
