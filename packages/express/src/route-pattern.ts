import type { Request } from 'express';

type Layer = {
  route?: unknown;
  handle?: { stack?: unknown };
  /** Express 5 (router 2): the mount pattern as written. */
  rawPath?: unknown;
  /** Express 4: the path and parameters of the last request the layer matched. */
  path?: unknown;
  params?: Record<string, unknown>;
};

const patterns = new WeakMap<object, string>();

/**
 * The full pattern of the route a request matched, mount paths included, with the mount's
 * parameters as `:name` (`/users/:id/posts/:pid`), never their values. On a route's first
 * request the app's router stack is searched for the mounts leading to it; the answer is
 * cached per route object. A mount that cannot be resolved
 * yields `*<route path>`: never a raw URL in a label or a policy name.
 */
export function routePattern(req: Request): string | undefined {
  const route = req.route as { path?: unknown } | undefined;
  if (route === undefined) return undefined;
  const cached = patterns.get(route);
  if (cached !== undefined) return cached;
  const own = typeof route.path === 'string' ? route.path : String(route.path);
  if (!req.baseUrl) {
    patterns.set(route, own);
    return own;
  }
  const base = mountPattern(req, route);
  if (base === undefined) return `*${own}`;
  patterns.set(route, base + own);
  return base + own;
}

/**
 * The mount pattern, or undefined when it cannot be known now. Express 5 keeps each
 * mount's pattern (`rawPath`). Express 4 keeps only the path and parameters of the last
 * request a mount matched, which another request may have changed since: those are used
 * only when they add up to this request's `baseUrl`.
 */
function mountPattern(req: Request, route: object): string | undefined {
  // Express 4 keeps the router in `_router`; Express 5 exposes `router` (4 throws on it).
  const app = req.app as unknown as
    | { _router?: { stack?: unknown }; router?: { stack?: unknown } }
    | undefined;
  const router = app?._router ?? app?.router;
  const trail = findMounts(router?.stack, route, []);
  if (trail === undefined) return undefined;
  let concrete = '';
  let pattern = '';
  let checked = false;
  for (const layer of trail) {
    if (layer.rawPath !== undefined) {
      if (typeof layer.rawPath !== 'string') return undefined;
      pattern += layer.rawPath === '/' ? '' : layer.rawPath;
      continue;
    }
    const path = typeof layer.path === 'string' && layer.path !== '/' ? layer.path : '';
    concrete += path;
    checked = true;
    pattern += layerPattern(path, layer.params);
  }
  return !checked || concrete === req.baseUrl ? pattern : undefined;
}

function findMounts(stack: unknown, route: unknown, trail: Layer[]): Layer[] | undefined {
  if (!Array.isArray(stack) || trail.length > 16) return undefined;
  for (const layer of stack as Layer[]) {
    if (layer.route === route) return trail;
    const inner = layer.handle?.stack;
    if (inner !== undefined) {
      const found = findMounts(inner, route, [...trail, layer]);
      if (found) return found;
    }
  }
  return undefined;
}

/** A mount layer's matched path with its parameter values replaced by their names. */
function layerPattern(path: string, params: Record<string, unknown> | undefined): string {
  const names = params ? Object.keys(params) : [];
  if (names.length === 0) return path;
  return path
    .split('/')
    .map((seg) => {
      let decoded = seg;
      try {
        decoded = decodeURIComponent(seg);
      } catch {
        // keep the raw segment
      }
      const name = names.find((n) => params![n] === decoded);
      return name === undefined ? seg : `:${name}`;
    })
    .join('/');
}
