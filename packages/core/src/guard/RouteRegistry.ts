import type { CircuitBreakerOptions } from '../breaker/options.js';
import { Emitter, type Event } from '../util/events.js';
import { sameOptions } from '../util/sameOptions.js';
import { type BuildContext, buildPolicies } from './build.js';
import type { EntrySlot } from './EntrySlot.js';
import { checkRoutePolicy, hasProtection, mergePolicy, type RoutePolicy } from './policy.js';
import { type GuardHooks, type GuardPolicies, RouteGuard } from './RouteGuard.js';
import { type GuardResolver, RouteGuardCache } from './RouteGuardCache.js';
import type { RouteTable } from './RouteTable.js';
import {
  buildEntryTable,
  dropOwnBreaker,
  planReconfigure,
  type ReconfigureOptions,
  type ReloadHost,
  type ReloadPlan,
} from './reload.js';

/** What the registry starts from: the instance's `defaults`, `routes` and shared breakers' options. */
export interface RouteRegistryOptions {
  defaults?: RoutePolicy | undefined;
  routes?: Record<string, RoutePolicy> | undefined;
  breakerOptions?: Record<string, CircuitBreakerOptions> | undefined;
}

/**
 * The route table and everything hanging off it: the `routes` entries the app middleware
 * applies, the guard caches of every `route()` middleware, the guards built so far, and
 * the plan of a reconfiguration. It is the one owner of these: a route is claimed,
 * resolved and replaced only here.
 *
 * - {@link entryGuard} resolves a request the app middleware sees against `routes`;
 * - {@link routeGuards} / {@link routeGuard} claim a route for a `route()` middleware;
 * - {@link plan} validates a new configuration and returns what would change; applying
 *   the plan swaps guards at once.
 */
export class RouteRegistry implements GuardResolver, ReloadHost {
  /** Every guard built so far (replaced ones leave). */
  readonly guards: RouteGuard[] = [];
  private readonly guardEmitter = new Emitter<RouteGuard>();
  /** Fires for each guard built (metrics and admin register its policies here). */
  readonly onGuard: Event<RouteGuard> = this.guardEmitter.event;
  // Swapped together by `install()`.
  defaults: RoutePolicy | undefined;
  table: RouteTable<EntrySlot> | undefined;
  routes: Record<string, RoutePolicy> | undefined;
  breakerOptions: Record<string, CircuitBreakerOptions>;
  /** Every `route()` middleware's guards, rebuilt by a reconfiguration. */
  readonly caches: RouteGuardCache[] = [];

  constructor(
    readonly ctx: BuildContext,
    private readonly hooks: GuardHooks,
    options: RouteRegistryOptions,
  ) {
    this.breakerOptions = options.breakerOptions ?? {};
    if (options.defaults !== undefined) {
      this.defaults = checkRoutePolicy(options.defaults, 'breakwater.defaults');
      // Validate now; each route builds its own instances later.
      buildPolicies(this.defaults, 'defaults', 'breakwater.defaults', ctx, false);
    }
    if (options.routes !== undefined) {
      // Validated now, built at each entry's first request (see buildEntryTable).
      this.table = buildEntryTable(options.routes, this.defaults, ctx);
      this.routes = options.routes;
    }
  }

  /** Whether the app middleware must look requests up in the `routes` table at all. */
  get hasTable(): boolean {
    return this.table !== undefined;
  }

  /** The guard of the `routes` entry matching this request, unless a `route()` took it over. */
  entryGuard(method: string, path: string): RouteGuard | undefined {
    const slot = this.table?.match(method, path);
    if (slot === undefined || slot.claimed || slot.merged === undefined) return undefined;
    if (slot.guard === undefined && hasProtection(slot.merged))
      slot.guard = this.buildGuard(slot.name, slot.merged, slot.path);
    return slot.guard;
  }

  /** Validates a `route()` policy now and returns the cache its middleware resolves guards from. */
  routeGuards(policy: RoutePolicy): RouteGuardCache {
    this.validate(policy, 'route');
    const cache = new RouteGuardCache(this, policy);
    this.caches.push(cache);
    return cache;
  }

  /** Validates a route policy at start-up, before its route pattern is known: builds once, registers nothing. */
  validate(policy: RoutePolicy, path = 'route'): void {
    buildPolicies(
      mergePolicy(this.defaults, checkRoutePolicy(policy, path)),
      'validation',
      path,
      this.ctx,
      false,
    );
  }

  /**
   * The guard for a `route()` policy on a matched route: `defaults`, then the `routes`
   * entry with the same key, then `policy`. Claims the entry, so the app middleware
   * leaves such requests to the route. Callers cache the result per route.
   */
  routeGuard(policy: RoutePolicy, method: string, pattern: string): RouteGuard | undefined {
    let entryPolicy: RoutePolicy | undefined;
    let entryGuard: RouteGuard | undefined;
    let entryMerged: RoutePolicy | undefined;
    if (this.table !== undefined) {
      // An entry for any method ('/pattern') still applies to this method's route.
      const anyMethod = this.table.get(undefined, pattern);
      const slot = this.table.getOrAdd(method, pattern, () => ({
        key: `${method} ${pattern}`,
        name: `${method} ${pattern}`,
        path: 'route',
        policy: anyMethod?.policy,
        merged: undefined,
        guard: undefined,
        claimed: true,
      }));
      slot.claimed = true;
      entryPolicy = slot.policy;
      entryGuard = slot.guard;
      entryMerged = slot.merged;
      slot.guard = undefined;
    }
    const merged = mergePolicy(mergePolicy(this.defaults, entryPolicy), policy);
    const name = merged.name ?? `${method} ${pattern}`;
    // The entry guarded requests before this route claimed it: its guard carries on when the
    // route adds nothing to its policies (`bw.route()` on a configured route), else gives way.
    if (entryGuard !== undefined) {
      if (entryGuard.name === name && sameOptions(entryMerged, merged)) return entryGuard;
      this.dropGuard(entryGuard);
      dropOwnBreaker(this.ctx.breakers, entryGuard, entryMerged);
    }
    if (!hasProtection(merged)) return undefined;
    return this.buildGuard(name, merged, 'route');
  }

  /**
   * Validates `next` against the current state and works out what changes, touching
   * nothing (a bad option throws a `ConfigError` naming its path). `apply()` on the plan
   * swaps guards and installs the new table.
   */
  plan(next: ReconfigureOptions): ReloadPlan {
    const plan = planReconfigure(this, next);
    return {
      ...plan,
      apply: () => {
        const result = plan.apply();
        this.defaults = plan.defaults;
        this.routes = plan.routes;
        this.table = plan.table;
        this.breakerOptions = plan.breakerOptions;
        return result;
      },
    };
  }

  /** Makes a guard of built policies and announces it. */
  addGuard(name: string, policies: GuardPolicies): RouteGuard {
    const guard = new RouteGuard(name, policies, this.ctx.clock, this.hooks);
    this.guards.push(guard);
    this.guardEmitter.fire(guard);
    return guard;
  }

  /** Forgets a guard that takes no more requests (those under way finish with it). */
  dropGuard(guard: RouteGuard): void {
    const i = this.guards.indexOf(guard);
    if (i !== -1) this.guards.splice(i, 1);
  }

  private buildGuard(name: string, policy: RoutePolicy, path: string): RouteGuard {
    return this.addGuard(name, buildPolicies(policy, name, path, this.ctx));
  }
}
