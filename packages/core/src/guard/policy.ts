import type { CircuitBreakerOptions } from '../breaker/options.js';
import type { BulkheadOptions } from '../bulkhead/Bulkhead.js';
import { ConfigError } from '../errors.js';
import type { RateLimitOptions } from '../rate-limit/RateLimiter.js';
import type { Duration } from '../util/duration.js';
import { checkKeys, expectObject } from '../util/validate.js';

/**
 * One route's policies: the same object in Express and in Koa. Every member is optional;
 * `false` turns off a policy that `defaults` or a `routes` entry would otherwise apply.
 */
export interface RoutePolicy<Req = any, OnReject = (...args: any[]) => unknown> {
  /** Label in metrics and name of the route's policies. Default `${METHOD} ${routePattern}`. */
  name?: string;
  /** Deadline for the request, queue time included. 503 by default; `{ after, status: 504 }` to answer 504. */
  timeout?: Duration | { after: Duration; status?: 503 | 504 } | false;
  /** One window or several (an array), decided together. */
  rateLimit?: RateLimitOptions<Req> | RateLimitOptions<Req>[] | false;
  /** Breaker options for a breaker of this route's own, or the name of a shared breaker. */
  circuitBreaker?: CircuitBreakerOptions | string | false;
  bulkhead?: BulkheadOptions | false;
  /** Render refusals yourself; the adapter documents the arguments. */
  onReject?: OnReject;
}

const KNOWN = ['name', 'timeout', 'rateLimit', 'circuitBreaker', 'bulkhead', 'onReject'];

/** Checks the shape of a route policy (each policy validates its own options when built). */
export function checkRoutePolicy(raw: unknown, path: string): RoutePolicy {
  const o = expectObject(raw ?? {}, path);
  checkKeys(o, KNOWN, path);
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0))
    throw new ConfigError(`${path}.name`, o.name, 'a non-empty string');
  if (o.onReject !== undefined && typeof o.onReject !== 'function')
    throw new ConfigError(`${path}.onReject`, o.onReject, 'a function');
  return o as RoutePolicy;
}

/** `over` merged over `base`, policy by policy (an explicit `false` in `over` turns one off). */
export function mergePolicy(base: RoutePolicy | undefined, over: RoutePolicy | undefined): RoutePolicy {
  if (!base) return { ...over };
  if (!over) return { ...base };
  const out: RoutePolicy = { ...base };
  for (const k of KNOWN as Array<keyof RoutePolicy>) {
    if (over[k] !== undefined) (out as Record<string, unknown>)[k] = over[k];
  }
  return out;
}

/** True when the policy applies at least one protection. */
export function hasProtection(p: RoutePolicy): boolean {
  return !!(p.timeout || p.rateLimit || p.circuitBreaker || p.bulkhead);
}
