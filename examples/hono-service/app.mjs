/**
 * The demo service on Hono (on @hono/node-server): the same routes, policies and pools as
 * the Express service, with the handlers, pools and configuration shared (../shared/service.mjs).
 */
import { breakwater } from '@breakwater/hono';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createDemoWith, problem, serve } from '../shared/service.mjs';

const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };

/** A handler's `{ status, body, headers }` as a Response. */
function reply(c, r) {
  return c.body(JSON.stringify(r.body), r.status, { ...JSON_TYPE, ...r.headers });
}

const badBody = (status, detail) => problem(status, 'Bad Request', detail, 'BAD_BODY');

/** A JSON body (64 KiB at most) into `c.get('body')`; a bad one is a 400, a larger one a 413. */
const jsonBody = [
  bodyLimit({
    maxSize: 64 * 1024,
    onError: (c) => reply(c, badBody(413, 'request entity too large')),
  }),
  async function parseJson(c, next) {
    const empty = c.req.raw.body === null || c.req.header('content-length') === '0';
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && !empty) {
      try {
        c.set('body', await c.req.json());
      } catch {
        return reply(c, badBody(400, 'the body is not JSON'));
      }
    }
    await next();
  },
];

/** Adapts a shared handler to Hono; the request's BreakwaterContext goes along. */
function handle(fn) {
  return async function demoHandler(c) {
    return reply(
      c,
      await fn({
        method: c.req.method,
        params: c.req.param(),
        query: c.req.query(),
        body: c.get('body'),
        context: c.get('breakwater'),
      }),
    );
  };
}

/**
 * Starts the service. `config`: from `loadConfig()`. Resolves with
 * `{ url, server, bw, demo, close() }` once it listens.
 */
export async function startHonoService(config, { log = () => {} } = {}) {
  const { demo, bw } = await createDemoWith(config, breakwater, { log });
  const h = demo.handlers;
  const p = demo.policy; // the configured policy of a route

  const app = new Hono();
  app.use(bw.middleware());

  app.get('/health', bw.health());
  app.get('/health/live', bw.health('live'));
  app.get('/health/ready', bw.health('ready'));
  app.get('/metrics', bw.metrics());

  app.get('/api/external-data', bw.route(p('GET /api/external-data')), handle(h.externalData));
  app.get('/api/cache/:key', bw.route(p('GET /api/cache/:key')), handle(h.cacheGet));
  app.post('/api/cache/:key', bw.route(p('POST /api/cache/:key')), ...jsonBody, handle(h.cacheSet));
  app.get('/api/heavy-computation', bw.route(p('GET /api/heavy-computation')), handle(h.heavy));
  app.get('/api/error-prone', bw.route(p('GET /api/error-prone')), handle(h.errorProne));

  const admin = new Hono();
  admin.use(async function requireAdminToken(c, next) {
    if (demo.isAdmin(c.req.header('authorization'), c.req.header('x-admin-token'))) return next();
    const r = problem(401, 'Unauthorized', 'the admin endpoints need the admin token', 'UNAUTHORIZED');
    return reply(c, {
      ...r,
      headers: { ...r.headers, 'www-authenticate': 'Bearer realm="breakwater-admin"' },
    });
  });
  admin.get('/events', handle(h.events));
  admin.get('/runtime', handle(h.runtime));
  admin.all('/error-prone', ...jsonBody, handle(h.errorProneSettings));
  admin.all('/chaos', ...jsonBody, handle(h.chaos));
  admin.all('/', bw.admin()); // reads its own body
  app.route('/admin', admin);

  app.notFound((c) => reply(c, problem(404, 'Not Found', 'no such route', 'NOT_FOUND')));
  // Errors become 500 answers; the breaker counts them.
  app.onError((err, c) => reply(c, problem(500, 'Internal Server Error', err.message, 'ERROR')));

  return serve(
    (port, host) => createAdaptorServer({ fetch: app.fetch }).listen(port, host),
    config,
    bw,
    demo,
  );
}
