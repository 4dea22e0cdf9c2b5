import type { BreakwaterCore } from '../Breakwater.js';
import type { RouteLimits } from '../guard/RouteLimits.js';
import type { ReconfigureOptions, ReconfigureResult } from '../guard/reload.js';
import type { HealthCheck, HealthCheckOptions, HealthKind } from '../health/types.js';
import type { Disposable } from '../util/events.js';

/**
 * What `breakwater()` returns in every adapter, `Handler` being the framework's
 * middleware type and `Policy` its route policy. Adapters only translate requests; this
 * surface is the same for all of them.
 */
export interface BreakwaterAdapter<Handler, Policy> {
  /** The framework-neutral instance underneath: breakers, guards, pools. */
  readonly core: BreakwaterCore;
  /** Shared pools, reachable inside handlers. */
  readonly pools: BreakwaterCore['pools'];
  /** Shared circuit breakers by name. */
  readonly breakers: BreakwaterCore['breakers'];
  /**
   * Chaos injection at run time: `chaos.enable(route?, overrides?)`, `chaos.disable(route?)`,
   * `chaos.list()`. Routes by name, as in metrics.
   */
  readonly chaos: BreakwaterCore['chaos'];
  /**
   * One key's rate-limit state on a route (by the route's name): `limits.get(route, key)`
   * reads it without counting, `limits.reset(route, key)` forgets its counts and any block.
   */
  readonly limits: RouteLimits;
  /** App-level middleware: request metrics, and `routes` entries. Mount it first. */
  middleware(): Handler;
  /** Route-level middleware applying `policy` (merged over `defaults` and any `routes` entry). */
  route(policy?: Policy): Handler;
  /**
   * The metrics endpoint: the registry's exposition, as OpenMetrics when the scraper's
   * `Accept` asks for it, else the Prometheus text format. Without prom-client (an optional
   * peer) it answers 501 with a problem+json body saying so; with `metrics: false`,
   * mounting it is a `ConfigError`.
   */
  metrics(): Handler;
  /**
   * Health endpoints (`application/health+json`): `health('live')`, `health('ready')`,
   * `health()` detailed; and `health.register(name, check, { critical })` to add checks.
   */
  readonly health: HealthEndpoints<Handler>;
  /**
   * The admin endpoint: `GET` lists breakers, bulkheads, limiters and pools; `POST`
   * `{ breaker, action: 'reset' | 'open' | 'close' }` acts on a breaker; `GET` and `DELETE`
   * with `?route=<name>&key=<key>` read and reset one key's rate-limit state. It has no
   * authentication of its own: mount it behind yours.
   */
  admin(): Handler;
  /**
   * Replaces `routes`, `defaults` and shared `breakers` without a restart, e.g. from a
   * reloaded config file: validated first (a `ConfigError` with the option path, and
   * nothing changes), then swapped at once, keeping the state of every breaker and limiter
   * whose options did not change. See `BreakwaterCore.reconfigure()`.
   *
   * ```ts
   * bw.reconfigure({ routes: { 'GET /api/x': { rateLimit: { limit: 5, window: '1m' } } } });
   * ```
   */
  reconfigure(options: ReconfigureOptions<Policy>): ReconfigureResult;
  /** Closes pools and stops background work; readiness answers 503 from the start. Safe to call twice. */
  close(): Promise<void>;
}

/** `bw.health`: an endpoint factory that also registers checks. */
export interface HealthEndpoints<Handler> {
  /** `'live'`: 200 while the process answers. `'ready'`: 503 on fail or shutdown. Default: detailed. */
  (kind?: HealthKind): Handler;
  /** Adds a check; critical by default (its failure fails readiness). The Disposable removes it. */
  register(name: string, check: HealthCheck, options?: HealthCheckOptions): Disposable;
}
