import type { CircuitBreakerOptions } from '../breaker/options.js';
import type { BulkheadOptions } from '../bulkhead/Bulkhead.js';
import type { ChaosOptions } from '../chaos/options.js';
import { ConfigError } from '../errors.js';
import type { RateLimitOptions } from '../rate-limit/RateLimiter.js';
import type { AdaptiveTimeoutOptions } from '../timeout/adaptive/AdaptiveTimeout.js';
import type { Duration } from '../util/duration.js';
import { checkKeys, expectObject } from '../util/validate.js';
import type { Fallback, FallbackReason } from './fallback.js';
import { Priority, type PriorityName } from './priority.js';

/**
 * One route's policies: the same object in Express and in Koa. Every member is optional;
 * `false` turns off a policy that `defaults` or a `routes` entry would otherwise apply.
 */
export interface RoutePolicy<Req = any, OnReject = (...args: any[]) => unknown> {
  /** Label in metrics and name of the route's policies. Default `${METHOD} ${routePattern}`. */
  name?: string;
  /**
   * Deadline for the request, queue time included. 503 by default; `{ after, status: 504 }` to answer 504.
   * `{ adaptive: { percentile, factor, min, max } }`: a deadline following recent successful latencies.
   *
   * For streaming answers (SSE, a piped body), `firstByte` and/or `idle`: the deadline
   * (`firstByte`, or `after`) then bounds the time to the answer's headers only, `idle`
   * the silence between two writes once it streams; the bulkhead slot is held until the
   * stream ends. A stream silent past `idle` is ended cleanly and counts as a timeout.
   */
  timeout?:
    | Duration
    | { after: Duration; status?: 503 | 504; idle?: Duration }
    | StreamTimeout
    | { adaptive: AdaptiveTimeoutOptions; status?: 503 | 504 }
    | false;
  /** One window or several (an array), decided together. */
  rateLimit?: RateLimitOptions<Req> | RateLimitOptions<Req>[] | false;
  /** Breaker options for a breaker of this route's own, or the name of a shared breaker. */
  circuitBreaker?: CircuitBreakerOptions | string | false;
  /** Bulkhead options for a bulkhead of this route's own, or the name of a shared one (`breakwater({ bulkheads })`). */
  bulkhead?: BulkheadOptions | string | false;
  /** Injected latency and faults for rehearsing failure; off until enabled. */
  chaos?: ChaosOptions<Req> | false;
  /**
   * What load shedding refuses first when the process is overloaded (the `overload` option
   * of `breakwater()`): `sheddable`, then `normal`; `critical` never. A function of the
   * request lets one route tell, say, signed-in from anonymous traffic. Default `'normal'`.
   */
  priority?: PriorityName | ((req: Req) => PriorityName);
  /** Render refusals yourself; the adapter documents the arguments. */
  onReject?: OnReject;
  /**
   * A degraded answer in place of a refusal or a failure (a cached copy, a default). The
   * policies still record what happened: the breaker counts the failure, the refusal is a
   * rejection in metrics. The answer carries `Breakwater-Fallback: <reason>`. A fallback
   * that throws, rejects, answers late or gives nothing usable leaves the default refusal
   * (or the handler's own error) to go out.
   */
  fallback?: Fallback<Req>;
  /** The reasons the fallback answers for. Default every one but `'rate_limited'`. */
  fallbackOn?: FallbackReason[];
  /** How long a fallback may take before it is abandoned. Default `'1s'`. */
  fallbackTimeout?: Duration;
}

/** A route timeout for streaming answers (see `RoutePolicy.timeout`). */
export interface StreamTimeout {
  /** Bounds the time to the answer's headers, queue time included. Default: none (the headers may take any time). */
  firstByte?: Duration;
  /** The longest silence between two writes once the answer streams. Default: none. */
  idle?: Duration;
  /** The status of the refusal when the headers are late. Default 503. */
  status?: 503 | 504;
}

const KNOWN = [
  'name',
  'timeout',
  'rateLimit',
  'circuitBreaker',
  'bulkhead',
  'priority',
  'chaos',
  'onReject',
  'fallback',
  'fallbackOn',
  'fallbackTimeout',
];

/** Checks the shape of a route policy (each policy validates its own options when built). */
export function checkRoutePolicy(raw: unknown, path: string): RoutePolicy {
  const o = expectObject(raw ?? {}, path);
  checkKeys(o, KNOWN, path);
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0))
    throw new ConfigError(`${path}.name`, o.name, 'a non-empty string');
  if (o.onReject !== undefined && typeof o.onReject !== 'function')
    throw new ConfigError(`${path}.onReject`, o.onReject, 'a function');
  if (
    o.priority !== undefined &&
    typeof o.priority !== 'function' &&
    !(typeof o.priority === 'string' && Object.hasOwn(Priority, o.priority))
  )
    throw new ConfigError(`${path}.priority`, o.priority, "'critical', 'normal', 'sheddable' or a function");
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
  return !!(
    p.timeout ||
    p.rateLimit ||
    p.circuitBreaker ||
    p.bulkhead ||
    p.priority ||
    p.chaos ||
    p.fallback
  );
}
