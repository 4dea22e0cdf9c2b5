import type { Registry } from 'prom-client';
import type { CircuitBreaker, StateChange } from '../breaker/CircuitBreaker.js';
import { attachFleetMetrics } from '../breaker/FleetMetrics.js';
import type { Bulkhead } from '../bulkhead/Bulkhead.js';
import { attachChaosMetrics } from '../chaos/ChaosMetrics.js';
import type { StreamEnd, StreamStats } from '../engine/StreamStats.js';
import { ConfigError } from '../errors.js';
import type { RejectionEvent, RejectionReason } from '../guard/problem.js';
import type { RouteGuard } from '../guard/RouteGuard.js';
import { attachOverloadMetrics } from '../overload/OverloadMetrics.js';
import type { Pool } from '../pools/types.js';
import { attachStoreFallbackMetrics } from '../rate-limit/StoreFallbackMetrics.js';
import { attachTimeoutMetrics } from '../timeout/adaptive/TimeoutMetrics.js';
import type { Disposable } from '../util/events.js';
import { type MetricsAnswer, renderMetrics } from './exposition.js';
import { listPools, onPoolAdded } from './listPools.js';
import { MetricSet, type MetricSet as MetricSetT, type MetricsSource } from './MetricSet.js';
import type { MetricsHost } from './MetricsHost.js';
import { promClient } from './promClient.js';
import { RouteSeries, UNMATCHED_ROUTE } from './RouteSeries.js';

/** Metrics settings of `breakwater()`. */
export interface MetricsOptions {
  /** prom-client `Registry`. Default: prom-client's global registry. */
  registry?: unknown;
  /** Metric name prefix. Default `'breakwater_'`. */
  prefix?: string;
}

const PREFIX_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

const RESULTS = ['success', 'failure', 'slow', 'rejected'] as const;

const STREAM_ENDS: readonly StreamEnd[] = ['completed', 'idle', 'client_gone', 'error'];

/** State label values of transitions; half-open is written `half_open` as Prometheus labels go. */
const STATE_LABEL = { closed: 'closed', open: 'open', 'half-open': 'half_open' } as const;

/**
 * The metrics of one Breakwater instance: subscribes to its guards, breakers and pools
 * (those built later too) and feeds the shared {@link MetricSet} of its registry.
 */
export class BreakwaterMetrics implements MetricsSource {
  readonly registry: Registry;
  readonly prefix: string;
  /** The series every request no route matched shares. */
  readonly unmatched: RouteSeries;
  /** Milliseconds on a monotonic clock (the injected clock when one was given). */
  readonly now: () => number;
  private readonly set: MetricSetT;
  private readonly subs: Disposable[] = [];
  /** Adds the per-request counts kept below to their prom-client counters. */
  private readonly flushes: Array<() => void> = [];
  private readonly seenPools = new Set<Pool>();
  /** A reconfigured route's new guard may keep its limiter: subscribed to once. */
  private readonly seenLimiters = new WeakSet<object>();
  /** A shared bulkhead (`bulkhead: 'db'`) serves several guards: subscribed to once. */
  private readonly seenBulkheads = new Set<Bulkhead>();
  private readonly byRoute = new Map<string, RouteSeries>();
  private readonly rejectionChildren = new Map<string, Map<RejectionReason, { inc(): void }>>();
  private disposed = false;

  constructor(
    private readonly core: MetricsHost,
    options: MetricsOptions = {},
  ) {
    const prom = promClient();
    const registry = options.registry ?? prom.register;
    if (!isRegistry(registry, prom.Registry))
      throw new ConfigError('breakwater.registry', registry, 'a prom-client Registry');
    const prefix = options.prefix ?? 'breakwater_';
    if (typeof prefix !== 'string' || (prefix !== '' && !PREFIX_RE.test(prefix)))
      throw new ConfigError('breakwater.prefix', prefix, "a metric name prefix like 'breakwater_'");
    this.registry = registry;
    this.prefix = prefix;
    this.set = MetricSet.for(registry, prefix);
    this.now = core.options.clock === undefined ? performanceNow : () => core.clock.now();
    this.unmatched = this.route(UNMATCHED_ROUTE);

    for (const b of core.breakers) this.addBreaker(b);
    this.subs.push(core.breakers.onAdd((b) => this.addBreaker(b)));
    for (const g of core.guards) this.addGuard(g);
    this.subs.push(core.onGuard((g) => this.addGuard(g)));
    this.subs.push(core.onRejected((e) => this.rejected(e)));
    this.subs.push(
      core.onFallback((e) => this.set.fallbacks.inc({ route: e.route, reason: e.reason, result: e.result })),
    );
    const poolSub = onPoolAdded(core.pools, (p) => this.addPool(p));
    if (poolSub) this.subs.push(poolSub);
    this.subs.push(
      attachChaosMetrics(registry, prefix, core.chaos),
      attachTimeoutMetrics(registry, prefix, core),
      attachFleetMetrics(registry, prefix, core.breakers),
      attachStoreFallbackMetrics(registry, prefix, core),
    );
    if (core.overload !== undefined)
      this.subs.push(attachOverloadMetrics(registry, prefix, core.overload.shedder));
    this.set.sources.add(this);
  }

  /** The series of a route pattern (`/users/:id`, `/api/*`). Patterns only: never a raw URL. */
  route(pattern: string): RouteSeries {
    let s = this.byRoute.get(pattern);
    if (s === undefined) {
      s = new RouteSeries(this.set.requestDuration, pattern);
      this.byRoute.set(pattern, s);
    }
    return s;
  }

  /** The exposition of the whole registry: OpenMetrics when `accept` prefers it, else text. */
  render(accept: string | undefined): Promise<MetricsAnswer> {
    return renderMetrics(this.registry, accept);
  }

  // --- MetricsSource: read at scrape time ------------------------------------------------

  breakers(): Iterable<CircuitBreaker> {
    return this.core.breakers;
  }

  *bulkheads(): Iterable<Bulkhead> {
    for (const g of this.core.guards) if (g.bulkhead !== undefined) yield g.bulkhead;
  }

  pools(): readonly Pool[] {
    const pools = listPools(this.core.pools);
    // Managers that cannot announce additions are caught up here, at the first scrape.
    for (const p of pools) if (!this.seenPools.has(p)) this.addPool(p);
    return pools;
  }

  /** Stops feeding the metrics and leaves the shared set (its gauges no longer report this instance). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.flushCounts();
    this.set.sources.delete(this);
    for (const s of this.subs.splice(0)) s.dispose();
  }

  /**
   * Hands the counts of decisions and breaker calls to prom-client; its counters' `collect`
   * calls this at scrape time. Counting in plain numbers in between keeps prom-client's
   * label hashing (a few hundred ns a time) off the per-request path.
   */
  flushCounts(): void {
    for (const f of this.flushes) f();
  }

  // --- subscriptions ---------------------------------------------------------------------

  private addGuard(g: RouteGuard): void {
    const set = this.set;
    const reasons: RejectionReason[] = [];
    const limiter = g.limiter;
    if (limiter !== undefined) reasons.push('rate_limited');
    if (limiter !== undefined && !this.seenLimiters.has(limiter)) {
      this.seenLimiters.add(limiter);
      const allowed = set.rateLimitRequests.labels({ limiter: limiter.name, result: 'allowed' });
      const limited = set.rateLimitRequests.labels({ limiter: limiter.name, result: 'limited' });
      allowed.inc(0);
      limited.inc(0);
      const n = { allowed: 0, limited: 0 };
      this.subs.push(
        limiter.onDecision((e) => {
          if (e.allowed) n.allowed++;
          else n.limited++;
        }),
      );
      this.flushes.push(() => {
        if (n.allowed > 0) allowed.inc(n.allowed);
        if (n.limited > 0) limited.inc(n.limited);
        n.allowed = n.limited = 0;
      });
    }
    if (g.breaker !== undefined) reasons.push('circuit_open');
    const bulkhead = g.bulkhead;
    if (bulkhead !== undefined) reasons.push('bulkhead_full');
    if (bulkhead !== undefined && !this.seenBulkheads.has(bulkhead)) {
      this.seenBulkheads.add(bulkhead);
      const rejected = set.bulkheadRejected.labels({ bulkhead: bulkhead.name });
      const wait = set.bulkheadQueueWait.labels({ bulkhead: bulkhead.name });
      rejected.inc(0);
      set.bulkheadQueueWait.zero({ bulkhead: bulkhead.name });
      this.subs.push(bulkhead.onReject(() => rejected.inc()));
      this.subs.push(bulkhead.onQueueWait((ms) => wait.observe(ms / 1000)));
    }
    const streams = g.engine.streamStats;
    if (streams !== undefined) this.addStreams(g.name, streams);
    if (g.timeoutMs !== undefined) reasons.push('timeout');
    if (g.shedder !== undefined) reasons.push('overloaded');
    // Zeroed up front so rates and ratios have a series before the first refusal.
    for (const r of reasons) this.rejectionChild(g.name, r).inc(0);
  }

  /** A streaming route's counts, handed to the counters at scrape time (deltas since the last). */
  private addStreams(route: string, stats: StreamStats): void {
    const set = this.set;
    const bytes = set.streamBytes.labels({ route });
    bytes.inc(0);
    const ended = STREAM_ENDS.map((reason) => {
      const c = set.streamsEnded.labels({ route, reason });
      c.inc(0);
      return c;
    });
    const flushed = { bytes: 0, ends: STREAM_ENDS.map(() => 0) };
    this.flushes.push(() => {
      if (stats.bytes > flushed.bytes) bytes.inc(stats.bytes - flushed.bytes);
      flushed.bytes = stats.bytes;
      for (let i = 0; i < STREAM_ENDS.length; i++) {
        const n = stats[STREAM_ENDS[i]!];
        if (n > flushed.ends[i]!) ended[i]!.inc(n - flushed.ends[i]!);
        flushed.ends[i] = n;
      }
    });
  }

  private addBreaker(b: CircuitBreaker): void {
    const set = this.set;
    const calls = {
      success: set.breakerCalls.labels({ breaker: b.name, result: 'success' }),
      failure: set.breakerCalls.labels({ breaker: b.name, result: 'failure' }),
      slow: set.breakerCalls.labels({ breaker: b.name, result: 'slow' }),
      rejected: set.breakerCalls.labels({ breaker: b.name, result: 'rejected' }),
    };
    for (const c of Object.values(calls)) c.inc(0);
    const n = { success: 0, failure: 0, slow: 0, rejected: 0 };
    this.subs.push(b.onCall((r) => n[r]++));
    this.flushes.push(() => {
      for (const r of RESULTS) {
        if (n[r] > 0) calls[r].inc(n[r]);
        n[r] = 0;
      }
    });
    const transitions = new Map<string, { inc(): void }>();
    this.subs.push(
      b.onStateChange((c: StateChange) => {
        const key = c.from + c.to;
        let child = transitions.get(key);
        if (child === undefined) {
          child = set.breakerTransitions.labels({
            breaker: b.name,
            from: STATE_LABEL[c.from],
            to: STATE_LABEL[c.to],
          });
          transitions.set(key, child);
        }
        child.inc();
      }),
    );
  }

  private addPool(p: Pool): void {
    if (this.seenPools.has(p)) return;
    this.seenPools.add(p);
    const set = this.set;
    const pool = p.name;
    const ev = p.events;
    const timeouts = set.poolAcquireTimeouts.labels({ pool });
    const failures = set.poolHealthCheckFailures.labels({ pool });
    timeouts.inc(0);
    failures.inc(0);
    if (ev === undefined) return;
    if (ev.onAcquire) {
      const h = set.poolAcquire.labels({ pool });
      this.subs.push(ev.onAcquire((ms) => h.observe(ms / 1000)));
    }
    if (ev.onAcquireTimeout) this.subs.push(ev.onAcquireTimeout(() => timeouts.inc()));
    if (ev.onHealthCheck) {
      const h = set.poolHealthCheckDuration.labels({ pool });
      this.subs.push(
        ev.onHealthCheck((e) => {
          h.observe(e.durationMs / 1000);
          if (!e.ok) failures.inc();
        }),
      );
    }
    if (ev.onRequestResult) this.subs.push(ev.onRequestResult(resultCounter(set.poolRequests, pool)));
    else if (ev.onRequest) this.subs.push(ev.onRequest(outcomeCounter(set.poolRequests, pool)));
    if (ev.onRequestDuration) {
      const h = set.poolRequestDuration;
      const children = new Map<string, { observe(v: number): void }>();
      this.subs.push(
        ev.onRequestDuration((e) => {
          const key = `${e.method} ${e.statusClass}`;
          let c = children.get(key);
          if (c === undefined) {
            c = h.labels({ pool, method: e.method, status_class: e.statusClass });
            children.set(key, c);
          }
          c.observe(e.durationMs / 1000);
        }),
      );
    }
    if (ev.onRetry) this.subs.push(ev.onRetry(outcomeCounter(set.poolRetries, pool)));
    // Outbound pacing: only a paced pool's stats carry `paceRate` (others fire nothing).
    if (typeof safeStats(p)?.paceRate === 'number') {
      const wait = set.poolPaceWait.labels({ pool });
      const refused = set.poolPaceRefusals.labels({ pool });
      refused.inc(0);
      if (ev.onPaceWait) this.subs.push(ev.onPaceWait((ms) => wait.observe(ms / 1000)));
      if (ev.onPaceRefusal) this.subs.push(ev.onPaceRefusal(() => refused.inc()));
    }
  }

  private rejected(e: RejectionEvent): void {
    this.rejectionChild(e.route, e.reason).inc();
  }

  private rejectionChild(route: string, reason: RejectionReason): { inc(n?: number): void } {
    let byReason = this.rejectionChildren.get(route);
    if (byReason === undefined) this.rejectionChildren.set(route, (byReason = new Map()));
    let child = byReason.get(reason);
    if (child === undefined) {
      child = this.set.rejections.labels({ route, reason });
      byReason.set(reason, child);
    }
    return child;
  }
}

/** A listener counting outcomes of one pool, children cached by outcome. */
function outcomeCounter(counter: MetricSetT['poolRequests'], pool: string): (outcome: string) => void {
  const children = new Map<string, { inc(): void }>();
  return (outcome) => {
    let c = children.get(outcome);
    if (c === undefined) {
      c = counter.labels({ pool, outcome });
      children.set(outcome, c);
    }
    c.inc();
  };
}

/** A listener counting outcomes and status classes of one pool, children cached by both. */
function resultCounter(
  counter: MetricSetT['poolRequests'],
  pool: string,
): (r: { outcome: string; statusClass: string }) => void {
  const children = new Map<string, { inc(): void }>();
  return (r) => {
    const key = `${r.outcome} ${r.statusClass}`;
    let c = children.get(key);
    if (c === undefined) {
      c = counter.labels({ pool, outcome: r.outcome, status_class: r.statusClass });
      children.set(key, c);
    }
    c.inc();
  };
}

function isRegistry(r: unknown, RegistryClass: new () => Registry): r is Registry {
  if (r instanceof RegistryClass) return true;
  const o = r as Partial<Registry> | null;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.registerMetric === 'function' &&
    typeof o.getSingleMetric === 'function' &&
    typeof o.getMetricsAsArray === 'function'
  );
}

function performanceNow(): number {
  return performance.now();
}

/** A pool's stats, or undefined when reading them throws (a closed pool). */
function safeStats(p: Pool): ReturnType<Pool['stats']> | undefined {
  try {
    return p.stats();
  } catch {
    return undefined;
  }
}
