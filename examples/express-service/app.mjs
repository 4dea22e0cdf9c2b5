/**
 * The demo service on Express: every Breakwater policy and both pools. The routes are
 * wired here; the handlers, pools and configuration are shared with the Koa service
 * (../shared/service.mjs), and the policies come from the configuration file.
 */
import { breakwater } from '@breakwater/express';
import express from 'express';
import { createDemoWith, problem, serve } from '../shared/service.mjs';

/** Sends a handler's `{ status, body, headers }`. */
function reply(res, r) {
  res.status(r.status);
  if (r.headers) res.set(r.headers);
  if (r.headers?.['content-type']) res.send(JSON.stringify(r.body));
  else res.json(r.body);
}

/** Adapts a shared handler to Express; the request's BreakwaterContext goes along. */
function handle(fn) {
  return function demoHandler(req, res, next) {
    fn({
      method: req.method,
      params: req.params,
      query: req.query,
      body: req.body,
      context: req.breakwater,
    }).then((r) => reply(res, r), next);
  };
}

/**
 * Starts the service. `config`: from `loadConfig()`. Resolves with
 * `{ url, server, bw, demo, close() }` once it listens.
 */
export async function startExpressService(config, { log = () => {} } = {}) {
  const { demo, bw } = await createDemoWith(config, breakwater, { log });
  const h = demo.handlers;
  const p = demo.policy; // the configured policy of a route
  const json = express.json({ limit: '64kb' });

  const app = express();
  app.disable('x-powered-by');
  app.use(bw.middleware());

  app.get('/health', bw.health());
  app.get('/health/live', bw.health('live'));
  app.get('/health/ready', bw.health('ready'));
  app.get('/metrics', bw.metrics());

  // Each API route's policy comes from the configuration (breakwater.routes), merged over
  // breakwater.defaults (the per-client rate limit, the 2 s timeout).
  app.get('/api/external-data', bw.route(p('GET /api/external-data')), handle(h.externalData));
  app.get('/api/cache/:key', bw.route(p('GET /api/cache/:key')), handle(h.cacheGet));
  app.post('/api/cache/:key', bw.route(p('POST /api/cache/:key')), json, handle(h.cacheSet));
  app.get('/api/heavy-computation', bw.route(p('GET /api/heavy-computation')), handle(h.heavy));
  app.get('/api/error-prone', bw.route(p('GET /api/error-prone')), handle(h.errorProne));

  const admin = express.Router();
  admin.use(function requireAdminToken(req, res, next) {
    if (demo.isAdmin(req.get('authorization'), req.get('x-admin-token'))) return next();
    res.set('WWW-Authenticate', 'Bearer realm="breakwater-admin"');
    reply(res, problem(401, 'Unauthorized', 'the admin endpoints need the admin token', 'UNAUTHORIZED'));
  });
  admin.use(json);
  admin.get('/events', handle(h.events));
  admin.get('/runtime', handle(h.runtime));
  admin.all('/error-prone', handle(h.errorProneSettings));
  admin.all('/chaos', handle(h.chaos));
  admin.all('/', bw.admin());
  app.use('/admin', admin);

  app.use(function notFound(_req, res) {
    reply(res, problem(404, 'Not Found', 'no such route', 'NOT_FOUND'));
  });
  // Bad or oversized JSON bodies (the body parser's 400 and 413) are the client's fault,
  // answered as the other services answer them; anything else is ours.
  app.use(function errors(err, _req, res, _next) {
    if (res.headersSent) return;
    const status = err.status >= 400 && err.status < 500 ? err.status : 500;
    reply(
      res,
      status === 500
        ? problem(500, 'Internal Server Error', err.message, 'ERROR')
        : problem(status, 'Bad Request', err.message, 'BAD_BODY'),
    );
  });

  return serve((port, host) => app.listen(port, host), config, bw, demo);
}
