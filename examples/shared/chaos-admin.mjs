/**
 * `POST /admin/chaos`: turns chaos injection on and off at run time, behind the admin
 * token like the other admin endpoints. Framework-free: `{ method, body }` in,
 * `{ status, body }` out; every demo service and the chaos load scenario mount it.
 *
 *   POST /admin/chaos  {"route": "GET /api/error-prone", "enabled": true,
 *                       "fault": {"rate": 0.1, "status": 503}, "latency": {"rate": 0.1, "ms": 300}}
 *   POST /admin/chaos  {"route": "GET /api/error-prone", "enabled": false}
 *   POST /admin/chaos  {"enabled": false}          every route
 *   GET  /admin/chaos  the state of every route with chaos, with its injection counts
 */
import { isConfigError } from '@breakwater/core';

const KEYS = new Set(['route', 'enabled', 'latency', 'fault']);

function bad(detail) {
  return {
    status: 400,
    headers: { 'content-type': 'application/problem+json' },
    body: { type: 'about:blank', title: 'Bad Request', status: 400, detail, code: 'BAD_BODY' },
  };
}

/** The handler for a `bw.chaos` (the adapters' ChaosControl). */
export function chaosAdmin(chaos) {
  return async function chaosSettings({ method, body }) {
    if (method === 'GET') return { status: 200, body: { routes: chaos.list() } };
    if (method !== 'POST' && method !== 'PUT')
      return { status: 405, headers: { allow: 'GET, POST' }, body: { error: 'GET or POST' } };
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return bad(
        'expected a JSON body like {"route": "GET /api/x", "enabled": true, "fault": {"rate": 0.1}}',
      );
    for (const k of Object.keys(body)) if (!KEYS.has(k)) return bad(`unknown member '${k}'`);
    const { route, enabled, latency, fault } = body;
    if (route !== undefined && (typeof route !== 'string' || route.length === 0 || route.length > 200))
      return bad('route: a route name, as in metrics');
    if (typeof enabled !== 'boolean') return bad('enabled: true or false');
    let changed;
    try {
      changed = enabled
        ? chaos.enable(route, {
            ...(latency !== undefined && { latency }),
            ...(fault !== undefined && { fault }),
          })
        : chaos.disable(route);
    } catch (e) {
      if (isConfigError(e)) return bad(e.message);
      throw e;
    }
    // A route that has not served a request yet has no guard: its settings wait for it.
    const waiting = changed.length === 0 && route !== undefined;
    return {
      status: waiting ? 202 : 200,
      body: waiting
        ? { changed, pending: route, detail: 'applies from the route’s first request', routes: chaos.list() }
        : { changed, routes: chaos.list() },
    };
  };
}
