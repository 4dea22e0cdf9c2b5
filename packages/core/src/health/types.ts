import type { Duration } from '../util/duration.js';

/** A health status as in the IETF health-check draft: healthy, degraded, unhealthy. */
export type HealthStatus = 'pass' | 'warn' | 'fail';

/** Which endpoint: `live` (the process answers), `ready` (take traffic?), `detailed` (everything). */
export type HealthKind = 'live' | 'ready' | 'detailed';

/** What a check may return. */
export interface HealthCheckResult {
  /** Default `'pass'`. */
  status?: HealthStatus;
  /** Default: the check's latency in milliseconds. */
  observedValue?: unknown;
  /** Default `'ms'` with the default `observedValue`. */
  observedUnit?: string;
  /** Why, when not passing. */
  output?: string;
}

/**
 * A registered check. It passes by returning nothing, `true` or `{ status: 'pass' }`,
 * fails by returning `false`, throwing or rejecting, or answers a {@link HealthCheckResult}.
 * `signal` aborts when the check's time is up. Typed `unknown` (not a union with `void`)
 * so `async () => {}` and `() => pool.ping()` both fit; any other value passes.
 */
export type HealthCheck = (signal: AbortSignal) => unknown;

/** Options of `health.register()`. */
export interface HealthCheckOptions {
  /** A failing critical check makes the whole `fail` (readiness 503); otherwise `warn`. Default true. */
  critical?: boolean;
  /** Longest wait for the check; past it, it fails. Default: the registry's timeout (1s). */
  timeout?: Duration;
  /** `componentType` in the report. Default `'component'`. */
  componentType?: string;
}

/** Health settings of `breakwater({ health })`. */
export interface HealthOptions {
  /** Longest wait for any check (pools included). Default `'1s'`. */
  timeout?: Duration;
  /** How long a report is reused, so a probe storm cannot overload a dependency. Default `'1s'`; 0 turns caching off. */
  cacheFor?: Duration;
}

/** One entry of the `checks` object. */
export interface HealthCheckEntry {
  componentId: string;
  componentType: string;
  status: HealthStatus;
  observedValue?: unknown;
  observedUnit?: string;
  output?: string;
  /** Whether a failure fails the whole. */
  critical: boolean;
  /** ISO 8601 time of the observation. */
  time: string;
}

/**
 * `breaker:<name>`: `observedValue` is the state (`closed`, `open`, `half-open`); `warn`
 * unless closed. The members beyond the draft's are user-defined keys, as it allows.
 */
export interface BreakerCheckEntry extends HealthCheckEntry {
  componentType: 'circuit-breaker';
  observedValue: 'closed' | 'open' | 'half-open';
  observedUnit: 'state';
  /** ISO 8601 time the current state began. */
  since: string;
  /** Failures / calls in the breaker's window (0 with no calls). */
  failureRate: number;
  /** Calls in the window. */
  calls: number;
  /** Failures in the window. */
  failures: number;
  /** While open: milliseconds until a probe is admitted. */
  retryAfterMs?: number;
  /** The last failure recorded: its time and error code (never the error's message). */
  lastFailure?: { time: string; code?: string };
}

/** `bulkhead:<name>`: `observedValue` is the calls running; `warn` while saturated. */
export interface BulkheadCheckEntry extends HealthCheckEntry {
  componentType: 'bulkhead';
  observedValue: number;
  observedUnit: 'active calls';
  active: number;
  queued: number;
  /** Calls allowed at once now (fixed, or where an adaptive limit stands). */
  limit: number;
  maxQueue: number;
}

/**
 * `rateLimitStore:<limiter>`, for each limiter with a store given in the options:
 * `observedValue` is `'store'`, or `'fallback'` (`warn`) while the store is failing and
 * `onStoreError` decides.
 */
export interface RateLimitStoreCheckEntry extends HealthCheckEntry {
  componentType: 'rate-limit-store';
  observedValue: 'store' | 'fallback';
  observedUnit: 'decisions from';
  onStoreError: 'allow' | 'deny' | 'memory';
}

/**
 * `pool:<name>`: the pool's last health check (`status`, `time`, its latency as
 * `observedValue` in ms, `output`) and its `stats()`.
 */
export interface PoolCheckEntry extends HealthCheckEntry {
  componentType: 'pool';
  /** The pool's numbers: active, idle, pending, max and any of its own. */
  stats?: Record<string, number>;
}

/**
 * An `application/health+json` body. Keys of `checks` are `pool:<name>`, `breaker:<name>`,
 * `bulkhead:<name>`, `rateLimitStore:<limiter>` and each registered check's name.
 */
export interface HealthReport {
  status: HealthStatus;
  output?: string;
  checks: Record<string, HealthCheckEntry[]>;
}
