import type { Pool, PoolHealth, PoolStats } from '@breakwater/core';
import { Emitter, type PoolEvents, type PoolHealthCheckEvent, PoolLifecycle } from '@breakwater/core/extend';
import genericPool from 'generic-pool';
import { Cluster } from 'ioredis';
import { Backoff } from './Backoff.js';
import {
  createDedicated,
  createSharedClient,
  endGracefully,
  endNow,
  nodesOf,
  pingAll,
  probeCluster,
  type RedisConnection,
  withTimeout,
} from './connection.js';
import {
  isPoolAcquireTimeoutError,
  PoolAcquireTimeoutError,
  PoolQueueFullError,
  PoolUnavailableError,
} from './errors.js';
import { HealthMonitor, type ProbeResult } from './HealthMonitor.js';
import { type RedisPoolOptions, type ResolvedPoolOptions, resolvePoolOptions } from './options.js';

/** A dedicated connection and what the pool knows of it. */
interface Lease {
  readonly conn: RedisConnection;
  readonly createdAt: number;
  /** Set when a health check PING failed: the connection is replaced at its next loan. */
  broken: boolean;
}

/** A caller waiting for a connection; `fail` rejects it at once (Redis down, pool closing). */
interface Waiter {
  fail(e: Error): void;
}

const noop = (): void => {};

/**
 * A Redis pool: one shared ioredis client (`client`, auto-pipelined) for ordinary
 * commands, and dedicated connections lent by `use()` for blocking commands,
 * WATCH/MULTI and subscribers, from a generic-pool of `min`..`max`.
 *
 * generic-pool's faults are kept behind this interface: a failing connect backs off
 * (generic-pool would call `create` again at once, spinning a core, for as long as
 * callers wait); while Redis is down waiting callers fail at once with
 * {@link PoolUnavailableError} instead of hanging; a command error inside `use()` does
 * not destroy a healthy connection; explicit zeros keep their meaning; `close()` drains
 * and then clears. A background PING over the shared client and the idle dedicated
 * connections marks the pool unhealthy after `unhealthyThreshold` failures in a row and
 * healthy again after `healthyThreshold` successes; the pool recovers by itself.
 *
 * ```ts
 * const pool = bw.pools.add(new RedisPool({ name: 'cache', url: 'redis://127.0.0.1:6379', max: 10 }));
 * await pool.client.set('k', 'v');
 * await pool.use(async (conn) => { await conn.watch('k'); ... });
 * ```
 */
export class RedisPool implements Pool {
  readonly name: string;
  readonly critical: boolean;
  /** The options after validation and defaults, in milliseconds. */
  readonly options: Readonly<ResolvedPoolOptions>;
  /** The shared client for ordinary commands. Do not block it (BLPOP…) or put it in subscriber mode: use `use()`. */
  readonly client: RedisConnection;
  readonly events: PoolEvents;
  private readonly gp: genericPool.Pool<Lease>;
  private readonly all = new Set<Lease>();
  private readonly lent = new Set<Lease>();
  private readonly waiters = new Set<Waiter>();
  private readonly sleepers = new Set<() => void>();
  private readonly backoff: Backoff;
  private readonly monitor: HealthMonitor;
  private readonly acquireEmitter = new Emitter<number>();
  private readonly acquireTimeoutEmitter = new Emitter<void>();
  private readonly healthEmitter = new Emitter<PoolHealthCheckEvent>();
  private readonly requestEmitter = new Emitter<string>();
  /** Open → closing → closed, or destroyed. Past its drain, creates must not connect any more. */
  private readonly lifecycle: PoolLifecycle;
  /** Set when connects fail or checks mark Redis unreachable; cleared when either succeeds. */
  private down = false;
  private lastError: unknown;
  private connectFailures = 0;
  /** generic-pool's drain, started once by close() or destroy(). */
  private draining: Promise<void> | undefined;
  /** The single connect in flight while connects are failing; resolves true if it succeeded. */
  private trial: Promise<boolean> | undefined;

  constructor(options: RedisPoolOptions = {}) {
    const o = resolvePoolOptions(options);
    this.options = o;
    this.name = o.name;
    this.critical = o.critical;
    this.events = {
      onAcquire: this.acquireEmitter.event,
      onAcquireTimeout: this.acquireTimeoutEmitter.event,
      onHealthCheck: this.healthEmitter.event,
      onRequest: this.requestEmitter.event,
    };
    this.lifecycle = new PoolLifecycle(o.name, {
      drain: (signal) => this.drain(signal),
      release: () => this.release(false),
      destroy: () => {
        this.stopTaking();
        return this.release(true);
      },
    });
    this.backoff = new Backoff(o.backoffInitialMs, o.backoffMaxMs);
    this.client = createSharedClient(o);
    // Errors reach callers through their commands and the pool through its health check.
    this.client.on('error', noop);

    this.gp = genericPool.createPool<Lease>(
      { create: () => this.create(), destroy: async (l) => this.end(l) },
      {
        min: o.min,
        max: o.max,
        // Our own timer bounds each wait; generic-pool's cleans up waits we have given up on.
        acquireTimeoutMillis: o.acquireTimeoutMs,
        // 0 means "keep idle connections": no evictor at all (generic-pool would read 0 as 30s).
        evictionRunIntervalMillis: o.idleTimeoutMs > 0 ? Math.min(o.idleTimeoutMs, 1000) : 0,
        idleTimeoutMillis: o.idleTimeoutMs > 0 ? o.idleTimeoutMs : Number.MAX_SAFE_INTEGER,
        numTestsPerEvictionRun: o.max,
      },
    );
    // Failures are handled in create(); without a listener generic-pool's emitter would be silent anyway.
    this.gp.on('factoryCreateError', noop);
    this.gp.on('factoryDestroyError', noop);

    const hc = o.healthCheck ?? {
      intervalMs: 10_000,
      timeoutMs: o.probeTimeoutMs,
      unhealthyThreshold: 1,
      healthyThreshold: 1,
      jitter: 0,
    };
    this.monitor = new HealthMonitor(
      () => this.probe(),
      hc,
      (e, healthy, changed) => this.onCheck(e, healthy, changed),
    );
    if (o.healthCheck !== undefined) this.monitor.start();
  }

  /**
   * Lends a dedicated connection to `fn` and takes it back when `fn` settles, whatever
   * happens; UNWATCH is sent before it is lent again. A connection is closed instead of
   * reused only when it is broken (dropped, in subscriber or MULTI state, another
   * database selected, or older than `maxLifetime`): an error from a command is not that.
   *
   * Rejects with {@link PoolAcquireTimeoutError}, {@link PoolQueueFullError},
   * {@link PoolUnavailableError} (Redis down) or {@link PoolClosedError}.
   */
  async use<T>(fn: (conn: RedisConnection) => T | PromiseLike<T>): Promise<T> {
    let lease: Lease;
    try {
      lease = await this.acquire();
    } catch (e) {
      if (this.requestEmitter.size > 0)
        this.requestEmitter.fire(isPoolAcquireTimeoutError(e) ? 'timeout' : 'rejected');
      throw e;
    }
    let ok = false;
    try {
      const v = await fn(lease.conn);
      ok = true;
      return v;
    } finally {
      if (this.requestEmitter.size > 0) this.requestEmitter.fire(ok ? 'success' : 'failure');
      // Awaited (it never rejects): when use() settles the connection is back, so the
      // caller's next use() or close() sees it.
      await this.giveBack(lease);
    }
  }

  stats(): PoolStats {
    return {
      active: this.lent.size,
      idle: this.gp.available,
      pending: this.waiters.size,
      max: this.options.max,
      min: this.options.min,
      size: this.gp.size,
      healthy: this.monitor.isHealthy && !this.down ? 1 : 0,
      // Failed connects of dedicated connections since start.
      connectFailures: this.connectFailures,
    };
  }

  /**
   * The health the background checks see (pass, warn while failing below the threshold,
   * fail); before the first check completes, or without background checks, a live PING
   * bounded by the check timeout.
   */
  async health(): Promise<PoolHealth> {
    if (!this.lifecycle.isOpen)
      return { status: 'fail', output: 'pool closed', time: new Date().toISOString() };
    if (this.options.healthCheck === undefined || !this.monitor.hasResult) await this.monitor.check();
    return this.monitor.report();
  }

  /**
   * Graceful: refuses new loans, fails waiting callers, waits (up to `closeTimeout`) for
   * lent connections to come back, then closes every connection and the shared client.
   * Safe to call twice.
   */
  close(): Promise<void> {
    return this.lifecycle.close();
  }

  /**
   * Immediate: closes every connection now, lent ones included, in the middle of a
   * close too (whose promise then settles). Safe to call twice.
   */
  destroy(): Promise<void> {
    return this.lifecycle.destroy();
  }

  private async acquire(): Promise<Lease> {
    const start = performance.now();
    const deadline = start + this.options.acquireTimeoutMs;
    // A broken idle connection is dropped and the next one tried, within the same deadline.
    for (;;) {
      this.lifecycle.assertOpen();
      const gp = this.gp;
      const free = gp.available > 0 || gp.spareResourceCapacity > 0;
      if (this.down && gp.available === 0) {
        const wait = this.backoff.waitMs(Date.now());
        if (wait > 0) throw new PoolUnavailableError(this.name, this.lastError, wait);
      }
      if (!free && this.waiters.size >= this.options.maxWaitingClients)
        throw new PoolQueueFullError(this.name, this.options.maxWaitingClients);
      const lease = await this.wait(deadline);
      if (this.usable(lease)) {
        this.lent.add(lease);
        if (this.acquireEmitter.size > 0) this.acquireEmitter.fire(performance.now() - start);
        return lease;
      }
      this.discard(lease);
    }
  }

  /** One generic-pool acquire, bounded by our deadline and failed early by `failWaiters`. */
  private wait(deadline: number): Promise<Lease> {
    const p = this.gp.acquire();
    return new Promise<Lease>((resolve, reject) => {
      let settled = false;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        this.waiters.delete(w);
        return true;
      };
      const w: Waiter = { fail: (e) => finish() && reject(e) };
      const timer = setTimeout(
        () => {
          if (!finish()) return;
          if (this.acquireTimeoutEmitter.size > 0) this.acquireTimeoutEmitter.fire();
          reject(new PoolAcquireTimeoutError(this.name, this.options.acquireTimeoutMs));
        },
        Math.max(0, deadline - performance.now()),
      );
      timer.unref();
      this.waiters.add(w);
      p.then(
        (lease) => {
          // Served after we gave up: straight back, it was never lent.
          if (!finish()) return void this.gp.release(lease).catch(noop);
          resolve(lease);
        },
        // generic-pool rejects only on its own acquire timeout or while draining.
        () => {
          if (!finish()) return;
          if (!this.lifecycle.isOpen) return reject(this.lifecycle.closedError());
          if (this.acquireTimeoutEmitter.size > 0) this.acquireTimeoutEmitter.fire();
          reject(new PoolAcquireTimeoutError(this.name, this.options.acquireTimeoutMs));
        },
      );
    });
  }

  private failWaiters(e: Error): void {
    for (const w of [...this.waiters]) w.fail(e);
  }

  private usable(l: Lease): boolean {
    const max = this.options.maxLifetimeMs;
    return !l.broken && l.conn.status === 'ready' && (max === 0 || Date.now() - l.createdAt < max);
  }

  /** Takes a connection back: UNWATCH, then back to the pool, or closed if it is not fit to lend again. */
  private async giveBack(l: Lease): Promise<void> {
    let keep = this.usable(l);
    const c = l.conn;
    if (keep && !(c instanceof Cluster)) {
      const cond = c.condition;
      if (cond !== null && (cond.subscriber !== false || cond.select !== this.options.db)) keep = false;
    }
    if (keep) {
      try {
        const nodes = nodesOf(c).filter((n) => n.status === 'ready');
        const replies = await withTimeout(
          Promise.all(nodes.map((n) => n.unwatch())),
          this.options.probeTimeoutMs,
          () => new Error('UNWATCH timed out'),
        );
        // 'QUEUED' means a MULTI was left open: that session cannot be lent again.
        keep = replies.every((r) => r === 'OK');
      } catch {
        keep = false;
      }
    }
    this.lent.delete(l);
    if (keep && this.usable(l)) this.gp.release(l).catch(noop);
    else this.discard(l);
  }

  private discard(l: Lease): void {
    this.gp.destroy(l).catch(noop);
  }

  private end(l: Lease): void {
    this.all.delete(l);
    this.lent.delete(l);
    endNow(l.conn);
  }

  /**
   * generic-pool's factory.create. It waits out the backoff first, so failures cannot
   * spin; and after a failure only one connect (the trial) goes out at a time: the other
   * creates wait for its outcome instead of all dialling a dead server together.
   */
  private async create(): Promise<Lease> {
    // Re-read after each sleep: a failure while we slept pushes the next attempt further out.
    const lc = this.lifecycle;
    for (let w = this.backoff.waitMs(Date.now()); w > 0 && !lc.isDrained; w = this.backoff.waitMs(Date.now()))
      await this.sleep(w);
    if (lc.isDrained) throw lc.closedError();
    if (this.backoff.consecutiveFailures === 0) return this.connect();
    if (this.trial !== undefined) {
      if (!(await this.trial))
        throw new PoolUnavailableError(this.name, this.lastError, this.backoff.waitMs(Date.now()));
      return this.connect();
    }
    let settle!: (ok: boolean) => void;
    this.trial = new Promise<boolean>((r) => (settle = r));
    try {
      const lease = await this.connect();
      settle(true);
      return lease;
    } catch (e) {
      settle(false);
      throw e;
    } finally {
      this.trial = undefined;
    }
  }

  /** Opens one dedicated connection. */
  private async connect(): Promise<Lease> {
    const conn = createDedicated(this.options);
    conn.on('error', noop);
    try {
      await withTimeout(
        conn.connect(),
        this.options.connectTimeoutMs + 100,
        () => new Error(`connect timed out after ${this.options.connectTimeoutMs}ms`),
      );
    } catch (e) {
      endNow(conn);
      this.connectFailures++;
      this.lastError = e;
      this.down = true;
      const delay = this.backoff.fail(Date.now());
      this.failWaiters(new PoolUnavailableError(this.name, e, delay));
      throw e;
    }
    if (this.lifecycle.isDrained) {
      endNow(conn);
      throw this.lifecycle.closedError();
    }
    this.backoff.succeed();
    this.down = false;
    const lease: Lease = { conn, createdAt: Date.now(), broken: false };
    this.all.add(lease);
    return lease;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(t);
        this.sleepers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      t.unref();
      this.sleepers.add(wake);
    });
  }

  /**
   * PING the shared client and, alongside, each idle dedicated connection; on a Cluster,
   * also what requests see (see {@link probeCluster}): CLUSTER INFO of the masters and a
   * keyed command routed to each master.
   */
  private async probe(): Promise<ProbeResult> {
    const timeoutMs = this.options.probeTimeoutMs;
    const timedOut = () => new Error(`PING timed out after ${timeoutMs}ms`);
    const idle: Promise<void>[] = [];
    for (const l of this.all) {
      if (this.lent.has(l) || l.broken) continue;
      idle.push(
        withTimeout(pingAll(l.conn), timeoutMs, timedOut).catch(() => {
          l.broken = true;
        }),
      );
    }
    const start = performance.now();
    let result: ProbeResult;
    try {
      const c = this.client;
      if (c instanceof Cluster && c.status === 'ready') {
        const [ping, data] = await Promise.allSettled([
          withTimeout(pingAll(c), timeoutMs, timedOut),
          withTimeout(
            probeCluster(c, timeoutMs),
            timeoutMs,
            () => new Error(`Cluster probe timed out after ${timeoutMs}ms`),
          ),
        ]);
        // The cluster's own verdict first: it is decisive where a PING timeout is not.
        if (data.status === 'rejected') throw data.reason;
        if (ping.status === 'rejected') throw ping.reason;
      } else await withTimeout(pingAll(c), timeoutMs, timedOut);
      result = { ok: true, latencyMs: performance.now() - start };
    } catch (e) {
      result = {
        ok: false,
        decisive: (e as { decisive?: unknown } | null)?.decisive === true,
        latencyMs: performance.now() - start,
        error: e instanceof Error ? e.message : String(e),
      };
    }
    await Promise.all(idle);
    return result;
  }

  private onCheck(e: PoolHealthCheckEvent, healthy: boolean, changed: boolean): void {
    if (this.healthEmitter.size > 0) this.healthEmitter.fire(e);
    if (!changed) return;
    if (healthy) {
      // Redis answers again: let connects proceed at once.
      this.down = false;
      this.backoff.succeed();
    } else {
      this.down = true;
      this.lastError = new Error('health check failing');
    }
  }

  /** Both ways out start here: no more checks, no more waiting callers, generic-pool draining. */
  private stopTaking(): Promise<void> {
    this.monitor.stop();
    this.failWaiters(this.lifecycle.closedError());
    this.draining ??= this.gp.drain().catch(noop);
    return this.draining;
  }

  /**
   * close()'s drain: lent connections get up to `closeTimeout` to come back (a destroy
   * ends the wait). Always true: release() ends those still lent past the bound.
   */
  private async drain(signal: AbortSignal): Promise<boolean> {
    const drained = this.stopTaking();
    let t: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    await Promise.race([
      drained,
      new Promise<void>((r) => {
        t = setTimeout(r, this.options.closeTimeoutMs);
        onAbort = r;
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
    clearTimeout(t);
    signal.removeEventListener('abort', onAbort!);
    return true;
  }

  /** Past the drain: wakes sleeping creates, ends lent connections, clears the pool, ends the shared client. */
  private async release(force: boolean): Promise<void> {
    for (const wake of [...this.sleepers]) wake();
    for (const l of [...this.lent]) endNow(l.conn);
    await this.gp.clear().catch(noop);
    for (const l of [...this.all]) this.end(l);
    if (force) endNow(this.client);
    else await endGracefully(this.client, 500);
  }
}
