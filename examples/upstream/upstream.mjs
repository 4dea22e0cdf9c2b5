/**
 * A flaky upstream for the demo and the tests: an HTTP server whose latency, error rate
 * and outright outages change at run time through its admin endpoint.
 *
 *   GET  /data            JSON after `latencyMs ± jitterMs`; a 500 at `errorRate`
 *   GET  /health          200, or 503 during an outage
 *   GET  /admin/chaos     the current settings and counters
 *   PUT  /admin/chaos     change settings: { latencyMs, jitterMs, errorRate, outage, for }
 *   POST /admin/chaos/reset   back to the start-up settings
 *
 * `outage` is `false` (serving), `'error'` (503 at once), `'reset'` (the socket is
 * destroyed) or `'hang'` (no answer until the client gives up). `for: '5s'` reverts the
 * change by itself after that long.
 */

import { once } from 'node:events';
import http from 'node:http';

const OUTAGES = new Set([false, 'error', 'reset', 'hang']);

/** Parses `'250ms'`, `'2s'`, `'1m'` or a number of milliseconds. */
export function toMs(v, path) {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(v.trim()) : null;
  if (!m) throw new Error(`${path}: expected a duration like '250ms' or '2s', got ${JSON.stringify(v)}`);
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[m[2] ?? 'ms'] ?? 1);
}

/** Checks one settings patch, naming the field and the bad value. */
export function checkChaos(patch) {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
    throw new Error(`chaos: expected an object, got ${JSON.stringify(patch)}`);
  const out = {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === 'latencyMs' || k === 'jitterMs') {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 60_000)
        throw new Error(`chaos.${k}: expected milliseconds from 0 to 60000, got ${JSON.stringify(v)}`);
      out[k] = v;
    } else if (k === 'errorRate') {
      if (typeof v !== 'number' || !(v >= 0 && v <= 1))
        throw new Error(`chaos.errorRate: expected a number from 0 to 1, got ${JSON.stringify(v)}`);
      out[k] = v;
    } else if (k === 'outage') {
      if (!OUTAGES.has(v))
        throw new Error(`chaos.outage: expected false, 'error', 'reset' or 'hang', got ${JSON.stringify(v)}`);
      out[k] = v;
    } else if (k === 'for') {
      out.forMs = toMs(v, 'chaos.for');
    } else throw new Error(`chaos.${k}: unknown setting (latencyMs, jitterMs, errorRate, outage, for)`);
  }
  return out;
}

function readJson(req, limit = 16 * 1024) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      try {
        resolve(text === '' ? {} : JSON.parse(text));
      } catch {
        reject(new Error('body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Starts the upstream. `options`: `{ port = 0, host = '127.0.0.1', latencyMs = 20,
 * jitterMs = 10, errorRate = 0, random = Math.random }`. Resolves with `{ url, server,
 * settings(), set(patch), reset(), close() }`.
 */
export async function startUpstream(options = {}) {
  const initial = {
    latencyMs: 20,
    jitterMs: 10,
    errorRate: 0,
    outage: false,
    ...checkChaos({
      ...(options.latencyMs !== undefined && { latencyMs: options.latencyMs }),
      ...(options.jitterMs !== undefined && { jitterMs: options.jitterMs }),
      ...(options.errorRate !== undefined && { errorRate: options.errorRate }),
    }),
  };
  const random = options.random ?? Math.random;
  let settings = { ...initial };
  let revert;
  const counts = { requests: 0, served: 0, failed: 0, refused: 0 };
  const timers = new Set();
  const hanging = new Set();

  function set(patch) {
    const p = checkChaos(patch);
    const before = settings;
    const { forMs, ...rest } = p;
    settings = { ...settings, ...rest };
    if (revert) clearTimeout(revert);
    revert = undefined;
    if (forMs !== undefined) {
      revert = setTimeout(() => {
        revert = undefined;
        settings = { ...settings, ...Object.fromEntries(Object.keys(rest).map((k) => [k, before[k]])) };
      }, forMs);
      revert.unref();
    }
    if (settings.outage !== 'hang') for (const res of hanging) res.destroy();
    return settings;
  }

  function delay(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });
  }

  function outage(req, res) {
    counts.refused++;
    if (settings.outage === 'reset') return req.socket.destroy();
    if (settings.outage === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    send(res, 503, { error: 'upstream outage' });
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    try {
      if (url.pathname === '/admin/chaos') {
        if (req.method === 'GET') return send(res, 200, { settings, counts });
        if (req.method === 'PUT' || req.method === 'POST')
          return send(res, 200, { settings: set(await readJson(req)) });
        return send(res, 405, { error: 'GET or PUT' });
      }
      if (url.pathname === '/admin/chaos/reset' && req.method === 'POST') {
        if (revert) clearTimeout(revert);
        revert = undefined;
        settings = { ...initial };
        for (const r of hanging) r.destroy();
        return send(res, 200, { settings });
      }
      if (url.pathname === '/health') {
        if (settings.outage) return outage(req, res);
        return send(res, 200, { status: 'pass' });
      }
      if (url.pathname === '/data' && req.method === 'GET') {
        counts.requests++;
        if (settings.outage) return outage(req, res);
        const wait = Math.max(0, settings.latencyMs + (random() * 2 - 1) * settings.jitterMs);
        if (wait > 0) await delay(wait);
        if (res.destroyed) return;
        if (settings.outage) return outage(req, res);
        if (random() < settings.errorRate) {
          counts.failed++;
          return send(res, 500, { error: 'injected failure' });
        }
        counts.served++;
        return send(res, 200, {
          id: counts.served,
          items: [
            { sku: 'BW-1', name: 'Breakwater tee', stock: 12 },
            { sku: 'BW-2', name: 'Seawall mug', stock: 3 },
          ],
          servedAt: new Date().toISOString(),
          latencyMs: Math.round(wait),
        });
      }
      send(res, 404, { error: 'not found' });
    } catch (e) {
      if (!res.headersSent) send(res, 400, { error: e instanceof Error ? e.message : String(e) });
    }
  });
  // Keep-alive above the pool's (4s), as the HTTP pool expects of its upstreams.
  server.keepAliveTimeout = 10_000;
  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  const url = `http://${options.host ?? '127.0.0.1'}:${addr.port}`;

  let closing;
  return {
    url,
    server,
    settings: () => ({ ...settings }),
    counts: () => ({ ...counts }),
    set,
    reset: () => set({ ...initial }),
    close() {
      closing ??= (async () => {
        if (revert) clearTimeout(revert);
        for (const t of timers) clearTimeout(t);
        timers.clear();
        for (const r of hanging) r.destroy();
        server.closeAllConnections();
        await new Promise((r) => server.close(() => r()));
      })();
      return closing;
    },
  };
}
