import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type Clock,
  ConfigError,
  type Duration,
  type RateLimitDecision,
  type RateLimitStore,
  type RateLimitWindow,
  REJECTED,
} from '@breakwater/core';
import type { Cluster, Redis } from 'ioredis';
import { withTimeout } from './connection.js';
import { StoreUnavailableError } from './errors.js';
import type { RedisPool } from './RedisPool.js';
import { RATE_LIMIT_LUA, RATE_LIMIT_SHA } from './script.js';
import { checkKeys, expectObject, isPlainObject, optDuration } from './validate.js';

/** Options of a {@link RedisRateLimitStore}: give `client` or `pool`. */
export interface RedisRateLimitStoreOptions {
  /** An ioredis `Redis` or `Cluster` client (left open by `close()`: its owner closes it). */
  client?: Redis | Cluster;
  /** A {@link RedisPool}: decisions go through its shared client. */
  pool?: RedisPool;
  /** Prefix of every key. Default `'bw:'`; the limiter's key follows in a hash tag: `bw:{key}`. */
  prefix?: string;
  /** A decision slower than this fails (and `onStoreError` decides). Default `'50ms'`. */
  timeout?: Duration;
  /**
   * The store's own breaker, so an outage stops costing each request the timeout: options
   * (merged over the defaults: 5 failures in a row or half of the last 20+ calls in 10s
   * open it for 1s, doubling up to 10s) or a breaker to share.
   */
  breaker?: CircuitBreakerOptions | CircuitBreaker;
  /** Decide by this clock instead of Redis's (`TIME`). For tests only: instances' clocks differ. */
  clock?: Clock;
}

/** Counters of a store, for tests and dashboards. */
export interface RedisRateLimitStoreStats {
  /** Decisions Redis made. */
  decisions: number;
  /** Calls that failed (Redis error or timeout), breaker refusals not counted. */
  errors: number;
  timeouts: number;
  /** Calls refused by the open breaker without asking Redis. */
  shortCircuited: number;
  /** Times the script was sent again after NOSCRIPT (a restart or SCRIPT FLUSH). */
  scriptLoads: number;
}

const DEFAULT_BREAKER: CircuitBreakerOptions = {
  consecutiveFailures: 5,
  failureRateThreshold: 0.5,
  minimumCalls: 20,
  window: { kind: 'time', size: '10s' },
  openFor: '1s',
  openForMax: '10s',
};

const ALGORITHM_CODE = { 'token-bucket': 't', 'fixed-window': 'f', 'sliding-window': 's' } as const;

/**
 * The Redis rate-limit store: one EVALSHA per decision covering every window of the
 * route atomically (all admit and consume, or none consumes), by Redis's clock, so any
 * number of instances share one limit exactly. The arithmetic is the memory store's.
 *
 * A key lives at `prefix{key}` (one hash, one Cluster slot) and expires when idle. A
 * decision has `timeout` to finish; failures trip the store's breaker, after which calls
 * are refused at once until it half-opens: in an outage a request pays only the
 * limiter's `onStoreError` fallback. Keys never appear in errors.
 *
 * ```ts
 * const store = new RedisRateLimitStore({ pool, timeout: '50ms' });
 * const bw = breakwater({ store });
 * ```
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly prefix: string;
  readonly timeoutMs: number;
  /** The store's breaker: watch it (`onStateChange`) for alerts. */
  readonly breaker: CircuitBreaker;
  private readonly client: Redis | Cluster;
  private readonly clock: Clock | undefined;
  private readonly argsCache = new WeakMap<readonly RateLimitWindow[], string[]>();
  private readonly counts: RedisRateLimitStoreStats = {
    decisions: 0,
    errors: 0,
    timeouts: 0,
    shortCircuited: 0,
    scriptLoads: 0,
  };

  constructor(options: RedisRateLimitStoreOptions) {
    const path = 'store';
    const o = expectObject(options, path);
    checkKeys(o, ['client', 'pool', 'prefix', 'timeout', 'breaker', 'clock'], path);
    if ((o.client === undefined) === (o.pool === undefined))
      throw new ConfigError(path, Object.keys(o), 'exactly one of client or pool');
    const client = o.pool !== undefined ? (o.pool as RedisPool).client : o.client;
    if (typeof (client as Redis | undefined)?.evalsha !== 'function')
      throw new ConfigError(
        o.pool !== undefined ? `${path}.pool` : `${path}.client`,
        o.pool ?? o.client,
        o.pool !== undefined ? 'a RedisPool' : 'an ioredis Redis or Cluster client',
      );
    this.client = client as Redis | Cluster;
    if (o.prefix !== undefined && (typeof o.prefix !== 'string' || /[{}]/.test(o.prefix)))
      throw new ConfigError(`${path}.prefix`, o.prefix, 'a string without { or }');
    this.prefix = (o.prefix as string | undefined) ?? 'bw:';
    this.timeoutMs = optDuration(o.timeout, `${path}.timeout`, 50, 1); // 50ms
    if (o.breaker instanceof CircuitBreaker) this.breaker = o.breaker;
    else {
      if (o.breaker !== undefined && !isPlainObject(o.breaker))
        throw new ConfigError(`${path}.breaker`, o.breaker, 'breaker options or a CircuitBreaker');
      const bo = { ...DEFAULT_BREAKER, ...(o.breaker as CircuitBreakerOptions | undefined) };
      this.breaker = new CircuitBreaker(bo, 'redis-rate-limit-store', `${path}.breaker`);
    }
    if (
      o.clock !== undefined &&
      (!isPlainObject(o.clock) || typeof (o.clock as Partial<Clock>).now !== 'function')
    )
      throw new ConfigError(`${path}.clock`, o.clock, 'a Clock');
    this.clock = o.clock as Clock | undefined;
  }

  /** Counters since construction (a copy). */
  get stats(): RedisRateLimitStoreStats {
    return { ...this.counts };
  }

  /** The Redis key holding `key`'s state. */
  redisKey(key: string): string {
    return `${this.prefix}{${key}}`;
  }

  /**
   * Decides for `key` over `windows` in one round trip. Rejects with
   * {@link StoreUnavailableError} on timeout, Redis failure, or an open breaker.
   */
  consume(key: string, windows: readonly RateLimitWindow[], cost: number): Promise<RateLimitDecision> {
    if (!(cost >= 0 && cost < Number.POSITIVE_INFINITY))
      return Promise.reject(new RangeError(`cost: expected a finite number >= 0, got ${cost}`));
    const ticket = this.breaker.acquire();
    if (ticket === REJECTED) {
      this.counts.shortCircuited++;
      return Promise.reject(
        new StoreUnavailableError('circuit_open', undefined, this.breaker.retryAfterMs()),
      );
    }
    const start = Date.now();
    const argv = [
      this.redisKey(key),
      this.clock === undefined ? '' : String(this.clock.now()),
      String(cost),
      ...this.windowArgs(windows),
    ];
    return withTimeout(this.evaluate(argv), this.timeoutMs, () => new StoreUnavailableError('timeout')).then(
      (reply) => {
        this.breaker.record(ticket, false, Date.now() - start);
        this.counts.decisions++;
        return parseReply(reply, windows.length);
      },
      (e: unknown) => {
        this.breaker.record(ticket, true, Date.now() - start);
        this.counts.errors++;
        if (e instanceof StoreUnavailableError) {
          this.counts.timeouts++;
          throw e;
        }
        throw new StoreUnavailableError('error', e);
      },
    );
  }

  /** Forgets `key` in every window. */
  async reset(key: string): Promise<void> {
    await withTimeout(
      this.client.del(this.redisKey(key)),
      this.timeoutMs,
      () => new StoreUnavailableError('timeout'),
    );
  }

  /** Nothing to release: the client or pool belongs to whoever created it. */
  close(): void {}

  /** EVALSHA; after NOSCRIPT (Redis restarted, SCRIPT FLUSH) EVAL, which caches the script again. */
  private async evaluate(argv: string[]): Promise<string[]> {
    try {
      return (await this.client.evalsha(RATE_LIMIT_SHA, 1, ...argv)) as string[];
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
      this.counts.scriptLoads++;
      return (await this.client.eval(RATE_LIMIT_LUA, 1, ...argv)) as string[];
    }
  }

  /** The per-window ARGV, computed once per windows array (limiters keep theirs frozen). */
  private windowArgs(windows: readonly RateLimitWindow[]): string[] {
    let a = this.argsCache.get(windows);
    if (a === undefined) {
      a = [String(windows.length)];
      windows.forEach((w, i) => {
        const code = ALGORITHM_CODE[w.algorithm];
        // The field names the window's settings: a changed limit starts that window afresh.
        a!.push(`${i}:${code}:${w.limit}:${w.windowMs}:${w.burst}`, code, String(w.limit));
        a!.push(String(w.windowMs), String(w.burst));
      });
      this.argsCache.set(windows, a);
    }
    return a;
  }
}

function parseReply(r: string[], n: number): RateLimitDecision {
  const d: RateLimitDecision = {
    allowed: r[0] === '1',
    remaining: new Array<number>(n),
    resetMs: new Array<number>(n),
    retryAfterMs: Number(r[1]),
    violated: [],
  };
  for (let i = 0; i < n; i++) {
    d.remaining[i] = Number(r[2 + i * 3]);
    d.resetMs[i] = Number(r[3 + i * 3]);
    if (r[4 + i * 3] === '1') d.violated.push(i);
  }
  return d;
}
