import { BreakerRegistry } from './breaker/BreakerRegistry.js';
import { CircuitBreaker } from './breaker/CircuitBreaker.js';
import type { CircuitBreakerOptions } from './breaker/options.js';
import type { BulkheadOptions } from './bulkhead/Bulkhead.js';
import { BulkheadRegistry } from './bulkhead/BulkheadRegistry.js';
import { ChaosControl } from './chaos/ChaosControl.js';
import { ConfigError } from './errors.js';
import type { BuildContext } from './guard/build.js';
import type { FallbackEvent } from './guard/fallback.js';
import type { RoutePolicy } from './guard/policy.js';
import type { RejectionEvent } from './guard/problem.js';
import type { RouteGuard } from './guard/RouteGuard.js';
import type { RouteGuardCache } from './guard/RouteGuardCache.js';
import { RouteRegistry } from './guard/RouteRegistry.js';
import type { ReconfigureOptions, ReconfigureResult } from './guard/reload.js';
import { HealthRegistry } from './health/HealthRegistry.js';
import type { HealthOptions } from './health/types.js';
import { BreakwaterLog } from './log/BreakwaterLog.js';
import { checkLogger, type Logger } from './log/Logger.js';
import { BreakwaterMetrics } from './metrics/BreakwaterMetrics.js';
import { optionalPromClient } from './metrics/promClient.js';
import { OverloadControl } from './overload/OverloadControl.js';
import type { OverloadOptions } from './overload/options.js';
import { PoolManager } from './pools/PoolManager.js';
import type { RateLimitStore } from './rate-limit/types.js';
import { type Clock, clockOption } from './util/clock.js';
import { Emitter, type Event } from './util/events.js';
import { checkKeys, expectObject, isPlainObject } from './util/validate.js';

/** Options of `breakwater()`, shared by the Express and Koa adapters. */
export interface BreakwaterOptions<Policy extends RoutePolicy = RoutePolicy> {
  /**
   * prom-client `Registry` for metrics. Default: prom-client's global registry. Giving one
   * when prom-client cannot be loaded is a `ConfigError`.
   */
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
  /** Shared bulkheads, by name; routes refer to them as `bulkhead: 'db'` and share their slots. */
  bulkheads?: Record<string, BulkheadOptions>;
  /** Clock for tests. */
  clock?: Clock;
  /**
   * `false`: no metrics at all (nothing registered, nothing recorded). Default: on when
   * prom-client (an optional peer) is installed, off when it is not; `true` without it is a
   * `ConfigError`.
   */
  metrics?: boolean;
  /** Health-check timeout and report caching. */
  health?: HealthOptions;
  /**
   * Load shedding: when the event loop or the heap is past a threshold, refuse routes by
   * `priority` (sheddable first, then normal; critical never) with 503. Off by default: no
   * timer runs unless this is given; `{}` turns it on with its defaults.
   */
  overload?: OverloadOptions | false;
  /**
   * Where events are logged: any logger with `debug`, `info`, `warn` and `error(obj, msg)`
   * (pino, or `console`). Breaker transitions, bulkheads filling up and recovering,
   * rate-limit stores failing over and back, pool health changes, misconfiguration: each
   * once per event, never per request. Default: nothing is logged.
   */
  logger?: Logger;
}

/** What `registry` and `metrics: true` need, in their `ConfigError`. */
const NEEDS_PROM_CLIENT =
  'prom-client installed where @breakwater/core can load it (npm install prom-client)';

const KNOWN = [
  'registry',
  'prefix',
  'defaults',
  'routes',
  'store',
  'breakers',
  'bulkheads',
  'clock',
  'metrics',
  'health',
  'overload',
  'logger',
];

/**
 * The framework-neutral half of a Breakwater instance. It wires the parts together and
 * closes them: the route registry (routes, guards, reconfiguration), shared breakers and
 * bulkheads, pools, health, metrics, load shedding and chaos. Adapters reach it through
 * `createBreakwater()` and only translate requests.
 */
export class BreakwaterCore {
  readonly clock: Clock;
  readonly breakers: BreakerRegistry;
  /** Shared bulkheads from the `bulkheads` option. */
  readonly bulkheads: BulkheadRegistry;
  readonly pools: PoolManager;
  readonly options: Readonly<BreakwaterOptions>;
  /** The route table, its guards and reconfiguration. */
  readonly routes: RouteRegistry;
  /** Health checks: pools, breakers and registered checks. */
  readonly health: HealthRegistry;
  /** This instance's metrics; undefined with `metrics: false` or without prom-client. */
  readonly metrics: BreakwaterMetrics | undefined;
  /** Load shedding; undefined unless the `overload` option is given. */
  readonly overload: OverloadControl | undefined;
  /** Chaos injection, turned on and off at run time per route (`bw.chaos`). */
  readonly chaos: ChaosControl;
  /** The event log; undefined without the `logger` option. */
  readonly log: BreakwaterLog | undefined;
  private readonly reconfigureEmitter = new Emitter<ReconfigureResult>();
  private readonly rejectEmitter = new Emitter<RejectionEvent>();
  private readonly fallbackEmitter = new Emitter<FallbackEvent>();
  private closing = false;
  private closed: Promise<void> | undefined;
  /** Fires on every refusal. */
  readonly onRejected: Event<RejectionEvent> = this.rejectEmitter.event;
  /** Fires for each fallback attempt of a route: served, or failed (the default went out). */
  readonly onFallback: Event<FallbackEvent> = this.fallbackEmitter.event;
  /** Fires after each successful `reconfigure()`, with what it changed. */
  readonly onReconfigure: Event<ReconfigureResult> = this.reconfigureEmitter.event;

  constructor(options: BreakwaterOptions = {}) {
    const o = expectObject(options, 'breakwater');
    checkKeys(o, KNOWN, 'breakwater');
    const logger = checkLogger(options.logger);
    this.options = options;
    this.clock = clockOption(options.clock, 'breakwater.clock');
    this.breakers = new BreakerRegistry(this.clock);
    this.bulkheads = new BulkheadRegistry(this.clock);
    this.pools = new PoolManager({ clock: this.clock });
    // A pool's own breaker joins the registry, so metrics, health and admin see it too.
    this.pools.onAdd((pool) => {
      const b = (pool as { breaker?: unknown }).breaker;
      if (b instanceof CircuitBreaker && !this.breakers.has(b.name)) this.breakers.add(b);
    });
    const store = options.store;
    if (store !== undefined && !isPlainObject(store) && typeof store !== 'object')
      throw new ConfigError('breakwater.store', store, 'a RateLimitStore');
    // Built (and validated) here, sampling only once the whole constructor has succeeded.
    this.overload =
      options.overload === undefined || options.overload === false
        ? undefined
        : new OverloadControl(options.overload, this.clock);
    const ctx: BuildContext = {
      clock: this.clock,
      breakers: this.breakers,
      bulkheads: this.bulkheads,
      store,
      shedder: this.overload?.shedder,
    };
    let breakerOptions: Record<string, CircuitBreakerOptions> | undefined;
    if (options.breakers !== undefined) {
      const b = expectObject(options.breakers, 'breakwater.breakers');
      for (const [name, bo] of Object.entries(b))
        this.breakers.create(name, bo as CircuitBreakerOptions, `breakwater.breakers.${name}`);
      breakerOptions = b as Record<string, CircuitBreakerOptions>;
    }
    if (options.bulkheads !== undefined) {
      const b = expectObject(options.bulkheads, 'breakwater.bulkheads');
      for (const [name, bo] of Object.entries(b))
        this.bulkheads.create(name, bo as BulkheadOptions, `breakwater.bulkheads.${name}`);
    }
    const rejectEmitter = this.rejectEmitter;
    const fallbackEmitter = this.fallbackEmitter;
    this.routes = new RouteRegistry(
      ctx,
      {
        onRejected(guard, reason) {
          if (rejectEmitter.size > 0) rejectEmitter.fire({ route: guard.name, reason });
        },
        onFallback(guard, reason, result) {
          fallbackEmitter.fire({ route: guard.name, reason, result });
        },
      },
      { defaults: options.defaults, routes: options.routes, breakerOptions },
    );
    this.health = new HealthRegistry(this, options.health);
    this.log = logger === undefined ? undefined : new BreakwaterLog(logger, this);
    // Before metrics, which count its injections; before any guard, which it adopts.
    this.chaos = new ChaosControl(this);
    const overload = this.overload;
    if (overload !== undefined)
      this.health.register('overload', () => overload.health(), { critical: false, componentType: 'system' });
    if (options.metrics !== undefined && typeof options.metrics !== 'boolean')
      throw new ConfigError('breakwater.metrics', options.metrics, 'a boolean');
    const prom = options.metrics === false ? undefined : optionalPromClient();
    // Without prom-client metrics are off, unless the options ask for them outright.
    if (prom === undefined && options.metrics !== false) {
      if (options.registry !== undefined)
        throw new ConfigError('breakwater.registry', options.registry, NEEDS_PROM_CLIENT);
      if (options.metrics === true) throw new ConfigError('breakwater.metrics', true, NEEDS_PROM_CLIENT);
    }
    // Last: a constructor that throws above leaves nothing attached to the registry.
    this.metrics =
      prom === undefined
        ? undefined
        : new BreakwaterMetrics(this, { registry: options.registry, prefix: options.prefix });
    this.overload?.start();
  }

  /** Every guard built so far. */
  get guards(): readonly RouteGuard[] {
    return this.routes.guards;
  }

  /** Fires for each guard built (metrics register the guard's policies here). */
  get onGuard(): Event<RouteGuard> {
    return this.routes.onGuard;
  }

  /** True once `close()` has begun: readiness fails and new work should be refused. */
  get isClosing(): boolean {
    return this.closing;
  }

  /** Whether the middleware must look requests up in the `routes` table at all. */
  get hasRouteTable(): boolean {
    return this.routes.hasTable;
  }

  /** The guard of the `routes` entry matching this request, unless a `route()` took it over. */
  entryGuard(method: string, path: string): RouteGuard | undefined {
    return this.routes.entryGuard(method, path);
  }

  /** Validates a `route()` policy now and returns the cache its middleware resolves guards from. */
  routeGuards(policy: RoutePolicy): RouteGuardCache {
    return this.routes.routeGuards(policy);
  }

  /**
   * Replaces `routes`, `defaults` and shared `breakers` while requests flow, e.g. from a
   * reloaded config file. Everything is validated first: a bad option throws a
   * `ConfigError` naming its path and nothing changes. Then guards swap at once: a route
   * whose effective policies did not change keeps its guard (breaker state, rate-limit
   * counts); a changed route gets a new guard that still keeps the limiter, breaker or
   * bulkhead whose own options did not change; a removed entry stops applying. Requests
   * under way finish under the guard they started with. A changed shared breaker is a
   * new breaker (closed, counts empty) for the routes naming it; a pool holding the old
   * instance keeps it. A member left out keeps its value; `store` and the rest of the
   * options need a restart.
   */
  reconfigure(options: ReconfigureOptions): ReconfigureResult {
    const result = this.routes.plan(options).apply();
    this.reconfigureEmitter.fire(result);
    return result;
  }

  /**
   * Starts shutting down: readiness fails at once; then pools close. Safe to call twice.
   */
  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.closing = true;
    this.overload?.close();
    // Leave the breakers' fleets: withdraws this instance's open reports; a fleet left with
    // no breakers stops polling (the fleet itself may be shared, so its owner closes it).
    for (const b of this.breakers) b.options.fleet?.detach(b);
    this.closed = (async () => {
      await this.pools.close();
      await Promise.allSettled(this.guards.map((g) => g.limiter?.close()));
      this.metrics?.dispose();
      this.log?.dispose();
    })();
    return this.closed;
  }
}
