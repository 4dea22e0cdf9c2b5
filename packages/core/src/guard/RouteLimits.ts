import { ConfigError } from '../errors.js';
import type { RateLimiter } from '../rate-limit/RateLimiter.js';
import type { RateLimitKeyState } from '../rate-limit/types.js';
import type { RouteGuard } from './RouteGuard.js';

/**
 * One key's rate-limit state on a route, by the route's name (as in metrics): `bw.limits`.
 * The key is the limiter's: a client IP for `'ip'` (IPv6 as its subnet, `2001:db8::/56`),
 * the header's value for `{ header }`, the key function's answer otherwise.
 *
 * ```ts
 * await bw.limits.get('POST /login', '203.0.113.7'); // { windows: [...], block: {...} }
 * await bw.limits.reset('POST /login', '203.0.113.7'); // counts and block forgotten
 * ```
 */
export class RouteLimits {
  constructor(private readonly host: { readonly guards: readonly RouteGuard[] }) {}

  /** The route's state for `key`; undefined when the store holds none (never seen, expired, reset). */
  get(route: string, key: string): Promise<RateLimitKeyState | undefined> {
    return this.with(route, key, 'get', (l) => l.get(key));
  }

  /** Forgets `key` on the route: its counts in every window and any block. */
  reset(route: string, key: string): Promise<void> {
    return this.with(route, key, 'reset', (l) => l.reset(key));
  }

  /** The limiter of the route named `route`, if it has one. */
  limiterOf(route: string): RateLimiter<any> | undefined {
    for (const g of this.host.guards) if (g.name === route && g.limiter !== undefined) return g.limiter;
    return undefined;
  }

  private with<T>(
    route: string,
    key: string,
    op: string,
    f: (l: RateLimiter<any>) => Promise<T>,
  ): Promise<T> {
    if (typeof key !== 'string') return Promise.reject(new ConfigError(`limits.${op}.key`, key, 'a string'));
    const l = typeof route === 'string' ? this.limiterOf(route) : undefined;
    if (l === undefined)
      return Promise.reject(
        new ConfigError(`limits.${op}.route`, route, 'the name of a route with a rate limit'),
      );
    return f(l);
  }
}
