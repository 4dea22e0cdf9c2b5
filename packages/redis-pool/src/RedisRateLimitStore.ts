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
  type RateLimitBlock,
  type RateLimitKeyState,
  type RateLimitWindow,
  REJECTED,
  rateLimitAlgorithms,
  systemClock,
} from '@breakwater/core/extend';
import type { Cluster, Redis } from 'ioredis';
import { withTimeout } from './connection.js';
import { StoreUnavailableError } from './errors.js';
import { Leases } from './Leases.js';
import type { RedisPool } from './RedisPool.js';
import {
  buildRefundScript,
  buildScript,
  fingerprint,
  MAX_WINDOWS,
  PEEK_LUA,
  PEEK_SHA,
  type RateLimitScript,
  stateBytes,
  windowsByFingerprint,
} from './script.js';
import {
  ioredisBackend,
  isIoredis,
  isNodeRedis,
  isScriptClient,
  nodeRedisBackend,
  type ScriptBackend,
  type ScriptClient,
  scriptClientBackend,
} from './scriptClient.js';
import { keySlot, ownerOf } from './slots.js';
import { checkKeys, expectObject, isPlainObject, optDuration } from './validate.js';

/** Options of a {@link RedisRateLimitStore}: give `client` or `pool`. */
export interface RedisRateLimitStoreOptions {
  /**
   * The client (left open by `close()`: its owner closes it): an ioredis `Redis` or
   * `Cluster` (ioredis 5 or 6, Sentinel configurations included), a node-redis client
   * (`createClient()` of `redis` 5+), or any {@link ScriptClient}.
   */
  client?: Redis | Cluster | ScriptClient | NodeRedisClient;
  /** A {@link RedisPool}: decisions go through its shared client. */
  pool?: RedisPool;
  /** Prefix of every key. Default `'bw:'`; the limiter's key follows in a hash tag: `bw:{key}`. */
  prefix?: string;
  /** A decision slower than this fails (and `onStoreError` decides). Default `'50ms'`. */
  timeout?: Duration;
  /**
   * The store's own breaker, so an outage stops costing each request the timeout: options
   * (merged over the defaults: 5 failures in a row or half of the last 20+ calls in 10s
   * open it for 1s, doubling up to 10s) or a breaker to share. On a Cluster, options give
   * one breaker per master (by the `host:port` serving the key's slot), so losing one
   * shard sends only its keys to the fallback; a breaker given here serves every master.
   */
  breaker?: CircuitBreakerOptions | CircuitBreaker;
  /**
   * Decisions asked for before the client is first ready (connecting at start-up):
   * `'fallback'` rejects them at once with reason `not_ready`, so the limiter's
   * `onStoreError` decides, and the breaker is not charged; `{ wait }` holds each one up
   * to `wait` for the client to become ready, then falls back likewise. After the first
   * `ready`, a client that is reconnecting is an outage: calls go to Redis and the
   * breaker judges them. Default `'fallback'`.
   */
  startup?: 'fallback' | { wait: Duration };
  /**
   * Quota leasing, off by default: a decision takes `size` units of the key's quota from
   * Redis in one round trip and the key's next requests spend them here, without Redis,
   * for up to `ttl`; Redis then sees about one call per `size` decisions of a busy key.
   * The price is bounded overshoot: over any interval, N instances admit at most N ×
   * (size − 1) units per key beyond what the limit allows (a fixed window: L + N × (size − 1)
   * per window), and no unit is spent more than `ttl` after Redis granted it. Near the
   * limit (Redis refuses a lease) requests are decided by Redis one by one. Unspent units
   * expire with the lease: a key used by many instances sees fewer admissions, never more
   * than the bound. A limiter with `block` is decided by Redis one request at a time (a
   * lease refuses locally, where refusals would not count towards a block); `count`'s
   * give-back always goes to Redis.
   */
  lease?: { size: number; ttl: Duration };
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
  /** Calls refused because the client had not been ready yet (cold start), breaker not charged. */
  notReady: number;
  /** With `lease`: decisions paid from a lease held here, without Redis. */
  leaseLocal: number;
  /** With `lease`: leases Redis granted, and refused (fewer than `size` units left). */
  leaseGrants: number;
  leaseRefusals: number;
  /** With `lease`: requests refused here within a refusal's retry-after, without Redis. */
  leaseLocalRefusals: number;
  /**
   * Calls past their timeout when the timer fired, whose reply was waiting and was read
   * on the same turn of the event loop: the delay was the loop's (a stall), not Redis's.
   */
  lagExcused: number;
}

/** The part of a node-redis client (`redis` 5+) the store needs; `createClient()` returns one. */
export interface NodeRedisClient {
  readonly isReady: boolean;
  evalSha(...args: never[]): unknown;
  withTypeMapping(...args: never[]): unknown;
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
 * A key lives at `prefix{key}` (one value, one Cluster slot); every write gives it an
 * expiry, so it goes within 1.25× its idle time whatever was stored there before. A
 * decision has `timeout` to finish (one timer serves every call in flight), timed on
 * Redis's side of the event loop: a call whose deadline passed while the loop was stalled
 * gets the loop's next turn to read a reply already waiting, so a busy loop does not read
 * as an outage. Failures trip the store's breaker (one per master on a Cluster), after
 * which calls are refused at once until it half-opens: in an outage a request pays only
 * the limiter's `onStoreError` fallback. Before the client is first ready, calls fall back
 * without charging the breaker (`startup`). Keys never appear in errors.
 *
 * ```ts
 * const store = new RedisRateLimitStore({ pool, timeout: '50ms' });
 * const bw = breakwater({ store });
 * ```
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly prefix: string;
  readonly supportsBlock = true;
  readonly timeoutMs: number;
  /**
   * The store's breaker: watch it (`onStateChange`) for alerts. On a Cluster with breaker
   * options, the masters' breakers are in {@link breakers}, and this one serves only keys
   * whose slot has no known master (while the slot map is being refreshed).
   */
  readonly breaker: CircuitBreaker;
  /** How long a decision before the first `ready` waits for it; 0: falls back at once. */
  readonly startupWaitMs: number;
  private readonly backend: ScriptBackend;
  private readonly leases: Leases | undefined;
  private readonly clock: Clock | undefined;
  /** Options for the masters' breakers; undefined when one breaker serves every key. */
  private readonly masterBreaker: CircuitBreakerOptions | undefined;
  private readonly byMaster = new Map<string, CircuitBreaker>();
  private readonly scripts = new WeakMap<readonly RateLimitWindow[], RateLimitScript>();
  /** Scripts with `block`, by windows (a limiter's windows come with one block setting). */
  private readonly blockScripts = new WeakMap<readonly RateLimitWindow[], RateLimitScript>();
  private readonly refundScripts = new WeakMap<readonly RateLimitWindow[], { lua: string; sha: string }>();
  /** The timeouts of the calls in flight, on the real clock whatever `clock` says. */
  private readonly deadlines = new DeadlineList(systemClock);
  /** Calls past their deadline, given the loop's next turn to read a waiting reply. */
  private overdue: Call[] = [];
  private overdueCheck: NodeJS.Immediate | undefined;
  /** Latched at the client's first `ready`. */
  private wasReady = false;
  private readyWaiters: Array<() => void> = [];
  private stopReadyWatch: (() => void) | undefined;
  private readonly counts: RedisRateLimitStoreStats = {
    decisions: 0,
    errors: 0,
    timeouts: 0,
    shortCircuited: 0,
    scriptLoads: 0,
    notReady: 0,
    lagExcused: 0,
    leaseLocal: 0,
    leaseGrants: 0,
    leaseRefusals: 0,
    leaseLocalRefusals: 0,
  };

  constructor(options: RedisRateLimitStoreOptions) {
    const path = 'store';
    const o = expectObject(options, path);
    checkKeys(o, ['client', 'pool', 'prefix', 'timeout', 'breaker', 'clock', 'startup', 'lease'], path);
    if ((o.client === undefined) === (o.pool === undefined))
      throw new ConfigError(path, Object.keys(o), 'exactly one of client or pool');
    const client = o.pool !== undefined ? (o.pool as RedisPool).client : o.client;
    if (isIoredis(client)) this.backend = ioredisBackend(client);
    else if (isNodeRedis(client)) this.backend = nodeRedisBackend(client);
    else if (o.pool === undefined && isScriptClient(client)) this.backend = scriptClientBackend(client);
    else
      throw new ConfigError(
        o.pool !== undefined ? `${path}.pool` : `${path}.client`,
        o.pool ?? o.client,
        o.pool !== undefined
          ? 'a RedisPool'
          : 'an ioredis Redis or Cluster client, a node-redis client or a ScriptClient',
      );
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
      if (this.backend.slotMap !== undefined) this.masterBreaker = bo;
    }
    if (
      o.clock !== undefined &&
      (!isPlainObject(o.clock) || typeof (o.clock as Partial<Clock>).now !== 'function')
    )
      throw new ConfigError(`${path}.clock`, o.clock, 'a Clock');
    this.clock = o.clock as Clock | undefined;
    const st = o.startup;
    if (st === undefined || st === 'fallback') this.startupWaitMs = 0;
    else if (isPlainObject(st) && Object.keys(st).every((k) => k === 'wait') && st.wait !== undefined)
      this.startupWaitMs = optDuration(st.wait, `${path}.startup.wait`, 0, 1);
    else throw new ConfigError(`${path}.startup`, st, "'fallback' or { wait: duration }");
    if (o.lease !== undefined) {
      const lp = `${path}.lease`;
      const l = expectObject(o.lease, lp);
      checkKeys(l, ['size', 'ttl'], lp);
      if (!(Number.isInteger(l.size) && (l.size as number) >= 2))
        throw new ConfigError(`${lp}.size`, l.size, 'an integer >= 2');
      if (l.ttl === undefined) throw new ConfigError(`${lp}.ttl`, l.ttl, "a duration like '1s'");
      const ttl = optDuration(l.ttl, `${lp}.ttl`, 0, 1);
      this.leases = new Leases({ size: l.size as number, ttl }, this.clock ?? systemClock, (k, w, c) =>
        this.decideFor(k, w, c),
      );
    }
    this.wasReady = this.backend.isReady();
  }

  /** Counters since construction (a copy). */
  get stats(): RedisRateLimitStoreStats {
    const l = this.leases;
    return l === undefined
      ? { ...this.counts }
      : {
          ...this.counts,
          leaseLocal: l.local,
          leaseGrants: l.granted,
          leaseRefusals: l.refused,
          leaseLocalRefusals: l.localRefusals,
        };
  }

  /**
   * On a Cluster, the breakers of the masters seen so far, by `host:port`; empty on a
   * single node or when one breaker was given for every key.
   */
  get breakers(): ReadonlyMap<string, CircuitBreaker> {
    return this.byMaster;
  }

  /** Whether the client has been ready once: until then calls fall back (see `startup`). */
  get isReady(): boolean {
    return this.wasReady || this.pollReady();
  }

  /** The breaker that judges calls for `key`: its master's on a Cluster, else {@link breaker}. */
  breakerFor(key: string): CircuitBreaker {
    return this.breakerOfRedisKey(this.redisKey(key));
  }

  /** The Redis key holding `key`'s state. */
  redisKey(key: string): string {
    return `${this.prefix}{${key}}`;
  }

  /**
   * Decides for `key` over `windows` in one round trip. Rejects with
   * {@link StoreUnavailableError} on timeout, Redis failure, an open breaker, or before
   * the client was ever ready (`not_ready`).
   */
  consume(
    key: string,
    windows: readonly RateLimitWindow[],
    cost: number,
    block?: RateLimitBlock,
  ): Promise<RateLimitDecision> {
    if (!(cost >= 0 && cost < Number.POSITIVE_INFINITY))
      return Promise.reject(new RangeError(`cost: expected a finite number >= 0, got ${cost}`));
    // A lease spends and refuses locally, where Redis would not count refusals towards a block.
    if (this.leases !== undefined && block === undefined) return this.leases.consume(key, windows, cost);
    return this.decideFor(key, windows, cost, block);
  }

  /** One decision by Redis (or the refusal that stands for it). */
  private decideFor(
    key: string,
    windows: readonly RateLimitWindow[],
    cost: number,
    block?: RateLimitBlock,
  ): Promise<RateLimitDecision> {
    let script: RateLimitScript;
    try {
      script = block === undefined ? this.scriptFor(windows) : this.blockScriptFor(windows, block);
    } catch (e) {
      return Promise.reject(e);
    }
    if (!this.wasReady && !this.pollReady()) return this.beforeReady(key, script, windows, cost, block);
    return this.decide(key, script, windows, cost, block);
  }

  /**
   * Gives `cost` back to `key` in every window, in one atomic script call (see
   * `RateLimitStore.refund`). Rejects like a decision on timeout or Redis failure; the
   * store's breaker is neither asked nor charged (a refund is never on a request's path).
   */
  async refund(key: string, windows: readonly RateLimitWindow[], cost: number): Promise<void> {
    if (!(cost > 0 && cost < Number.POSITIVE_INFINITY)) return;
    let s = this.refundScripts.get(windows);
    if (s === undefined) this.refundScripts.set(windows, (s = buildRefundScript(windows)));
    await this.runOnce(s.lua, s.sha, this.redisKey(key), String(cost));
  }

  /**
   * `key`'s state by Redis's clock, without changing it; undefined when Redis holds none.
   * Windows are read by the settings that wrote them (a `limit` function's limits, when this
   * process has seen them), else as `windows` says.
   */
  async get(
    key: string,
    windows: readonly RateLimitWindow[],
    block?: RateLimitBlock,
  ): Promise<RateLimitKeyState | undefined> {
    const reply = await this.runOnce(PEEK_LUA, PEEK_SHA, this.redisKey(key), '0');
    const b = Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength);
    if (b.length < 8) throw new Error('unexpected reply from the rate-limit peek script');
    const now = b.readDoubleLE(0);
    const n = windows.length;
    const size = stateBytes(n);
    const raw = b.subarray(8);
    if ((raw.length !== size && raw.length !== size + 32) || !(raw.readDoubleLE(0) > now)) return undefined;
    const s: number[] = [];
    const ws: RateLimitWindow[] = [];
    for (let i = 0; i < n; i++) {
      const o = 32 + 32 * i;
      const fp = raw.readDoubleLE(o);
      const w = windows[i]!;
      const known = fingerprint(w) === fp ? w : windowsByFingerprint.get(fp);
      if (known === undefined) {
        // Settings this process never built a script for: the window reads as fresh.
        s.push(
          w.algorithm === 'token-bucket' ? w.burst : 0,
          now - (w.algorithm === 'token-bucket' ? 0 : now % w.windowMs),
          0,
        );
        ws.push(w);
      } else {
        s.push(raw.readDoubleLE(o + 8), raw.readDoubleLE(o + 16), raw.readDoubleLE(o + 24));
        ws.push(known === w ? w : { ...known, name: w.name });
      }
    }
    if (raw.length === size + 32) for (let k = 0; k < 4; k++) s.push(raw.readDoubleLE(size + 8 * k));
    return rateLimitAlgorithms.stateOf(s, ws, block, now);
  }

  /** One script call outside the decision path (refund, get): EVALSHA, EVAL after NOSCRIPT, a timeout. */
  private async runOnce(lua: string, sha: string, rk: string, arg: string): Promise<Uint8Array> {
    const now = this.clock === undefined ? undefined : String(this.clock.now());
    const run = (reload: boolean) =>
      withTimeout(
        Promise.resolve(this.backend.run(lua, sha, reload, rk, arg, now)),
        this.timeoutMs,
        () => new StoreUnavailableError('timeout'),
      );
    try {
      return await run(false);
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('NOSCRIPT')) {
        this.counts.scriptLoads++;
        return run(true);
      }
      throw e;
    }
  }

  /** Forgets `key` in every window (and the lease held for it here). */
  async reset(key: string): Promise<void> {
    this.leases?.forget(key);
    await withTimeout(
      Promise.resolve(this.backend.del(this.redisKey(key))),
      this.timeoutMs,
      () => new StoreUnavailableError('timeout'),
    );
  }

  /**
   * Stops watching the client for `ready` and fails the calls waiting for it; the client
   * or pool itself belongs to whoever created it.
   */
  close(): void {
    this.stopReadyWatch?.();
    this.stopReadyWatch = undefined;
    for (const w of this.readyWaiters.splice(0)) w();
  }

  private decide(
    key: string,
    script: RateLimitScript,
    windows: readonly RateLimitWindow[],
    cost: number,
    block?: RateLimitBlock,
  ): Promise<RateLimitDecision> {
    const rk = this.redisKey(key);
    const breaker = this.breakerOfRedisKey(rk);
    const ticket = breaker.acquire();
    if (ticket === REJECTED) {
      this.counts.shortCircuited++;
      return Promise.reject(new StoreUnavailableError('circuit_open', undefined, breaker.retryAfterMs()));
    }
    const call = new Call(this.expire, script, breaker, ticket, windows, cost, block);
    this.deadlines.add(call, call.start + this.timeoutMs);
    const now = this.clock === undefined ? undefined : String(this.clock.now());
    this.send(call, rk, String(cost), now, false);
    return call.promise;
  }

  private breakerOfRedisKey(rk: string): CircuitBreaker {
    const map = this.masterBreaker === undefined ? undefined : this.backend.slotMap;
    if (map === undefined) return this.breaker;
    const owner = ownerOf(map, keySlot(rk));
    if (owner === undefined) return this.breaker;
    let b = this.byMaster.get(owner);
    if (b === undefined) {
      // Failovers bring new addresses; a bound all the same.
      if (this.byMaster.size >= 1024) this.byMaster.clear();
      b = new CircuitBreaker(this.masterBreaker!, `redis-rate-limit-store:${owner}`, 'store.breaker');
      this.byMaster.set(owner, b);
    }
    return b;
  }

  /** Reads the client's state; latches the first `ready`. */
  private pollReady(): boolean {
    if (this.wasReady) return true;
    if (!this.backend.isReady()) return false;
    this.becameReady();
    return true;
  }

  private becameReady(): void {
    this.wasReady = true;
    this.stopReadyWatch?.();
    this.stopReadyWatch = undefined;
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /**
   * A call before the client was ever ready: no breaker is charged (a cold start is not
   * an outage). It falls back at once, or waits up to `startup.wait` for `ready`.
   */
  private beforeReady(
    key: string,
    script: RateLimitScript,
    windows: readonly RateLimitWindow[],
    cost: number,
    block: RateLimitBlock | undefined,
  ): Promise<RateLimitDecision> {
    this.backend.connect();
    if (this.startupWaitMs === 0) {
      this.counts.notReady++;
      return Promise.reject(new StoreUnavailableError('not_ready'));
    }
    this.stopReadyWatch ??= this.backend.onReady(() => this.becameReady());
    return new Promise<RateLimitDecision>((resolve, reject) => {
      const wake = (): void => {
        clearTimeout(t);
        const i = this.readyWaiters.indexOf(wake);
        if (i >= 0) this.readyWaiters.splice(i, 1);
        if (this.pollReady()) this.decide(key, script, windows, cost, block).then(resolve, reject);
        else {
          this.counts.notReady++;
          reject(new StoreUnavailableError('not_ready'));
        }
      };
      const t = setTimeout(wake, this.startupWaitMs);
      t.unref();
      this.readyWaiters.push(wake);
    });
  }

  /**
   * EVALSHA; after NOSCRIPT (Redis restarted, SCRIPT FLUSH) EVAL once, which caches the
   * script again. Replies are binary (doubles), so no string is decoded on the way.
   */
  private send(call: Call, key: string, cost: string, now: string | undefined, reload: boolean): void {
    const s = call.script;
    // ARGV: cost, then the injected clock's now; without one the script reads Redis's TIME.
    this.backend.run(s.lua, s.sha, reload, key, cost, now).then(
      (buf) => this.settle(call, buf),
      (e: unknown) => {
        if (!reload && !call.done && e instanceof Error && e.message.startsWith('NOSCRIPT')) {
          this.counts.scriptLoads++;
          this.send(call, key, cost, now, true);
        } else this.fail(call, e);
      },
    );
  }

  private settle(call: Call, buf: Uint8Array): void {
    if (call.done) return; // timed out already
    call.done = true;
    this.deadlines.remove(call);
    if (call.overdue) this.counts.lagExcused++;
    let d: RateLimitDecision;
    try {
      d = decisionOf(buf, call.windows, call.cost, call.script.replyBytes, call.block);
    } catch (e) {
      this.fail(call, e, true);
      return;
    }
    call.breaker.record(call.ticket, false, this.durationOf(call));
    this.counts.decisions++;
    call.resolve(d);
  }

  /** The call's duration, when the breaker judges durations (a clock read saved otherwise). */
  private durationOf(call: Call): number {
    return call.breaker.timesCalls ? Date.now() - call.start : 0;
  }

  /**
   * Called by the deadline list when a call has had its `timeout` (one function per
   * store). The timer may fire late, after the loop was busy elsewhere, while the reply
   * sits unread in the socket: timers run before the loop polls for I/O. So the call is
   * failed only on the check phase of this turn, after the poll phase has read what
   * arrived; one `setImmediate` serves every call that fell due together.
   */
  private readonly expire = (call: Call): void => {
    call.overdue = true;
    this.overdue.push(call);
    this.overdueCheck ??= setImmediate(this.failOverdue);
  };

  private readonly failOverdue = (): void => {
    this.overdueCheck = undefined;
    const due = this.overdue;
    this.overdue = [];
    for (const call of due) {
      if (call.done) continue;
      this.counts.timeouts++;
      this.fail(call, new StoreUnavailableError('timeout'));
    }
  };

  private fail(call: Call, e: unknown, settled = false): void {
    if (call.done && !settled) return;
    call.done = true;
    this.deadlines.remove(call);
    call.breaker.record(call.ticket, true, this.durationOf(call));
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

  /** {@link scriptFor} with `block` (its settings are part of the script). */
  private blockScriptFor(windows: readonly RateLimitWindow[], block: RateLimitBlock): RateLimitScript {
    let s = this.blockScripts.get(windows);
    if (s === undefined) {
      const id = `${windows.map((w) => `${w.algorithm}:${w.limit}:${w.windowMs}:${w.burst}`).join('|')}#${block.after}:${block.forMs}:${block.growth}:${block.maxMs}:${block.windowMs}`;
      s = scriptsBySettings.get(id);
      if (s === undefined) {
        s = buildScript(windows, block);
        if (scriptsBySettings.size >= 1000) scriptsBySettings.clear();
        scriptsBySettings.set(id, s);
      }
      this.blockScripts.set(windows, s);
    }
    return s;
  }
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
  /** Its deadline passed; it fails on this turn's check phase unless the reply is read first. */
  overdue = false;
  readonly start = Date.now();
  readonly promise: Promise<RateLimitDecision>;
  resolve: (d: RateLimitDecision) => void = noop;
  reject: (e: unknown) => void = noop;

  constructor(
    private readonly expire: (call: Call) => void,
    readonly script: RateLimitScript,
    readonly breaker: CircuitBreaker,
    readonly ticket: number,
    readonly windows: readonly RateLimitWindow[],
    readonly cost: number,
    readonly block: RateLimitBlock | undefined,
  ) {
    this.promise = promiseFor(this);
  }

  onDeadline(): void {
    this.expire(this);
  }
}
const { reportWindow, SLOTS } = rateLimitAlgorithms;
/** The windows' state while a reply is read (synchronously, so one array serves every call). */
const scratch: number[] = new Array<number>(SLOTS * MAX_WINDOWS).fill(0);

/**
 * The decision from the script's reply, the key's new state (see script.ts). Redis decided
 * and consumed; what is reported back is derived here exactly as the memory store derives
 * it, with the same functions on the same doubles, so the two stores report alike.
 */
function decisionOf(
  reply: Uint8Array,
  windows: readonly RateLimitWindow[],
  cost: number,
  bytes: number,
  block?: RateLimitBlock,
): RateLimitDecision {
  const b = Buffer.isBuffer(reply)
    ? reply
    : reply instanceof Uint8Array
      ? Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength)
      : undefined;
  if (b === undefined || b.length !== bytes)
    throw new Error(
      `unexpected reply from the rate-limit script (${b === undefined ? typeof reply : b.length})`,
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
    reportWindow(d, i, s, o, w, now, cost, refused);
  }
  if (block !== undefined) {
    // The block's `until` follows the windows: in a block (or at its start) every window says when it ends.
    const until = b.readDoubleLE(32 + 32 * n + 16);
    if (until > now) {
      const blocked = until - now;
      d.violated = [];
      for (let i = 0; i < n; i++) {
        d.remaining[i] = 0;
        d.resetMs[i] = blocked;
        d.violated.push(i);
      }
      d.retryAfterMs = blocked;
      d.blockedMs = blocked;
    }
  }
  return d;
}
