import type { RoutePolicy } from './policy.js';
import type { RouteGuard } from './RouteGuard.js';

/** Where a cache gets a route's guard from (the route registry). */
export interface GuardResolver {
  routeGuard(policy: RoutePolicy, method: string, pattern: string): RouteGuard | undefined;
}

/** A route and method a `route()` middleware has resolved, with the guard it applies. */
export interface ResolvedRoute {
  readonly method: string;
  readonly pattern: string;
  readonly guard: RouteGuard | null;
}

interface Resolved extends ResolvedRoute {
  guard: RouteGuard | null;
  readonly perMethod: Map<string, RouteGuard | null>;
}

/**
 * The guards of one `route()` middleware: one per matched route and method, so one
 * middleware mounted on several routes keeps them isolated. `key` is whatever the adapter
 * knows the route by (Express's Route object, Koa's matched pattern); the pattern is asked
 * for only on a route's first request. `null`: the merged policy protects nothing. A HEAD
 * request resolves to its GET route's guard.
 */
export class RouteGuardCache {
  private readonly byKey = new Map<unknown, Map<string, RouteGuard | null>>();
  /** What was resolved, with its pattern, so a reconfiguration can rebuild it off the request path. */
  private readonly resolved: Resolved[] = [];

  constructor(
    private readonly resolver: GuardResolver,
    readonly policy: RoutePolicy,
  ) {}

  get<A>(key: unknown, requestMethod: string, patternOf: (arg: A) => string, arg: A): RouteGuard | null {
    // HEAD is GET without the body (RFC 9110): the same quota, breaker and bulkhead.
    const method = requestMethod === 'HEAD' ? 'GET' : requestMethod;
    let perMethod = this.byKey.get(key);
    if (perMethod === undefined) this.byKey.set(key, (perMethod = new Map()));
    let guard = perMethod.get(method);
    if (guard === undefined) {
      const pattern = patternOf(arg);
      guard = this.resolver.routeGuard(this.policy, method, pattern) ?? null;
      perMethod.set(method, guard);
      this.resolved.push({ method, pattern, guard, perMethod });
    }
    return guard;
  }

  /** The routes resolved so far (for `reconfigure()`). */
  routes(): readonly ResolvedRoute[] {
    return this.resolved;
  }

  /** Swaps the guard of a resolved route: its next request uses `guard`; requests under way keep theirs. */
  replace(route: ResolvedRoute, guard: RouteGuard | null): void {
    const r = route as Resolved;
    r.guard = guard;
    r.perMethod.set(r.method, guard);
  }
}
