import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type Clock,
  ConfigError,
  type Duration,
  parseDuration,
  type RetryOptions,
} from '@breakwater/core';
import type { Dispatcher, Pool } from 'undici';
import { type PaceOptions, type ResolvedPaceOptions, resolvePaceOptions } from './pacing/options.js';
import type { HttpFallback } from './request.js';

/** Active health checks: a request to `path` on a connection of its own, every `interval`. */
export interface HealthCheckOptions {
  /** Path probed, e.g. `'/health'`. Required. */
  path: string;
  /** Time between the end of one check and the start of the next (±10% jitter). Default `'10s'`. */
  interval?: Duration;
  /** A probe slower than this fails. Default `'1s'`. */
  timeout?: Duration;
  /** Failed probes in a row that take an origin out of rotation. Default 3. */
  unhealthyThreshold?: number;
  /** Passed probes in a row that put it back. Default 2. */
  healthyThreshold?: number;
  /** Probe method. Default `'GET'`. */
  method?: 'GET' | 'HEAD';
  /** Whether a probe's status counts as healthy. Default: 200–399. */
  isHealthy?: (status: number) => boolean;
}

/** Passive health: traffic itself (connection errors and 5xx) can take an origin out. */
export interface PassiveHealthOptions {
  /** Failed requests in a row (connection errors, status >= 500) that take an origin out. Default 5. */
  consecutiveFailures?: number;
  /**
   * Without active checks nothing would bring an origin back: it rejoins the rotation
   * after this long. With active checks, the probes decide. Default `'10s'`.
   */
  cooldown?: Duration;
}

/** Options of an {@link HttpPool}. */
export interface HttpPoolOptions {
  /** Name in metrics, health and `bw.pools.get(name)`. Required. */
  name: string;
  /** The upstream, e.g. `'http://127.0.0.1:9000'`; a path (`/api/v1`) prefixes every request's. */
  baseUrl?: string;
  /** Several origins of one service, balanced; unhealthy ones are taken out of rotation. */
  origins?: readonly string[];
  /** Connections per origin, always bounded. Default 10. */
  connections?: number;
  /** Calls that may wait for a connection; more are refused with `POOL_QUEUE_FULL`. Default 100. */
  maxQueue?: number;
  /** Longest wait for a connection before `POOL_QUEUE_TIMEOUT`. Default `'2s'`. */
  queueTimeout?: Duration;
  /**
   * Whole-call timeout of one attempt, queue wait included (capped by the inbound budget);
   * for a streamed call (`stream: true`), up to its headers. Default `'10s'`.
   */
  timeout?: Duration;
  /** TCP (and TLS) connect timeout. Default `'2s'`. */
  connectTimeout?: Duration;
  /** Time to the response headers. Default `'10s'` (undici's is 300 s). */
  headersTimeout?: Duration;
  /**
   * Longest silence between body chunks; past it the call (or a streamed body) fails with a
   * `TimeoutError` (`isPoolBodyTimeoutError`). Time a reader holds a streamed body paused
   * does not count. Default `'10s'` (undici's is 300 s).
   */
  bodyTimeout?: Duration;
  /** Idle keep-alive, below the usual 5 s of Node servers. Default `'4s'`. */
  keepAliveTimeout?: Duration;
  /** Cap on a server's keep-alive hint. Default `'30s'`. */
  keepAliveMaxTimeout?: Duration;
  /**
   * Largest response body read into memory, in bytes: past it a call fails with
   * `POOL_RESPONSE_TOO_LARGE` (carrying the `limit`) as soon as the limit is crossed, and
   * its connection is released. Streamed calls (`stream: true`) are not capped unless the
   * request sets its own `maxResponseSize`. Default 10 MiB.
   */
  maxResponseSize?: number;
  /** Headers sent with every request (a request's own headers win). */
  headers?: Readonly<Record<string, string>>;
  /** Inbound headers forwarded from `context`. Default `['x-request-id', 'traceparent', 'tracestate']`. */
  forwardHeaders?: readonly string[] | false;
  /** Active health checks. Default: none. */
  healthCheck?: HealthCheckOptions | false;
  /** Passive health from traffic. Default on, with the defaults of {@link PassiveHealthOptions}. */
  passiveHealth?: PassiveHealthOptions | false;
  /**
   * When no origin is healthy: `'reject'` fails fast with `POOL_UNHEALTHY`, `'pass'` keeps
   * sending to every origin. Default `'pass'` (a wrong health check never blackholes traffic).
   */
  onUnhealthy?: 'reject' | 'pass';
  /** Whether this pool's health is critical for readiness. Default true. */
  critical?: boolean;
  /** A breaker (shareable with a route: `bw.breakers.get(name)`) or options for one of its own. Default: none. */
  circuitBreaker?: CircuitBreaker | CircuitBreakerOptions | false;
  /** Retries (core's `Retry`, with its budget). Default: none. */
  retry?: RetryOptions | false;
  /**
   * Pace calls to the upstream (a token bucket shared by all origins; calls wait for a
   * token by `priority`, up to `maxWait`), adapting to its rate-limit headers, 429s and
   * `Retry-After` unless `adaptive: false`. Default: none.
   */
  pace?: PaceOptions | false;
  /**
   * A response in place of a call's error (breaker open, queue full, timeout, upstream
   * down, …): the call resolves with what it returns instead of throwing; `undefined`, a
   * throw or a rejection declines and the call throws its own error. Responses the
   * upstream gave (a 503 included) are not errors and never reach it; neither does the
   * caller's own abort. A request's `fallback` replaces it (`false`: none). Default: none.
   */
  fallback?: HttpFallback;
  /** How long `close()` lets in-flight calls finish before destroying. Default `'10s'`. */
  closeTimeout?: Duration;
  /** Creates the traffic dispatcher of one origin (tests inject their own). Default: undici `Pool`. */
  factory?: (origin: string, options: Pool.Options) => Dispatcher;
  /** Clock for tests. */
  clock?: Clock;
  /** Randomness in [0, 1) for jitter. Default `Math.random`. */
  random?: () => number;
}

export interface ResolvedHealthCheck {
  path: string;
  method: 'GET' | 'HEAD';
  intervalMs: number;
  timeoutMs: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
  isHealthy: (status: number) => boolean;
}

export interface ResolvedHttpPoolOptions {
  name: string;
  origins: string[];
  basePath: string;
  connections: number;
  maxQueue: number;
  queueTimeoutMs: number;
  timeoutMs: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  keepAliveMaxTimeoutMs: number;
  maxResponseSize: number;
  headers: Record<string, string> | undefined;
  forwardHeaders: string[];
  healthCheck: ResolvedHealthCheck | undefined;
  passive: { consecutiveFailures: number; cooldownMs: number } | undefined;
  onUnhealthy: 'reject' | 'pass';
  critical: boolean;
  breaker: CircuitBreaker | undefined;
  retry: RetryOptions | undefined;
  pace: ResolvedPaceOptions | undefined;
  fallback: HttpFallback | undefined;
  closeTimeoutMs: number;
  factory: ((origin: string, options: Pool.Options) => Dispatcher) | undefined;
}

const KNOWN = [
  'name',
  'baseUrl',
  'origins',
  'connections',
  'maxQueue',
  'queueTimeout',
  'timeout',
  'connectTimeout',
  'headersTimeout',
  'bodyTimeout',
  'keepAliveTimeout',
  'keepAliveMaxTimeout',
  'maxResponseSize',
  'headers',
  'forwardHeaders',
  'healthCheck',
  'passiveHealth',
  'onUnhealthy',
  'critical',
  'circuitBreaker',
  'retry',
  'pace',
  'fallback',
  'closeTimeout',
  'factory',
  'clock',
  'random',
];

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function obj(v: unknown, path: string): Record<string, unknown> {
  if (!isObject(v)) throw new ConfigError(path, v, 'an object');
  return v;
}

function keys(o: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o))
    if (!allowed.includes(k))
      throw new ConfigError(`${path}.${k}`, o[k], `one of the known options (${allowed.join(', ')})`);
}

function int(v: unknown, path: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ConfigError(path, v, `an integer from ${min} to ${max}`);
  return v;
}

function dur(v: unknown, path: string, def: number, min = 0): number {
  const ms = v === undefined ? def : parseDuration(v, path);
  if (ms < min) throw new ConfigError(path, v, `a duration of at least ${min}ms`);
  return ms;
}

function parseOrigin(v: unknown, path: string): { origin: string; basePath: string } {
  if (typeof v !== 'string') throw new ConfigError(path, v, "a URL like 'http://127.0.0.1:9000'");
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(path, v, "a URL like 'http://127.0.0.1:9000'");
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ConfigError(path, v, 'an http: or https: URL');
  if (u.search || u.hash || u.username)
    throw new ConfigError(path, v, 'a URL without query, hash or credentials');
  return { origin: u.origin, basePath: u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '') };
}

function resolveHealthCheck(v: unknown, path: string): ResolvedHealthCheck | undefined {
  if (v === undefined || v === false) return undefined;
  const o = obj(v, path);
  keys(
    o,
    ['path', 'interval', 'timeout', 'unhealthyThreshold', 'healthyThreshold', 'method', 'isHealthy'],
    path,
  );
  if (typeof o.path !== 'string' || !o.path.startsWith('/'))
    throw new ConfigError(`${path}.path`, o.path, "a path starting with '/'");
  if (o.method !== undefined && o.method !== 'GET' && o.method !== 'HEAD')
    throw new ConfigError(`${path}.method`, o.method, "'GET' or 'HEAD'");
  if (o.isHealthy !== undefined && typeof o.isHealthy !== 'function')
    throw new ConfigError(`${path}.isHealthy`, o.isHealthy, 'a function');
  const intervalMs = dur(o.interval, `${path}.interval`, 10_000, 10);
  const timeoutMs = dur(o.timeout, `${path}.timeout`, 1_000, 1);
  return {
    path: o.path,
    method: (o.method as 'GET' | 'HEAD' | undefined) ?? 'GET',
    intervalMs,
    timeoutMs,
    unhealthyThreshold: int(o.unhealthyThreshold, `${path}.unhealthyThreshold`, 3, 1, 1000),
    healthyThreshold: int(o.healthyThreshold, `${path}.healthyThreshold`, 2, 1, 1000),
    isHealthy: (o.isHealthy as ((s: number) => boolean) | undefined) ?? ((s) => s >= 200 && s < 400),
  };
}

/** Checks every option up front, naming the option path and the bad value. */
export function resolveHttpPoolOptions(raw: unknown): ResolvedHttpPoolOptions {
  const o = obj(raw, 'httpPool');
  keys(o, KNOWN, 'httpPool');
  if (typeof o.name !== 'string' || o.name.length === 0)
    throw new ConfigError('httpPool.name', o.name, 'a non-empty string');
  const path = `httpPool[${o.name}]`;
  let origins: string[];
  let basePath = '';
  if (o.baseUrl !== undefined && o.origins !== undefined)
    throw new ConfigError(`${path}.origins`, o.origins, 'either baseUrl or origins, not both');
  if (o.baseUrl !== undefined) {
    const p = parseOrigin(o.baseUrl, `${path}.baseUrl`);
    origins = [p.origin];
    basePath = p.basePath;
  } else if (o.origins !== undefined) {
    if (!Array.isArray(o.origins) || o.origins.length === 0)
      throw new ConfigError(`${path}.origins`, o.origins, 'a non-empty array of URLs');
    origins = o.origins.map((u, i) => {
      const p = parseOrigin(u, `${path}.origins[${i}]`);
      if (p.basePath) throw new ConfigError(`${path}.origins[${i}]`, u, 'an origin without a path');
      return p.origin;
    });
    if (new Set(origins).size !== origins.length)
      throw new ConfigError(`${path}.origins`, o.origins, 'distinct origins');
  } else
    throw new ConfigError(`${path}.baseUrl`, undefined, "a URL like 'http://127.0.0.1:9000' (or origins)");

  let headers: Record<string, string> | undefined;
  if (o.headers !== undefined) {
    const h = obj(o.headers, `${path}.headers`);
    headers = {};
    for (const [k, v] of Object.entries(h)) {
      if (typeof v !== 'string') throw new ConfigError(`${path}.headers.${k}`, v, 'a string');
      headers[k.toLowerCase()] = v;
    }
  }
  let forwardHeaders = ['x-request-id', 'traceparent', 'tracestate'];
  if (o.forwardHeaders === false) forwardHeaders = [];
  else if (o.forwardHeaders !== undefined) {
    if (
      !Array.isArray(o.forwardHeaders) ||
      !o.forwardHeaders.every((h) => typeof h === 'string' && h.length > 0)
    )
      throw new ConfigError(`${path}.forwardHeaders`, o.forwardHeaders, 'an array of header names, or false');
    forwardHeaders = (o.forwardHeaders as string[]).map((h) => h.toLowerCase());
  }
  let passive: ResolvedHttpPoolOptions['passive'] = { consecutiveFailures: 5, cooldownMs: 10_000 };
  if (o.passiveHealth === false) passive = undefined;
  else if (o.passiveHealth !== undefined) {
    const p = obj(o.passiveHealth, `${path}.passiveHealth`);
    keys(p, ['consecutiveFailures', 'cooldown'], `${path}.passiveHealth`);
    passive = {
      consecutiveFailures: int(p.consecutiveFailures, `${path}.passiveHealth.consecutiveFailures`, 5, 1),
      cooldownMs: dur(p.cooldown, `${path}.passiveHealth.cooldown`, 10_000, 1),
    };
  }
  if (o.onUnhealthy !== undefined && o.onUnhealthy !== 'reject' && o.onUnhealthy !== 'pass')
    throw new ConfigError(`${path}.onUnhealthy`, o.onUnhealthy, "'reject' or 'pass'");
  if (o.critical !== undefined && typeof o.critical !== 'boolean')
    throw new ConfigError(`${path}.critical`, o.critical, 'true or false');
  let breaker: CircuitBreaker | undefined;
  if (o.circuitBreaker instanceof CircuitBreaker) breaker = o.circuitBreaker;
  else if (o.circuitBreaker !== undefined && o.circuitBreaker !== false) {
    const bo = obj(o.circuitBreaker, `${path}.circuitBreaker`) as CircuitBreakerOptions;
    const clock = o.clock as Clock | undefined;
    breaker = new CircuitBreaker(
      clock && bo.clock === undefined ? { ...bo, clock } : bo,
      o.name,
      `${path}.circuitBreaker`,
    );
  }
  let retry: RetryOptions | undefined;
  if (o.retry !== undefined && o.retry !== false) retry = obj(o.retry, `${path}.retry`) as RetryOptions;
  if (o.factory !== undefined && typeof o.factory !== 'function')
    throw new ConfigError(`${path}.factory`, o.factory, 'a function');
  if (o.fallback !== undefined && typeof o.fallback !== 'function')
    throw new ConfigError(`${path}.fallback`, o.fallback, 'a function');
  const maxResponseSize = int(o.maxResponseSize, `${path}.maxResponseSize`, 10 * 1024 * 1024, 0); // 10 MiB
  const queueTimeoutMs = dur(o.queueTimeout, `${path}.queueTimeout`, 2_000, 1); // 2s
  const pace =
    o.pace === undefined || o.pace === false
      ? undefined
      : resolvePaceOptions(o.pace, `${path}.pace`, queueTimeoutMs);

  return {
    name: o.name,
    origins,
    basePath,
    connections: int(o.connections, `${path}.connections`, 10, 1, 10_000),
    maxQueue: int(o.maxQueue, `${path}.maxQueue`, 100, 0),
    queueTimeoutMs,
    timeoutMs: dur(o.timeout, `${path}.timeout`, 10_000, 1), // 10s
    connectTimeoutMs: dur(o.connectTimeout, `${path}.connectTimeout`, 2_000, 1), // 2s
    headersTimeoutMs: dur(o.headersTimeout, `${path}.headersTimeout`, 10_000, 1), // 10s
    bodyTimeoutMs: dur(o.bodyTimeout, `${path}.bodyTimeout`, 10_000, 1), // 10s
    keepAliveTimeoutMs: dur(o.keepAliveTimeout, `${path}.keepAliveTimeout`, 4_000, 1), // 4s
    keepAliveMaxTimeoutMs: dur(o.keepAliveMaxTimeout, `${path}.keepAliveMaxTimeout`, 30_000, 1), // 30s
    maxResponseSize,
    headers,
    forwardHeaders,
    healthCheck: resolveHealthCheck(o.healthCheck, `${path}.healthCheck`),
    passive,
    onUnhealthy: (o.onUnhealthy as 'reject' | 'pass' | undefined) ?? 'pass',
    critical: (o.critical as boolean | undefined) ?? true,
    breaker,
    retry,
    pace,
    fallback: o.fallback as HttpFallback | undefined,
    closeTimeoutMs: dur(o.closeTimeout, `${path}.closeTimeout`, 10_000), // 10s
    factory: o.factory as ResolvedHttpPoolOptions['factory'],
  };
}
