/**
 * The demo service on Fastify: the same routes, policies and pools as the Express service,
 * with the handlers, pools and configuration shared (../shared/service.mjs). Each API
 * route's policy sits in its `config.breakwater`.
 */
import { breakwater } from '@breakwater/fastify';
import Fastify from 'fastify';
import { createDemoWith, problem, serve } from '../shared/service.mjs';

/** Sends a handler's `{ status, body, headers }`. */
function send(reply, r) {
  reply.code(r.status);
  if (r.headers) reply.headers(r.headers);
  return reply.send(r.headers?.['content-type'] ? JSON.stringify(r.body) : r.body);
}

/** Adapts a shared handler to Fastify; the request's BreakwaterContext goes along. */
function handle(fn) {
  return async function demoHandler(request, reply) {
    const { method, params, query, body } = request;
    return send(reply, await fn({ method, params, query, body, context: request.breakwater }));
  };
}

/**
 * Starts the service. `config`: from `loadConfig()`. Resolves with
 * `{ url, server, bw, demo, close() }` once it listens.
 */
export async function startFastifyService(config, { log = () => {} } = {}) {
  const { demo, bw } = await createDemoWith(config, breakwater, { log });
  const h = demo.handlers;
  // The configured policy of a route, in the route's config (checked as the route is declared).
  const p = (key) => ({ config: { breakwater: demo.policy(key) } });

  const app = Fastify({
    bodyLimit: 64 * 1024, // Fastify's own JSON parser, on every route that takes a body
    // The handlers check keys themselves (up to 128 characters): a longer one is their 400,
    // not the 414 Fastify answers past its default of 100.
    routerOptions: { maxParamLength: 1024 },
  });
  await app.register(bw.plugin);
  // Set before the routes: a route keeps the handlers of when it was declared.
  app.setNotFoundHandler(function notFound(_request, reply) {
    return send(reply, problem(404, 'Not Found', 'no such route', 'NOT_FOUND'));
  });
  // Bodies that are not JSON or too large are the client's fault (Fastify's 4xx); anything else is ours.
  app.setErrorHandler(function errors(err, _request, reply) {
    const status = err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) return send(reply, problem(500, 'Internal Server Error', err.message, 'ERROR'));
    return send(reply, problem(status, 'Bad Request', err.message, 'BAD_BODY'));
  });

  app.get('/health', bw.health());
  app.get('/health/live', bw.health('live'));
  app.get('/health/ready', bw.health('ready'));
  app.get('/metrics', bw.metrics());

  app.get('/api/external-data', p('GET /api/external-data'), handle(h.externalData));
  app.get('/api/cache/:key', p('GET /api/cache/:key'), handle(h.cacheGet));
  app.post('/api/cache/:key', p('POST /api/cache/:key'), handle(h.cacheSet));
  app.get('/api/heavy-computation', p('GET /api/heavy-computation'), handle(h.heavy));
  app.get('/api/error-prone', p('GET /api/error-prone'), handle(h.errorProne));

  await app.register(
    async function adminRoutes(admin) {
      // onRequest: refused before the body is read.
      admin.addHook('onRequest', async function requireAdminToken(request, reply) {
        if (demo.isAdmin(request.headers.authorization, request.headers['x-admin-token'])) return;
        reply.header('WWW-Authenticate', 'Bearer realm="breakwater-admin"');
        return send(
          reply,
          problem(401, 'Unauthorized', 'the admin endpoints need the admin token', 'UNAUTHORIZED'),
        );
      });
      admin.get('/events', handle(h.events));
      admin.get('/runtime', handle(h.runtime));
      admin.all('/error-prone', handle(h.errorProneSettings));
      admin.all('/chaos', handle(h.chaos));
      admin.all('/', bw.admin());
    },
    { prefix: '/admin' },
  );

  return serve(
    (port, host) => {
      // serve() waits for the server's 'listening' event and rejects on its 'error' event.
      app.listen({ port, host }).catch(() => {});
      return app.server;
    },
    config,
    bw,
    demo,
  );
}
