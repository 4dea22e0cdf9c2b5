import type { Event } from '../util/events.js';

/** A pool's answer to a health check, in the shape of the health+json draft's checks. */
export interface PoolHealth {
  status: 'pass' | 'warn' | 'fail';
  latencyMs?: number;
  output?: string;
  /** ISO 8601 time of the observation. */
  time: string;
}

/** Numbers every pool reports; pools may add their own. */
export interface PoolStats {
  /** Connections in use. */
  active: number;
  /** Connections open and free. */
  idle: number;
  /** Callers waiting for a connection. */
  pending: number;
  /** Most connections the pool will open. */
  max: number;
  [name: string]: number;
}

/** Result of one background health check. */
export interface PoolHealthCheckEvent {
  ok: boolean;
  durationMs: number;
}

/**
 * What a pool announces, for metrics. Each is optional; metrics subscribe to those
 * present: acquire waits (histogram), acquire timeouts, health checks, and request and
 * retry outcomes (`breakwater_pool_requests_total{outcome}`, `_retries_total{outcome}`).
 */
export interface PoolEvents {
  /** Milliseconds a caller waited for a connection. */
  onAcquire?: Event<number>;
  onAcquireTimeout?: Event<void>;
  onHealthCheck?: Event<PoolHealthCheckEvent>;
  /** Outcome label of a finished request: e.g. `success`, `failure`, `timeout`, `rejected`. */
  onRequest?: Event<string>;
  /**
   * A finished request's outcome (as `onRequest`) and status class (`2xx`..`5xx`, or
   * `error` without an answer). A pool offering it has `breakwater_pool_requests_total`
   * counted from it, with `status_class`; `onRequest` then serves other listeners only.
   */
  onRequestResult?: Event<{ outcome: string; statusClass: string }>;
  /**
   * A finished request's method, status class (`2xx`..`5xx`, or `error` without an answer)
   * and duration in ms, retries included; a streamed one finishes with its body
   * (`breakwater_pool_request_duration_seconds`).
   */
  onRequestDuration?: Event<{ method: string; statusClass: string; durationMs: number }>;
  /** Outcome label of the attempt that was retried (e.g. `status_503`, `connect_error`). */
  onRetry?: Event<string>;
  /** Milliseconds a call waited for an outbound pacing token (`breakwater_pool_pace_wait_seconds`). */
  onPaceWait?: Event<number>;
  /** A call refused by outbound pacing, with the wait it would have had in ms (`breakwater_pool_pace_refusals_total`). */
  onPaceRefusal?: Event<number>;
}

/** What the {@link PoolManager} needs of a pool (HttpPool and RedisPool implement it). */
export interface Pool {
  readonly name: string;
  stats(): PoolStats;
  /** The latest health as the background checks see it (never waits on a live probe for long). */
  health(): Promise<PoolHealth>;
  /** Whether the pool's health counts as critical for readiness. Default true. */
  readonly critical?: boolean;
  readonly events?: PoolEvents;
  /** Graceful: in-flight work finishes (within a bound), then connections close. Safe to call twice. */
  close(): Promise<void>;
  /** Immediate: abort in-flight work and close now. */
  destroy?(): Promise<void>;
}
