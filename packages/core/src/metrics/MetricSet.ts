import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { Bulkhead } from '../bulkhead/Bulkhead.js';
import type { Pool } from '../pools/types.js';
import { MetricsConflictError } from './MetricsConflictError.js';
import { promClient } from './promClient.js';
import { RequestHistogram } from './RequestHistogram.js';

/** What one Breakwater instance offers the scrape-time gauges. */
export interface MetricsSource {
  breakers(): Iterable<CircuitBreaker>;
  bulkheads(): Iterable<Bulkhead>;
  pools(): readonly Pool[];
  /** Adds counts kept between scrapes to the counters (called by their `collect`). */
  flushCounts?(): void;
}

/** Label value of a breaker state in `breakwater_circuit_breaker_state`. */
export const BREAKER_STATE_VALUE = { closed: 0, open: 1, 'half-open': 2 } as const;

/** Seconds: request latencies from 5 ms to 10 s (prom-client's defaults). */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds: waits for a slot or a connection, from 1 ms to 5 s. */
const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** How long the `pool_healthy` gauge waits on `pool.health()` during a scrape. */
const POOL_HEALTH_SCRAPE_TIMEOUT_MS = 1000; // 1s

// Symbol.for: two copies of Breakwater (an ESM and a CJS import) find each other's sets.
const kSets = Symbol.for('breakwater.metricSets.v1');

type Labeled = Registry & { [kSets]?: Map<string, MetricSet> };

/**
 * Breakwater's metrics in one registry under one prefix, shared by every Breakwater
 * instance attached to it: counters add up, and the scrape-time gauges report the live
 * policies of every attached instance. Created once per (registry, prefix); a later
 * instance on the same registry reuses it instead of crashing on "already registered".
 */
export class MetricSet {
  readonly sources = new Set<MetricsSource>();
  readonly requestDuration: RequestHistogram;
  readonly rejections: Counter<'route' | 'reason'>;
  readonly fallbacks: Counter<'route' | 'reason' | 'result'>;
  readonly streamBytes: Counter<'route'>;
  readonly streamsEnded: Counter<'route' | 'reason'>;
  readonly rateLimitRequests: Counter<'limiter' | 'result'>;
  readonly breakerState: Gauge<'breaker'>;
  readonly breakerTransitions: Counter<'breaker' | 'from' | 'to'>;
  readonly breakerCalls: Counter<'breaker' | 'result'>;
  readonly bulkheadActive: Gauge<'bulkhead'>;
  readonly bulkheadQueued: Gauge<'bulkhead'>;
  readonly bulkheadLimit: Gauge<'bulkhead'>;
  readonly bulkheadRejected: Counter<'bulkhead'>;
  readonly bulkheadQueueWait: Histogram<'bulkhead'>;
  readonly poolConnections: Gauge<'pool' | 'state'>;
  readonly poolPending: Gauge<'pool'>;
  readonly poolMax: Gauge<'pool'>;
  readonly poolAcquire: Histogram<'pool'>;
  readonly poolAcquireTimeouts: Counter<'pool'>;
  readonly poolHealthy: Gauge<'pool'>;
  readonly poolHealthCheckDuration: Histogram<'pool'>;
  readonly poolHealthCheckFailures: Counter<'pool'>;
  readonly poolRequests: Counter<'pool' | 'outcome' | 'status_class'>;
  readonly poolRequestDuration: Histogram<'pool' | 'method' | 'status_class'>;
  readonly poolRetries: Counter<'pool' | 'outcome'>;
  readonly poolPaceRate: Gauge<'pool'>;
  readonly poolPaceWait: Histogram<'pool'>;
  readonly poolPaceRefusals: Counter<'pool'>;

  /** The set for `registry` and `prefix`, created on first use. */
  static for(registry: Registry, prefix: string): MetricSet {
    const r = registry as Labeled;
    let sets = r[kSets];
    const existing = sets?.get(prefix);
    // Reuse unless the registry was cleared since (tests often `register.clear()`).
    if (
      existing &&
      (registry.getSingleMetric(`${prefix}http_request_duration_seconds`) as unknown) ===
        existing.requestDuration
    )
      return existing;
    for (const name of metricNames(prefix))
      if (registry.getSingleMetric(name) !== undefined) throw new MetricsConflictError(name);
    const set = new MetricSet(registry, prefix);
    if (sets === undefined) {
      sets = new Map();
      Object.defineProperty(r, kSets, { value: sets, enumerable: false });
    }
    sets.set(prefix, set);
    return set;
  }

  private constructor(registry: Registry, p: string) {
    const { Counter, Gauge, Histogram } = promClient();
    const registers = [registry];
    const sources = this.sources;
    // Decisions and breaker calls are counted in plain numbers and handed over at scrape time.
    const flushCounts = () => {
      for (const s of sources) s.flushCounts?.();
    };
    this.requestDuration = new RequestHistogram(
      `${p}http_request_duration_seconds`,
      'Duration of HTTP requests in seconds, by method, matched route pattern and status code',
      REQUEST_BUCKETS,
      registry,
    );
    this.rejections = new Counter({
      name: `${p}rejections_total`,
      help: 'Requests refused by a policy, by route and reason',
      labelNames: ['route', 'reason'],
      registers,
    });
    this.fallbacks = new Counter({
      name: `${p}fallbacks_total`,
      help: 'Fallback answers of a route, by reason and result (served, failed: the default answer went out)',
      labelNames: ['route', 'reason', 'result'],
      registers,
    });
    this.streamBytes = new Counter({
      name: `${p}stream_bytes_total`,
      help: 'Body bytes written by streaming answers (routes with timeout.firstByte or timeout.idle), by route',
      labelNames: ['route'],
      registers,
      collect: flushCounts,
    });
    this.streamsEnded = new Counter({
      name: `${p}streams_ended_total`,
      help: 'Streaming answers ended, by route and reason (completed, idle, client_gone, error)',
      labelNames: ['route', 'reason'],
      registers,
      collect: flushCounts,
    });
    this.rateLimitRequests = new Counter({
      name: `${p}rate_limit_requests_total`,
      help: 'Rate-limit decisions, by limiter and result (allowed, limited)',
      labelNames: ['limiter', 'result'],
      registers,
      collect: flushCounts,
    });
    this.breakerState = new Gauge({
      name: `${p}circuit_breaker_state`,
      help: 'Circuit breaker state: 0 closed, 1 open, 2 half-open',
      labelNames: ['breaker'],
      registers,
      collect() {
        this.reset();
        for (const s of sources)
          for (const b of s.breakers()) this.set({ breaker: b.name }, BREAKER_STATE_VALUE[b.state]);
      },
    });
    this.breakerTransitions = new Counter({
      name: `${p}circuit_breaker_transitions_total`,
      help: 'Circuit breaker state changes, by breaker, from and to',
      labelNames: ['breaker', 'from', 'to'],
      registers,
    });
    this.breakerCalls = new Counter({
      name: `${p}circuit_breaker_calls_total`,
      help: 'Calls through a circuit breaker, by result (success, failure, slow, rejected)',
      labelNames: ['breaker', 'result'],
      registers,
      collect: flushCounts,
    });
    const bulkheadGauge = (name: string, help: string, read: (b: Bulkhead) => number) =>
      new Gauge({
        name: `${p}bulkhead_${name}`,
        help,
        labelNames: ['bulkhead'],
        registers,
        collect() {
          this.reset();
          for (const s of sources) for (const b of s.bulkheads()) this.set({ bulkhead: b.name }, read(b));
        },
      });
    this.bulkheadActive = bulkheadGauge('active', 'Calls running in the bulkhead', (b) => b.activeCount);
    this.bulkheadQueued = bulkheadGauge('queued', 'Calls waiting for a bulkhead slot', (b) => b.queuedCount);
    this.bulkheadLimit = bulkheadGauge(
      'limit',
      'Most calls the bulkhead runs at once (an adaptive bulkhead: its limit now)',
      (b) => b.limit,
    );
    this.bulkheadRejected = new Counter({
      name: `${p}bulkhead_rejected_total`,
      help: 'Calls the bulkhead refused (full, or queue wait expired)',
      labelNames: ['bulkhead'],
      registers,
    });
    this.bulkheadQueueWait = new Histogram({
      name: `${p}bulkhead_queue_wait_seconds`,
      help: 'Time queued calls waited for a bulkhead slot, in seconds',
      labelNames: ['bulkhead'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.poolConnections = new Gauge({
      name: `${p}pool_connections`,
      help: 'Pool connections, by state (active, idle)',
      labelNames: ['pool', 'state'],
      registers,
      collect() {
        this.reset();
        forEachPoolStats(sources, (pool, s) => {
          this.set({ pool, state: 'active' }, s.active);
          this.set({ pool, state: 'idle' }, s.idle);
        });
      },
    });
    this.poolPending = new Gauge({
      name: `${p}pool_pending_acquires`,
      help: 'Callers waiting for a pool connection',
      labelNames: ['pool'],
      registers,
      collect() {
        this.reset();
        forEachPoolStats(sources, (pool, s) => this.set({ pool }, s.pending));
      },
    });
    this.poolMax = new Gauge({
      name: `${p}pool_max_connections`,
      help: 'Most connections the pool will open',
      labelNames: ['pool'],
      registers,
      collect() {
        this.reset();
        forEachPoolStats(sources, (pool, s) => this.set({ pool }, s.max));
      },
    });
    this.poolAcquire = new Histogram({
      name: `${p}pool_acquire_duration_seconds`,
      help: 'Time callers waited for a pool connection, in seconds',
      labelNames: ['pool'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.poolAcquireTimeouts = new Counter({
      name: `${p}pool_acquire_timeouts_total`,
      help: 'Acquires that gave up waiting for a pool connection',
      labelNames: ['pool'],
      registers,
    });
    this.poolHealthy = new Gauge({
      name: `${p}pool_healthy`,
      help: 'Whether the pool is healthy (1) or not (0), by its background health checks',
      labelNames: ['pool'],
      registers,
      async collect() {
        const pools: Pool[] = [];
        for (const s of sources) pools.push(...s.pools());
        const healthy = await Promise.all(pools.map(poolHealthy));
        this.reset();
        for (let i = 0; i < pools.length; i++) this.set({ pool: pools[i]!.name }, healthy[i]!);
      },
    });
    this.poolHealthCheckDuration = new Histogram({
      name: `${p}pool_health_check_duration_seconds`,
      help: 'Duration of pool background health checks, in seconds',
      labelNames: ['pool'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.poolHealthCheckFailures = new Counter({
      name: `${p}pool_health_check_failures_total`,
      help: 'Pool background health checks that failed',
      labelNames: ['pool'],
      registers,
    });
    this.poolRequests = new Counter({
      name: `${p}pool_requests_total`,
      help: 'Requests through a pool, by outcome and status class (2xx..5xx, or error without an answer)',
      labelNames: ['pool', 'outcome', 'status_class'],
      registers,
    });
    this.poolRequestDuration = new Histogram({
      name: `${p}pool_request_duration_seconds`,
      help: 'Duration of requests through a pool (retries included; a streamed one until its body ends), in seconds',
      labelNames: ['pool', 'method', 'status_class'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.poolRetries = new Counter({
      name: `${p}pool_retries_total`,
      help: 'Retried attempts through a pool, by the outcome that caused the retry',
      labelNames: ['pool', 'outcome'],
      registers,
    });
    // Outbound pacing (HttpPool `pace`): only pools whose stats carry `paceRate` report it.
    this.poolPaceRate = new Gauge({
      name: `${p}pool_pace_rate`,
      help: 'Current outbound pace of a pool, in calls per second',
      labelNames: ['pool'],
      registers,
      collect() {
        this.reset();
        forEachPoolStats(sources, (pool, s) => {
          if (typeof s.paceRate === 'number') this.set({ pool }, s.paceRate);
        });
      },
    });
    this.poolPaceWait = new Histogram({
      name: `${p}pool_pace_wait_seconds`,
      help: 'Time calls waited for an outbound pacing token, in seconds',
      labelNames: ['pool'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.poolPaceRefusals = new Counter({
      name: `${p}pool_pace_refusals_total`,
      help: 'Calls refused because outbound pacing would make them wait longer than allowed',
      labelNames: ['pool'],
      registers,
    });
  }
}

/** Every metric name of a set under `prefix`. */
export function metricNames(p: string): string[] {
  return [
    'http_request_duration_seconds',
    'rejections_total',
    'fallbacks_total',
    'stream_bytes_total',
    'streams_ended_total',
    'rate_limit_requests_total',
    'circuit_breaker_state',
    'circuit_breaker_transitions_total',
    'circuit_breaker_calls_total',
    'bulkhead_active',
    'bulkhead_queued',
    'bulkhead_limit',
    'bulkhead_rejected_total',
    'bulkhead_queue_wait_seconds',
    'pool_connections',
    'pool_pending_acquires',
    'pool_max_connections',
    'pool_acquire_duration_seconds',
    'pool_acquire_timeouts_total',
    'pool_healthy',
    'pool_health_check_duration_seconds',
    'pool_health_check_failures_total',
    'pool_requests_total',
    'pool_request_duration_seconds',
    'pool_retries_total',
    'pool_pace_rate',
    'pool_pace_wait_seconds',
    'pool_pace_refusals_total',
  ].map((n) => p + n);
}

function forEachPoolStats(
  sources: Iterable<MetricsSource>,
  fn: (pool: string, stats: ReturnType<Pool['stats']>) => void,
): void {
  for (const s of sources)
    for (const pool of s.pools()) {
      let stats: ReturnType<Pool['stats']>;
      try {
        stats = pool.stats();
      } catch {
        // A closed or broken pool must not break the whole scrape.
        continue;
      }
      fn(pool.name, stats);
    }
}

/** 1 unless the pool's latest health is `fail` (or it cannot say within a second). */
async function poolHealthy(pool: Pool): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const h = await Promise.race([
      pool.health(),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(resolve, POOL_HEALTH_SCRAPE_TIMEOUT_MS, undefined);
        timer.unref();
      }),
    ]);
    return h !== undefined && h.status !== 'fail' ? 1 : 0;
  } catch {
    return 0;
  } finally {
    clearTimeout(timer);
  }
}
