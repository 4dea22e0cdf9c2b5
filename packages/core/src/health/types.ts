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

/** An `application/health+json` body. Keys of `checks` are `pool:<name>`, `breaker:<name>` and each registered check's name. */
export interface HealthReport {
  status: HealthStatus;
  output?: string;
  checks: Record<string, HealthCheckEntry[]>;
}
