import type { BreakwaterCore } from '../Breakwater.js';
import type { RoutePolicy } from './policy.js';
import type { RouteGuard } from './RouteGuard.js';

/**
 * The guards of one `route()` middleware: one per matched route and method, so one
 * middleware mounted on several routes keeps them isolated. `key` is whatever the adapter
 * knows the route by (Express's Route object, Koa's matched pattern); the pattern is asked
 * for only on a route's first request. `null`: the merged policy protects nothing.
 */
export class RouteGuardCache {
  private readonly byKey = new Map<unknown, Map<string, RouteGuard | null>>();

  constructor(
    private readonly core: BreakwaterCore,
    private readonly policy: RoutePolicy,
  ) {}

  get<A>(key: unknown, method: string, patternOf: (arg: A) => string, arg: A): RouteGuard | null {
    let perMethod = this.byKey.get(key);
    if (perMethod === undefined) this.byKey.set(key, (perMethod = new Map()));
    let guard = perMethod.get(method);
    if (guard === undefined) {
      guard = this.core.routeGuard(this.policy, method, patternOf(arg)) ?? null;
      perMethod.set(method, guard);
    }
    return guard;
  }
}
