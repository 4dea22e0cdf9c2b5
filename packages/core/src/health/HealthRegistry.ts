import type { EndpointAnswer } from '../admin/answer.js';
import type { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { Bulkhead } from '../bulkhead/Bulkhead.js';
import { ConfigError } from '../errors.js';
import { listPools } from '../metrics/listPools.js';
import type { PoolManager } from '../pools/PoolManager.js';
import type { Pool } from '../pools/types.js';
import type { RateLimiter } from '../rate-limit/RateLimiter.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { parseDuration } from '../util/duration.js';
import type { Disposable } from '../util/events.js';
import { checkKeys, expectObject, optDuration } from '../util/validate.js';
import { breakerEntry, bulkheadEntry, rateLimitStoreEntry } from './components.js';
import type {
  HealthCheck,
  HealthCheckEntry,
  HealthCheckOptions,
  HealthCheckResult,
  HealthKind,
  HealthOptions,
  HealthReport,
  HealthStatus,
  PoolCheckEntry,
} from './types.js';

/** The `Content-Type` of health answers (IETF draft-inadarei-api-health-check). */
export const HEALTH_CONTENT_TYPE = 'application/health+json';

/** What the registry reads of a Breakwater instance. */
export interface HealthSources {
  readonly clock: Clock;
  readonly isClosing: boolean;
  readonly breakers: Iterable<CircuitBreaker>;
  readonly pools: PoolManager;
  /** Shared bulkheads (`bulkhead:<name>` entries, with those of the guards). */
  readonly bulkheads?: Iterable<Bulkhead>;
  /** The routes' guards: their bulkheads, and their limiters' stores. */
  readonly guards?: Iterable<{
    readonly bulkhead?: Bulkhead | undefined;
    readonly limiter?: RateLimiter<any> | undefined;
  }>;
}

interface Registered {
  check: HealthCheck;
  critical: boolean;
  timeoutMs: number;
  componentType: string;
}

const DEFAULT_TIMEOUT_MS = 1000; // 1s
const DEFAULT_CACHE_MS = 1000; // 1s
const HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Content-Type', HEALTH_CONTENT_TYPE],
  ['Cache-Control', 'no-store'],
];
const LIVE: EndpointAnswer = { status: 200, headers: HEADERS, body: '{"status":"pass"}' };
const KINDS: readonly HealthKind[] = ['live', 'ready', 'detailed'];

/**
 * Health checks of one Breakwater instance: its pools (each critical unless the pool says
 * otherwise, with its stats), its breakers (an open one is `warn`), its bulkheads (a
 * saturated one is `warn`), its limiters' shared stores (one on its fallback is `warn`)
 * and the checks registered here. Checks
 * run in parallel, each with a timeout; a report is reused for `cacheFor`, and callers
 * arriving while one is being built share it.
 */
export class HealthRegistry {
  private readonly checks = new Map<string, Registered>();
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private cached: { at: number; report: HealthReport } | undefined;
  private inflight: Promise<HealthReport> | undefined;

  constructor(
    private readonly sources: HealthSources,
    options: HealthOptions = {},
  ) {
    const o = expectObject(options, 'breakwater.health');
    checkKeys(o, ['timeout', 'cacheFor'], 'breakwater.health');
    this.timeoutMs = optDuration(o.timeout, 'breakwater.health.timeout', DEFAULT_TIMEOUT_MS)!;
    this.cacheMs = optDuration(o.cacheFor, 'breakwater.health.cacheFor', DEFAULT_CACHE_MS)!;
  }

  /** Registers a check under `name`; the returned Disposable removes it. A name taken throws. */
  register(name: string, check: HealthCheck, options: HealthCheckOptions = {}): Disposable {
    const path = `health.register('${name}')`;
    if (typeof name !== 'string' || name.length === 0)
      throw new ConfigError('health.register.name', name, 'a non-empty string');
    if (typeof check !== 'function') throw new ConfigError(`${path}.check`, check, 'a function');
    const o = expectObject(options, `${path}.options`);
    checkKeys(o, ['critical', 'timeout', 'componentType'], `${path}.options`);
    if (o.critical !== undefined && typeof o.critical !== 'boolean')
      throw new ConfigError(`${path}.options.critical`, o.critical, 'a boolean');
    if (this.checks.has(name)) throw new ConfigError(path, name, 'a check name not already registered');
    const entry: Registered = {
      check,
      critical: options.critical ?? true,
      timeoutMs:
        options.timeout === undefined
          ? this.timeoutMs
          : parseDuration(options.timeout, `${path}.options.timeout`),
      componentType: options.componentType ?? 'component',
    };
    this.checks.set(name, entry);
    this.cached = undefined;
    return {
      dispose: () => {
        if (this.checks.get(name) === entry) {
          this.checks.delete(name);
          this.cached = undefined;
        }
      },
    };
  }

  /** The current report: fresh, or the one built within the last `cacheFor`. */
  report(): Promise<HealthReport> {
    if (this.inflight) return this.inflight;
    const c = this.cached;
    if (c !== undefined && this.sources.clock.now() - c.at < this.cacheMs) return Promise.resolve(c.report);
    const p = this.build().then(
      (report) => {
        this.inflight = undefined;
        if (this.cacheMs > 0) this.cached = { at: this.sources.clock.now(), report };
        return report;
      },
      (e: unknown) => {
        this.inflight = undefined;
        throw e;
      },
    );
    this.inflight = p;
    return p;
  }

  /** Throws at mount time on an unknown kind. */
  static checkKind(kind: unknown): HealthKind {
    if (kind === undefined) return 'detailed';
    if (!KINDS.includes(kind as HealthKind))
      throw new ConfigError('health(kind)', kind, "'live', 'ready', 'detailed' or nothing");
    return kind as HealthKind;
  }

  /**
   * The answer of an endpoint. `live`: 200 while the process answers at all. `ready` and
   * `detailed`: 200 on pass or warn, 503 on fail, and 503 as soon as shutdown begins.
   */
  async answer(kind: HealthKind = 'detailed'): Promise<EndpointAnswer> {
    if (kind === 'live') return LIVE;
    if (this.sources.isClosing) {
      const body: HealthReport = { status: 'fail', output: 'shutting down', checks: {} };
      return { status: 503, headers: HEADERS, body: JSON.stringify(body) };
    }
    const report = await this.report();
    return { status: report.status === 'fail' ? 503 : 200, headers: HEADERS, body: JSON.stringify(report) };
  }

  private async build(): Promise<HealthReport> {
    const clock = this.sources.clock;
    const jobs: Array<Promise<[string, HealthCheckEntry]>> = [];
    for (const pool of listPools(this.sources.pools)) jobs.push(this.runPool(pool));
    for (const [name, r] of this.checks) jobs.push(this.runCheck(name, r));
    const entries = await Promise.all(jobs);
    const time = new Date(clock.now()).toISOString();
    for (const b of this.sources.breakers) entries.push([`breaker:${b.name}`, breakerEntry(b, time)]);
    this.policyEntries(entries, time);
    let status: HealthStatus = 'pass';
    const checks: Record<string, HealthCheckEntry[]> = {};
    for (const [key, e] of entries) {
      checks[key] = [e];
      if (e.status === 'fail' && e.critical) status = 'fail';
      else if (e.status !== 'pass' && status === 'pass') status = 'warn';
    }
    return { status, checks };
  }

  /** The entries of bulkheads and rate-limit stores, each once however many routes share it. */
  private policyEntries(entries: Array<[string, HealthCheckEntry]>, time: string): void {
    const bulkheads = new Set<Bulkhead>(this.sources.bulkheads);
    const limiters = new Set<RateLimiter<any>>();
    for (const g of this.sources.guards ?? []) {
      if (g.bulkhead !== undefined) bulkheads.add(g.bulkhead);
      if (g.limiter?.sharedStore) limiters.add(g.limiter);
    }
    const seen = new Set<string>();
    for (const b of bulkheads) {
      const key = `bulkhead:${b.name}`;
      if (!seen.has(key)) entries.push([key, bulkheadEntry(b, time)]);
      seen.add(key);
    }
    for (const l of limiters) {
      const key = `rateLimitStore:${l.name}`;
      if (!seen.has(key)) entries.push([key, rateLimitStoreEntry(l, time)]);
      seen.add(key);
    }
  }

  private async runPool(pool: Pool): Promise<[string, HealthCheckEntry]> {
    const critical = pool.critical ?? true;
    const started = this.sources.clock.now();
    const entry: PoolCheckEntry = {
      componentId: pool.name,
      componentType: 'pool',
      status: 'pass',
      critical,
      time: '',
    };
    try {
      const h = await this.withTimeout(() => pool.health(), this.timeoutMs);
      entry.status = h.status;
      entry.observedValue = h.latencyMs ?? this.sources.clock.now() - started;
      entry.observedUnit = 'ms';
      if (h.output !== undefined) entry.output = h.output;
      entry.time = h.time;
    } catch (e) {
      this.failed(entry, e, started);
    }
    entry.time ||= new Date(this.sources.clock.now()).toISOString();
    const stats = poolStats(pool);
    if (stats !== undefined) entry.stats = stats;
    return [`pool:${pool.name}`, entry];
  }

  private async runCheck(name: string, r: Registered): Promise<[string, HealthCheckEntry]> {
    const clock = this.sources.clock;
    const started = clock.now();
    const entry: HealthCheckEntry = {
      componentId: name,
      componentType: r.componentType,
      status: 'pass',
      critical: r.critical,
      time: '',
    };
    try {
      const v = await this.withTimeout(r.check, r.timeoutMs);
      const latency = clock.now() - started;
      if (v === false) {
        entry.status = 'fail';
        entry.observedValue = latency;
        entry.observedUnit = 'ms';
      } else if (v === true || v === undefined || v === null) {
        entry.observedValue = latency;
        entry.observedUnit = 'ms';
      } else {
        const res = v as HealthCheckResult;
        entry.status = res.status === 'warn' || res.status === 'fail' ? res.status : 'pass';
        if (res.observedValue !== undefined) {
          entry.observedValue = res.observedValue;
          if (res.observedUnit !== undefined) entry.observedUnit = res.observedUnit;
        } else {
          entry.observedValue = latency;
          entry.observedUnit = 'ms';
        }
        if (res.output !== undefined) entry.output = String(res.output);
      }
    } catch (e) {
      this.failed(entry, e, started);
    }
    entry.time = new Date(clock.now()).toISOString();
    return [name, entry];
  }

  private failed(entry: HealthCheckEntry, e: unknown, started: number): void {
    entry.status = 'fail';
    entry.observedValue = this.sources.clock.now() - started;
    entry.observedUnit = 'ms';
    entry.output = e instanceof Error ? e.message : String(e);
  }

  /** Runs `fn` with a signal that aborts after `ms`; past it, rejects with a timeout error. */
  private withTimeout<T>(fn: (signal: AbortSignal) => T | PromiseLike<T>, ms: number): Promise<Awaited<T>> {
    const clock = this.sources.clock;
    const ac = new AbortController();
    let timer: TimerHandle | undefined;
    return new Promise<Awaited<T>>((resolve, reject) => {
      timer = clock.setTimeout(() => {
        const err = new Error(`health check timed out after ${ms}ms`);
        ac.abort(err);
        reject(err);
      }, ms);
      let p: T | PromiseLike<T>;
      try {
        p = fn(ac.signal);
      } catch (e) {
        reject(e);
        return;
      }
      Promise.resolve(p).then(resolve as (v: unknown) => void, reject);
    }).finally(() => {
      if (timer !== undefined) clock.clearTimeout(timer);
    });
  }
}

/** A pool's numbers, or undefined when its `stats()` throws (its health entry still stands). */
function poolStats(pool: Pool): Record<string, number> | undefined {
  try {
    const s = pool.stats();
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(s)) if (typeof v === 'number') out[k] = v;
    return out;
  } catch {
    return undefined;
  }
}
