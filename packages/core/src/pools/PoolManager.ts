import { type Clock, systemClock } from '../util/clock.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { Emitter, type Event } from '../util/events.js';
import { PoolClosedError, PoolExistsError, PoolNotFoundError } from './errors.js';
import type { Pool, PoolHealth, PoolStats } from './types.js';

/** Options of a {@link PoolManager}. */
export interface PoolManagerOptions {
  /** How long `close()` lets each pool finish in-flight work before destroying it. Default `'10s'`. */
  closeTimeout?: Duration;
  /** How long `health()` waits for one pool's answer before reporting it failed. Default `'2s'`. */
  healthTimeout?: Duration;
  /** Clock for tests. */
  clock?: Clock;
}

/**
 * Holds pools by name (`bw.pools`), so handlers reach them and one place closes them.
 *
 * For metrics and health modules: iterate the manager (`for (const pool of bw.pools)`)
 * for the pools present, and subscribe to {@link onAdd} for those added later. Each
 * pool's numbers are `pool.stats()` (cheap, read them at scrape time) and its events are
 * `pool.events` (each one optional).
 */
export class PoolManager implements Iterable<Pool> {
  private readonly pools = new Map<string, Pool>();
  private readonly addEmitter = new Emitter<Pool>();
  private readonly closeTimeoutMs: number;
  private readonly healthTimeoutMs: number;
  private readonly clock: Clock;
  private closing: Promise<void> | undefined;
  /** Fires when a pool is added (metrics and health subscribe here). */
  readonly onAdd: Event<Pool> = this.addEmitter.event;

  constructor(options: PoolManagerOptions = {}) {
    this.closeTimeoutMs = parseDuration(options.closeTimeout ?? 10_000, 'pools.closeTimeout');
    this.healthTimeoutMs = parseDuration(options.healthTimeout ?? 2_000, 'pools.healthTimeout');
    this.clock = options.clock ?? systemClock;
  }

  /** Registers a pool under its name and returns it. Throws `POOL_EXISTS` or, once closed, `POOL_CLOSED`. */
  add<P extends Pool>(pool: P): P {
    if (this.closing) throw new PoolClosedError(pool.name);
    if (this.pools.has(pool.name)) throw new PoolExistsError(pool.name);
    this.pools.set(pool.name, pool);
    this.addEmitter.fire(pool);
    return pool;
  }

  /** The pool with this name, typed by the caller: `get<HttpPool>('api')`. Throws `POOL_NOT_FOUND`, or `POOL_CLOSED` once closed. */
  get<P extends Pool = Pool>(name: string): P {
    const p = this.pools.get(name);
    if (this.closing) throw new PoolClosedError(name);
    if (!p) throw new PoolNotFoundError(name);
    return p as P;
  }

  has(name: string): boolean {
    return this.pools.has(name);
  }

  /** How many pools are registered. */
  get size(): number {
    return this.pools.size;
  }

  /** True once `close()` has been called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  [Symbol.iterator](): IterableIterator<Pool> {
    return this.pools.values();
  }

  /** Each pool's `stats()`, by name. */
  stats(): Record<string, PoolStats> {
    const out: Record<string, PoolStats> = {};
    for (const [name, p] of this.pools) out[name] = p.stats();
    return out;
  }

  /** Each pool's health, by name; a pool that throws or takes longer than `healthTimeout` reports `fail`. */
  async health(): Promise<Record<string, PoolHealth>> {
    const entries = await Promise.all(
      [...this.pools].map(async ([name, p]) => [name, await this.poolHealth(p)] as const),
    );
    return Object.fromEntries(entries);
  }

  /**
   * Closes every pool: each gets `closeTimeout` to finish in-flight work, then is
   * destroyed. New `add`/`get` calls fail with `POOL_CLOSED`. Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= Promise.all([...this.pools.values()].map((p) => this.closePool(p))).then(() => {});
    return this.closing;
  }

  private async closePool(pool: Pool): Promise<void> {
    const closed = Promise.resolve()
      .then(() => pool.close())
      .then(
        () => true,
        () => false,
      );
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = this.clock.setTimeout(() => resolve(false), this.closeTimeoutMs);
    });
    const ok = await Promise.race([closed, timedOut]);
    this.clock.clearTimeout(timer!);
    if (!ok && pool.destroy) {
      try {
        await pool.destroy();
      } catch {
        // Destroying is the last resort; there is nothing left to do with its failure.
      }
    }
  }

  private async poolHealth(pool: Pool): Promise<PoolHealth> {
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const timeout = new Promise<PoolHealth>((resolve) => {
      timer = this.clock.setTimeout(
        () =>
          resolve({
            status: 'fail',
            output: `no answer within ${this.healthTimeoutMs}ms`,
            time: new Date(this.clock.now()).toISOString(),
          }),
        this.healthTimeoutMs,
      );
    });
    try {
      return await Promise.race([pool.health(), timeout]);
    } catch (e) {
      return {
        status: 'fail',
        output: e instanceof Error ? e.message : String(e),
        time: new Date(this.clock.now()).toISOString(),
      };
    } finally {
      this.clock.clearTimeout(timer!);
    }
  }
}
