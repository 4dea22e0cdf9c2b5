import type { BreakerRegistry } from '../breaker/BreakerRegistry.js';
import type { CircuitBreaker, StateChange } from '../breaker/CircuitBreaker.js';
import type { Bulkhead } from '../bulkhead/Bulkhead.js';
import { listPools, onPoolAdded } from '../metrics/listPools.js';
import type { PoolManager } from '../pools/PoolManager.js';
import type { Pool, PoolHealth } from '../pools/types.js';
import type { RateLimiter, StoreFallbackEvent } from '../rate-limit/RateLimiter.js';
import type { Disposable, Event } from '../util/events.js';
import type { Logger, LogLevel } from './Logger.js';

/** What the log reads of a Breakwater instance (`BreakwaterCore` implements it). */
export interface LogHost {
  readonly breakers: BreakerRegistry;
  /** Shared bulkheads. */
  readonly bulkheads: Iterable<Bulkhead>;
  readonly guards: readonly LoggedGuard[];
  readonly onGuard: Event<LoggedGuard>;
  readonly pools: PoolManager;
}

/** What the log reads of a route's guard. */
export interface LoggedGuard {
  readonly name: string;
  readonly limiter?: RateLimiter<any> | undefined;
  readonly bulkhead?: Bulkhead | undefined;
  readonly timeoutMs?: number | undefined;
}

/** The `event` field of each line Breakwater logs. */
export type LogEvent =
  | 'breaker_state_change'
  | 'bulkhead_saturated'
  | 'bulkhead_recovered'
  | 'rate_limit_store_fallback'
  | 'rate_limit_store_recovered'
  | 'pool_health_change'
  | 'misconfiguration';

/** The fields of one line. */
type LogFields = { event: LogEvent } & Record<string, unknown>;

const STATE_VERB = { open: 'opened', 'half-open': 'half-opened', closed: 'closed' } as const;

/**
 * Logs an instance's events through the `logger` option: breaker transitions, bulkheads
 * becoming saturated and recovering, rate-limit stores failing over to `onStoreError` and
 * back, pool health changes, and misconfiguration found at start-up or at the first
 * request that shows it. Each once per event, never per request: the policies announce
 * changes of state, and this only listens. Every line's fields carry `event` (a
 * {@link LogEvent}) and the component's name; errors appear by code, never by message.
 */
export class BreakwaterLog {
  private readonly subs: Disposable[] = [];
  private readonly seen = new WeakSet<object>();
  private readonly reported = new Set<string>();
  private disposed = false;

  constructor(
    private readonly logger: Logger,
    host: LogHost,
  ) {
    for (const b of host.breakers) this.watchBreaker(b);
    this.subs.push(host.breakers.onAdd((b) => this.watchBreaker(b)));
    for (const b of host.bulkheads) this.watchBulkhead(b);
    for (const g of host.guards) this.watchGuard(g);
    this.subs.push(host.onGuard((g) => this.watchGuard(g)));
    for (const p of listPools(host.pools)) this.watchPool(p);
    const poolSub = onPoolAdded(host.pools, (p) => this.watchPool(p));
    if (poolSub) this.subs.push(poolSub);
  }

  /**
   * Reports a misconfiguration at `warn`, once per `id` for the life of the instance.
   * `option` is the option path, as in a `ConfigError`.
   */
  misconfigured(id: string, option: string, problem: string, fields: Record<string, unknown> = {}): void {
    if (this.reported.has(id)) return;
    this.reported.add(id);
    this.write(
      'warn',
      { event: 'misconfiguration', option, problem, ...fields },
      `breakwater: ${option}: ${problem}`,
    );
  }

  /** Stops listening. */
  dispose(): void {
    this.disposed = true;
    for (const s of this.subs.splice(0)) s.dispose();
  }

  /** One line; a logger that throws must not break the transition that announced it. */
  private write(level: LogLevel, fields: LogFields, msg: string): void {
    if (this.disposed) return;
    try {
      this.logger[level](fields, msg);
    } catch {
      // Logging is best effort: the request path never sees a logger's failure.
    }
  }

  private once(o: object): boolean {
    if (this.seen.has(o)) return false;
    this.seen.add(o);
    return true;
  }

  private watchBreaker(b: CircuitBreaker): void {
    if (!this.once(b)) return;
    this.subs.push(b.onStateChange((c) => this.breakerChanged(b, c)));
  }

  private breakerChanged(b: CircuitBreaker, c: StateChange): void {
    const fields: Record<string, unknown> = {
      event: 'breaker_state_change',
      breaker: c.breaker,
      from: c.from,
      to: c.to,
      reason: c.reason,
    };
    if (c.to === 'open') {
      const s = b.stats;
      fields.failureRate = s.failureRate;
      fields.calls = s.calls;
      fields.retryAfterMs = s.retryAfterMs;
      const code = b.lastFailure?.code;
      if (code !== undefined) fields.lastFailureCode = code;
    }
    this.write(
      c.to === 'open' ? 'warn' : 'info',
      fields as LogFields,
      `circuit breaker "${c.breaker}" ${STATE_VERB[c.to]} (${c.reason})`,
    );
  }

  private watchBulkhead(b: Bulkhead): void {
    if (!this.once(b)) return;
    this.subs.push(
      b.onSaturationChange((saturated) => {
        const s = b.stats;
        const fields = {
          bulkhead: b.name,
          active: s.active,
          queued: s.queued,
          limit: s.maxConcurrent,
          maxQueue: s.maxQueue,
        };
        if (saturated)
          this.write(
            'warn',
            { event: 'bulkhead_saturated', ...fields },
            `bulkhead "${b.name}" is full: calls are being refused`,
          );
        else
          this.write(
            'info',
            { event: 'bulkhead_recovered', ...fields },
            `bulkhead "${b.name}" has room again`,
          );
      }),
    );
  }

  private watchGuard(g: LoggedGuard): void {
    if (g.bulkhead !== undefined) this.watchBulkhead(g.bulkhead);
    const l = g.limiter;
    if (l !== undefined && this.once(l)) {
      this.subs.push(
        l.onFallbackChange((e) => this.storeChanged(l, e)),
        l.onMisconfiguration((m) =>
          this.misconfigured(m.id ?? `${m.limiter}:${m.option}`, m.option, m.problem, {
            route: g.name,
            limiter: m.limiter,
          }),
        ),
      );
    }
    // A queue wait longer than the route's whole timeout can never run out: the deadline ends it first.
    const qt = g.bulkhead?.queueTimeoutMs;
    if (qt !== undefined && g.timeoutMs !== undefined && qt >= g.timeoutMs)
      this.misconfigured(
        `${g.name}:bulkhead.queueTimeout`,
        'bulkhead.queueTimeout',
        `${qt}ms is not shorter than the route's timeout (${g.timeoutMs}ms), which ends the wait first`,
        { route: g.name, bulkhead: g.bulkhead!.name },
      );
  }

  private storeChanged(l: RateLimiter<any>, e: StoreFallbackEvent): void {
    if (e.active) {
      const fields: Record<string, unknown> = {
        event: 'rate_limit_store_fallback',
        limiter: e.limiter,
        onStoreError: l.onStoreError,
      };
      const code = errorCode(e.error);
      if (code !== undefined) fields.code = code;
      this.write(
        'warn',
        fields as LogFields,
        `rate-limit store of "${e.limiter}" failed: decisions follow onStoreError '${l.onStoreError}'`,
      );
    } else
      this.write(
        'info',
        { event: 'rate_limit_store_recovered', limiter: e.limiter },
        `rate-limit store of "${e.limiter}" answers again`,
      );
  }

  private watchPool(p: Pool): void {
    const onCheck = p.events?.onHealthCheck;
    if (onCheck === undefined || !this.once(p)) return;
    let last: PoolHealth['status'] | undefined;
    let reading = false;
    // A check's result moves the pool's health only past its thresholds: read the health itself.
    this.subs.push(
      onCheck(() => {
        if (reading) return;
        reading = true;
        p.health().then(
          (h) => {
            reading = false;
            const from = last;
            last = h.status;
            // The first reading is the baseline; only a pool that starts unhealthy is worth a line.
            if (from === h.status || (from === undefined && h.status === 'pass')) return;
            this.poolChanged(p, from, h);
          },
          () => {
            reading = false;
          },
        );
      }),
    );
  }

  private poolChanged(p: Pool, from: PoolHealth['status'] | undefined, h: PoolHealth): void {
    const critical = p.critical ?? true;
    const fields: Record<string, unknown> = {
      event: 'pool_health_change',
      pool: p.name,
      from: from ?? 'unknown',
      to: h.status,
      critical,
    };
    if (h.output !== undefined) fields.output = h.output;
    const level: LogLevel = h.status === 'pass' ? 'info' : h.status === 'fail' && critical ? 'error' : 'warn';
    const what =
      h.status === 'pass' ? 'is healthy again' : h.status === 'fail' ? 'is unhealthy' : 'is degraded';
    this.write(level, fields as LogFields, `pool "${p.name}" ${what}`);
  }
}

/** An error's `code` when it has a short one (never its message, which may carry data). */
function errorCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown; reason?: unknown } | null | undefined)?.code;
  if (typeof c !== 'string' || !/^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/.test(c)) return undefined;
  const r = (e as { reason?: unknown }).reason;
  // A store's own error says why it is unavailable (timeout, circuit_open, not_ready, error).
  return typeof r === 'string' && /^[a-z_]{1,32}$/.test(r) ? `${c}:${r}` : c;
}
