import { BreakerRegistry } from './breaker/BreakerRegistry.js';
import { CircuitBreaker } from './breaker/CircuitBreaker.js';
import type { CircuitBreakerOptions } from './breaker/options.js';
import { ConfigError } from './errors.js';
import { type BuildContext, buildPolicies } from './guard/build.js';
import { checkRoutePolicy, hasProtection, mergePolicy, type RoutePolicy } from './guard/policy.js';
import type { RejectionReason } from './guard/problem.js';
import { RouteGuard } from './guard/RouteGuard.js';
import { RouteGuardCache } from './guard/RouteGuardCache.js';
import { parseRouteKey, RouteTable } from './guard/RouteTable.js';
import { HealthRegistry } from './health/HealthRegistry.js';
import type { HealthOptions } from './health/types.js';
import { BreakwaterMetrics } from './metrics/BreakwaterMetrics.js';
import { PoolManager } from './pools/PoolManager.js';
import type { RateLimitStore } from './rate-limit/types.js';
import { type Clock, systemClock } from './util/clock.js';
import { Emitter, type Event } from './util/events.js';
import { checkKeys, expectObject, isPlainObject } from './util/validate.js';

/** Options of `breakwater()`, shared by the Express and Koa adapters. */
export interface BreakwaterOptions<Policy extends RoutePolicy = RoutePolicy> {
  /** prom-client `Registry` for metrics. Default: prom-client's global registry. */
  registry?: unknown;
  /** Metric name prefix. Default `'breakwater_'`. */
  prefix?: string;
  /** Merged under every `routes` entry and every `route()` policy. */
  defaults?: Policy;
  /** Policies by `'METHOD /pattern'` (or `'/pattern'` for any method), e.g. from a config file. */
  routes?: Record<string, Policy>;
  /** Default store for every rate limit that names none. Default: an in-memory store per limiter. */
  store?: RateLimitStore;
  /** Shared circuit breakers, by name; routes and pools refer to them by that name. */
  breakers?: Record<string, CircuitBreakerOptions>;
  /** Clock for tests. */
  clock?: Clock;
  /** `false`: no metrics at all (nothing registered, nothing recorded). Default true. */
  metrics?: boolean;
  /** Health-check timeout and report caching. */
  health?: HealthOptions;
}

/** A `routes` entry: its guard, and whether a `route()` middleware has taken the route over. */
interface EntrySlot {
  key: string;
  /** The guard's name, and the option path for errors. */
  name: string;
  path: string;
  /** The entry as configured (merged under a claiming route()'s policy). */
  policy: RoutePolicy | undefined;
  /** `defaults` ⊕ the entry: what the middleware applies. Undefined for a route()'s claim. */
  merged: RoutePolicy | undefined;
  /** Built at the entry's first request. */
  guard: RouteGuard | undefined;
  claimed: boolean;
}

const KNOWN = ['registry', 'prefix', 'defaults', 'routes', 'store', 'breakers', 'clock', 'metrics', 'health'];

/** A rejection, as announced to metrics. */
export interface RejectionEvent {
  route: string;
  reason: RejectionReason;
}

/**
 * The framework-neutral half of a Breakwater instance: options, the route table, guards,
 * shared breakers and pools. Adapters wrap one and only translate requests.
 */
export class BreakwaterCore {
  readonly clock: Clock;
  readonly breakers: BreakerRegistry;
  readonly pools: PoolManager;
  readonly options: Readonly<BreakwaterOptions>;
  /** Every guard built so far. */
  readonly guards: RouteGuard[] = [];
  /** Health checks: pools, breakers and registered checks. */
  readonly health: HealthRegistry;
  /** This instance's metrics; undefined with `metrics: false`. */
  readonly metrics: BreakwaterMetrics | undefined;
  private readonly defaults: RoutePolicy | undefined;
  private readonly table: RouteTable<EntrySlot> | undefined;
  private readonly ctx: BuildContext;
  private readonly guardEmitter = new Emitter<RouteGuard>();
  private readonly rejectEmitter = new Emitter<RejectionEvent>();
  private closing = false;
  private closed: Promise<void> | undefined;
  /** Fires for each guard built (metrics register the guard's policies here). */
  readonly onGuard: Event<RouteGuard> = this.guardEmitter.event;
  /** Fires on every refusal. */
  readonly onRejected: Event<RejectionEvent> = this.rejectEmitter.event;
  private readonly hooks = {
    onRejected: (guard: RouteGuard, reason: RejectionReason) => {
      if (this.rejectEmitter.size > 0) this.rejectEmitter.fire({ route: guard.name, reason });
    },
  };

  constructor(options: BreakwaterOptions = {}) {
    const o = expectObject(options, 'breakwater');
    checkKeys(o, KNOWN, 'breakwater');
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.breakers = new BreakerRegistry(this.clock);
    this.pools = new PoolManager({ clock: this.clock });
    // A pool's own breaker joins the registry, so metrics, health and admin see it too.
    this.pools.onAdd((pool) => {
      const b = (pool as { breaker?: unknown }).breaker;
      if (b instanceof CircuitBreaker && !this.breakers.has(b.name)) this.breakers.add(b);
    });
    const store = options.store;
    if (store !== undefined && !isPlainObject(store) && typeof store !== 'object')
      throw new ConfigError('breakwater.store', store, 'a RateLimitStore');
    this.ctx = { clock: this.clock, breakers: this.breakers, store };

    if (options.breakers !== undefined) {
      const b = expectObject(options.breakers, 'breakwater.breakers');
      for (const [name, bo] of Object.entries(b))
        this.breakers.create(name, bo as CircuitBreakerOptions, `breakwater.breakers.${name}`);
    }
    if (options.defaults !== undefined) {
      this.defaults = checkRoutePolicy(options.defaults, 'breakwater.defaults');
      // Validate now; each route builds its own instances later.
      buildPolicies(this.defaults, 'defaults', 'breakwater.defaults', this.ctx, false);
    }
    if (options.routes !== undefined) {
      const routes = expectObject(options.routes, 'breakwater.routes');
      const table = new RouteTable<EntrySlot>();
      for (const [key, policy] of Object.entries(routes)) {
        const path = `breakwater.routes['${key}']`;
        const { method, pattern } = parseRouteKey(key, 'breakwater.routes');
        const name = (policy as RoutePolicy | undefined)?.name ?? `${method ?? 'ALL'} ${pattern}`;
        const merged = mergePolicy(this.defaults, checkRoutePolicy(policy, path));
        // Validated now, built at the entry's first request: a route() that takes the entry
        // over first means its policies are never built twice.
        if (hasProtection(merged)) buildPolicies(merged, name, path, this.ctx, false);
        let added = false;
        table.getOrAdd(method, pattern, () => {
          added = true;
          return { key, name, path, policy: policy as RoutePolicy, merged, guard: undefined, claimed: false };
        });
        if (!added) throw new ConfigError(path, key, 'a route listed once');
      }
      this.table = table;
    }
    this.health = new HealthRegistry(this, options.health);
    if (options.metrics !== undefined && typeof options.metrics !== 'boolean')
      throw new ConfigError('breakwater.metrics', options.metrics, 'a boolean');
    // Last: a constructor that throws above leaves nothing attached to the registry.
    this.metrics =
      options.metrics === false
        ? undefined
        : new BreakwaterMetrics(this, { registry: options.registry, prefix: options.prefix });
  }

  /** True once `close()` has begun: readiness fails and new work should be refused. */
  get isClosing(): boolean {
    return this.closing;
  }

  /** Whether the middleware must look requests up in the `routes` table at all. */
  get hasRouteTable(): boolean {
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

  /**
   * Validates a `route()` policy at start-up, before its route pattern is known: builds
   * the policies once, registering nothing.
   */
  /** Validates a `route()` policy now and returns the cache its middleware resolves guards from. */
  routeGuards(policy: RoutePolicy): RouteGuardCache {
    this.validateRoutePolicy(policy, 'route');
    return new RouteGuardCache(this, policy);
  }

  validateRoutePolicy(policy: RoutePolicy, path = 'route'): void {
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
   * entry with the same key, then `policy`. Marks the entry as taken over, so the
   * middleware leaves such requests to the route. Callers cache the result per route.
   */
  routeGuard(policy: RoutePolicy, method: string, pattern: string): RouteGuard | undefined {
    let entryPolicy: RoutePolicy | undefined;
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
      // The entry guarded requests before this route claimed it: its policies give way.
      if (slot.guard !== undefined) this.retire(slot.guard, slot.merged);
      slot.guard = undefined;
    }
    const merged = mergePolicy(mergePolicy(this.defaults, entryPolicy), policy);
    if (!hasProtection(merged)) return undefined;
    return this.buildGuard(merged.name ?? `${method} ${pattern}`, merged, 'route');
  }

  /**
   * Starts shutting down: readiness fails at once; then pools close. Safe to call twice.
   */
  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.closing = true;
    this.closed = (async () => {
      await this.pools.close();
      await Promise.allSettled(this.guards.map((g) => g.limiter?.close()));
      this.metrics?.dispose();
    })();
    return this.closed;
  }

  /** Forgets a guard that has been replaced: its own breaker leaves the registry. */
  private retire(guard: RouteGuard, policy: RoutePolicy | undefined): void {
    const i = this.guards.indexOf(guard);
    if (i !== -1) this.guards.splice(i, 1);
    const b = guard.breaker;
    if (b !== undefined && typeof policy?.circuitBreaker === 'object' && this.breakers.get(b.name) === b)
      this.breakers.remove(b.name);
  }

  private buildGuard(name: string, policy: RoutePolicy, path: string): RouteGuard {
    const guard = new RouteGuard(name, buildPolicies(policy, name, path, this.ctx), this.clock, this.hooks);
    this.guards.push(guard);
    this.guardEmitter.fire(guard);
    return guard;
  }
}
