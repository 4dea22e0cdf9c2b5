/**
 * A streaming proxy on Express: `GET /files/:name` streams a file from the upstream store
 * through an `HttpPool` (`stream: true`) to the client, and `PUT /files/:name` streams an
 * upload the other way. Nothing is buffered whole: each side's backpressure reaches the
 * other (a slow client slows the upstream read, a slow upstream the upload), and a client
 * that leaves aborts the upstream request, which frees its connection at once.
 */
import { pipeline } from 'node:stream';
import { breakwater } from '@breakwater/express';
import { HttpPool } from '@breakwater/http-pool';
import express from 'express';
import { Registry } from 'prom-client';

/** Response headers passed on from the upstream to the client. */
const FORWARDED = ['content-type', 'content-length', 'etag', 'last-modified'];

/** An RFC 9457 problem for a call the pool refused or that failed before its headers. */
function upstreamProblem(e) {
  const code = e?.code;
  const [status, title] =
    code === 'TIMEOUT'
      ? [504, 'Gateway Timeout']
      : code === 'POOL_QUEUE_FULL' || code === 'POOL_QUEUE_TIMEOUT' || code === 'CIRCUIT_OPEN'
        ? [503, 'Service Unavailable']
        : [502, 'Bad Gateway'];
  return { type: 'about:blank', title, status, code: code ?? 'UPSTREAM_ERROR' };
}

function sendProblem(res, p) {
  // After the route's timeout or the client leaving, the answer is out already (or moot).
  if (res.headersSent || res.destroyed) return;
  res.status(p.status).type('application/problem+json').send(JSON.stringify(p));
}

/**
 * Starts the proxy in front of `upstream` (the store's URL). Resolves with
 * `{ url, server, bw, pool, close() }` once it listens; `close()` is safe to call twice.
 */
export async function startProxy({ upstream, port = 0, host = '127.0.0.1', registry = new Registry() }) {
  const bw = breakwater({ registry });
  const files = bw.pools.add(
    new HttpPool({
      name: 'files',
      baseUrl: upstream,
      connections: 16,
      maxQueue: 32,
      // `timeout` bounds a streamed call up to its headers; `bodyTimeout` each silence after.
      timeout: '5s',
      bodyTimeout: '5s',
    }),
  );

  const app = express();
  app.disable('x-powered-by');
  app.use(bw.middleware());
  app.get('/metrics', bw.metrics());
  app.get('/health', bw.health());

  // The route's timeout covers the whole transfer: past it the response is cut short.
  const policy = { timeout: '60s', bulkhead: { maxConcurrent: 16, maxQueue: 16, queueTimeout: '2s' } };

  app.get('/files/:name', bw.route(policy), async function download(req, res) {
    let r;
    try {
      r = await files.get(`/files/${encodeURIComponent(req.params.name)}`, {
        query: { size: req.query.size },
        stream: true,
        // The client leaving (or the route's deadline) aborts the upstream call.
        context: req.breakwater,
      });
    } catch (e) {
      return sendProblem(res, upstreamProblem(e));
    }
    res.status(r.status);
    for (const name of FORWARDED) if (r.headers[name] !== undefined) res.setHeader(name, r.headers[name]);
    // pipeline carries backpressure both ways and destroys the other side on an early end:
    // a client gone destroys the upstream body (aborting its request), an upstream failing
    // mid-body cuts the client's response short rather than ending it as if whole.
    pipeline(r.body, res, () => {});
  });

  app.put('/files/:name', bw.route(policy), async function upload(req, res) {
    const headers = { 'content-type': req.get('content-type') ?? 'application/octet-stream' };
    if (req.get('content-length') !== undefined) headers['content-length'] = req.get('content-length');
    let r;
    try {
      // The request itself is the body: read as the upstream takes it, never retried.
      r = await files.put(`/files/${encodeURIComponent(req.params.name)}`, req, {
        headers,
        context: req.breakwater,
      });
    } catch (e) {
      return sendProblem(res, upstreamProblem(e));
    }
    res
      .status(r.status)
      .type(r.headers['content-type'] ?? 'application/octet-stream')
      .send(r.body);
  });

  const server = app.listen(port, host);
  await new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  let closing;
  return {
    url: `http://${host}:${server.address().port}`,
    server,
    bw,
    pool: files,
    close() {
      closing ??= (async () => {
        server.closeAllConnections();
        await new Promise((r) => server.close(() => r()));
        await bw.close();
      })();
      return closing;
    },
  };
}
