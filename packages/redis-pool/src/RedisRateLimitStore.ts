import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type Clock,
  ConfigError,
  type Duration,
  type RateLimitDecision,
  type RateLimitStore,
} from '@breakwater/core';
import { promiseFor } from '@breakwater/core/adapter';
import {
  DeadlineList,
  type DeadlineNode,
  type RateLimitWindow,
  REJECTED,
  rateLimitAlgorithms,
  systemClock,
} from '@breakwater/core/extend';
import type { Cluster, Redis } from 'ioredis';
import { withTimeout } from './connection.js';
import { StoreUnavailableError } from './errors.js';
import type { RedisPool } from './RedisPool.js';
import { buildScript, MAX_WINDOWS, type RateLimitScript } from './script.js';
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

/**
 * The Redis rate-limit store: one EVALSHA per decision covering every window of the
 * route atomically (all admit and consume, or none consumes), by Redis's clock, so any
 * number of instances share one limit exactly. The arithmetic is the memory store's: the
 * script (generated per set of windows, see script.ts) decides and consumes, and the
 * figures reported back are derived here from the state it returns, with the memory
 * store's own functions.
 *
 * A key lives at `prefix{key}` (one value, one Cluster slot) and expires when idle, within
 * 1.25× its idle time. A decision has `timeout` to finish (one timer serves every call in
 * flight); failures trip the store's breaker, after which calls are refused at once until
 * it half-opens: in an outage a request pays only the limiter's `onStoreError` fallback.
 * Keys never appear in errors.
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
  private readonly scripts = new WeakMap<readonly RateLimitWindow[], RateLimitScript>();
  /** The timeouts of the calls in flight, on the real clock whatever `clock` says. */
  private readonly deadlines = new DeadlineList(systemClock);
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
    if (
      typeof (client as Redis | undefined)?.evalsha !== 'function' ||
      typeof (client as unknown as Partial<BinaryEval> | undefined)?.evalshaBuffer !== 'function'
    )
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
    let script: RateLimitScript;
    try {
      script = this.scriptFor(windows);
    } catch (e) {
      return Promise.reject(e);
    }
    const ticket = this.breaker.acquire();
    if (ticket === REJECTED) {
      this.counts.shortCircuited++;
      return Promise.reject(
        new StoreUnavailableError('circuit_open', undefined, this.breaker.retryAfterMs()),
      );
    }
    const call = new Call(this.expire, script, ticket, windows, cost);
    this.deadlines.add(call, call.start + this.timeoutMs);
    const now = this.clock === undefined ? undefined : String(this.clock.now());
    this.send(call, this.redisKey(key), String(cost), now, false);
    return call.promise;
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

  /**
   * EVALSHA; after NOSCRIPT (Redis restarted, SCRIPT FLUSH) EVAL once, which caches the
   * script again. Replies are binary (doubles), so no string is decoded on the way.
   */
  private send(call: Call, key: string, cost: string, now: string | undefined, reload: boolean): void {
    const s = call.script;
    const c = this.client as unknown as BinaryEval;
    // ARGV: cost, then the injected clock's now; without one the script reads Redis's TIME.
    const reply =
      now === undefined
        ? reload
          ? c.evalBuffer(s.lua, 1, key, cost)
          : c.evalshaBuffer(s.sha, 1, key, cost)
        : reload
          ? c.evalBuffer(s.lua, 1, key, cost, now)
          : c.evalshaBuffer(s.sha, 1, key, cost, now);
    reply.then(
      (buf) => this.settle(call, buf),
      (e: unknown) => {
        if (!reload && !call.done && e instanceof Error && e.message.startsWith('NOSCRIPT')) {
          this.counts.scriptLoads++;
          this.send(call, key, cost, now, true);
        } else this.fail(call, e);
      },
    );
  }

  private settle(call: Call, buf: Buffer): void {
    if (call.done) return; // timed out already
    call.done = true;
    this.deadlines.remove(call);
    let d: RateLimitDecision;
    try {
      d = decisionOf(buf, call.windows, call.cost, call.script.replyBytes);
    } catch (e) {
      this.fail(call, e, true);
      return;
    }
    this.breaker.record(call.ticket, false, this.durationOf(call));
    this.counts.decisions++;
    call.resolve(d);
  }

  /** The call's duration, when the breaker judges durations (a clock read saved otherwise). */
  private durationOf(call: Call): number {
    return this.breaker.timesCalls ? Date.now() - call.start : 0;
  }

  /** Called by the deadline list when a call has had its `timeout` (one function per store). */
  private readonly expire = (call: Call): void => {
    this.counts.timeouts++;
    this.fail(call, new StoreUnavailableError('timeout'));
  };

  private fail(call: Call, e: unknown, settled = false): void {
    if (call.done && !settled) return;
    call.done = true;
    this.deadlines.remove(call);
    this.breaker.record(call.ticket, true, this.durationOf(call));
    this.counts.errors++;
    call.reject(e instanceof StoreUnavailableError ? e : new StoreUnavailableError('error', e));
  }

  /**
   * The script for a windows array, built once per array (limiters keep theirs frozen) and
   * shared by arrays with equal settings, so Redis caches one script per distinct set.
   */
  private scriptFor(windows: readonly RateLimitWindow[]): RateLimitScript {
    let s = this.scripts.get(windows);
    if (s === undefined) {
      const id = windows.map((w) => `${w.algorithm}:${w.limit}:${w.windowMs}:${w.burst}`).join('|');
      s = scriptsBySettings.get(id);
      if (s === undefined) {
        s = buildScript(windows);
        // Settings come from configuration, so there are few; a bound all the same.
        if (scriptsBySettings.size >= 1000) scriptsBySettings.clear();
        scriptsBySettings.set(id, s);
      }
      this.scripts.set(windows, s);
    }
    return s;
  }
}

/**
 * ioredis's EVAL/EVALSHA with binary replies: present on every client at run time but
 * missing from its typings (`callBuffer('EVALSHA', …)` would be typed, but ioredis drops
 * its command name when auto-pipelining).
 */
interface BinaryEval {
  evalshaBuffer(sha: string, numkeys: number, ...args: string[]): Promise<Buffer>;
  evalBuffer(script: string, numkeys: number, ...args: string[]): Promise<Buffer>;
}

/** Scripts by window settings, shared by every store in the process. */
const scriptsBySettings = new Map<string, RateLimitScript>();

const noop = (): void => {};
/**
 * One decision in flight. It is its own node in the store's deadline list: every call of
 * a store shares one timeout, so the deadlines expire in order and one timer serves them
 * all, where a `setTimeout` per call would allocate a timer and touch the timer heap twice.
 */
class Call implements DeadlineNode {
  deadlineAt = 0;
  dlPrev: DeadlineNode | null = null;
  dlNext: DeadlineNode | null = null;
  /** Settled (answered, failed or timed out): a late reply is ignored. */
  done = false;
  readonly start = Date.now();
  readonly promise: Promise<RateLimitDecision>;
  resolve: (d: RateLimitDecision) => void = noop;
  reject: (e: unknown) => void = noop;

  constructor(
    private readonly expire: (call: Call) => void,
    readonly script: RateLimitScript,
    readonly ticket: number,
    readonly windows: readonly RateLimitWindow[],
    readonly cost: number,
  ) {
    this.promise = promiseFor(this);
  }

  onDeadline(): void {
    this.expire(this);
  }
}

const { remaining, waitMs, fullResetMs, SLOTS } = rateLimitAlgorithms;
/** The windows' state while a reply is read (synchronously, so one array serves every call). */
const scratch: number[] = new Array<number>(SLOTS * MAX_WINDOWS).fill(0);

/**
 * The decision from the script's reply, the key's new state (see script.ts). Redis decided
 * and consumed; what is reported back is derived here exactly as the memory store derives
 * it, with the same functions on the same doubles, so the two stores report alike.
 */
function decisionOf(
  b: Buffer,
  windows: readonly RateLimitWindow[],
  cost: number,
  bytes: number,
): RateLimitDecision {
  if (!Buffer.isBuffer(b) || b.length !== bytes)
    throw new Error(
      `unexpected reply from the rate-limit script (${Buffer.isBuffer(b) ? b.length : typeof b})`,
    );
  const now = b.readDoubleLE(16);
  const violated = b.readDoubleLE(24);
  const n = windows.length;
  const s = scratch;
  for (let i = 0, o = 40; i < n; i++, o += 32) {
    s[i * SLOTS] = b.readDoubleLE(o);
    s[i * SLOTS + 1] = b.readDoubleLE(o + 8);
    s[i * SLOTS + 2] = b.readDoubleLE(o + 16);
  }
  const d: RateLimitDecision = {
    allowed: violated === 0,
    remaining: new Array<number>(n),
    resetMs: new Array<number>(n),
    retryAfterMs: 0,
    violated: [],
  };
  for (let i = 0; i < n; i++) {
    const w = windows[i]!;
    const o = i * SLOTS;
    const refused = (violated & (1 << i)) !== 0;
    if (refused) d.violated.push(i);
    const left = remaining(s, o, w, now);
    d.remaining[i] = left;
    // A window that cannot take one more unit reports when it can, not when it is full again.
    const reset = refused
      ? waitMs(s, o, w, now, cost)
      : left < 1
        ? waitMs(s, o, w, now, 1)
        : fullResetMs(s, o, w, now);
    d.resetMs[i] = reset;
    if (refused && reset > d.retryAfterMs) d.retryAfterMs = reset;
  }
  return d;
}
