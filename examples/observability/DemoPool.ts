/**
 * A stand-in connection pool for the observability example: it implements core's `Pool`
 * interface (stats, health, events) over a counter of "connections", so the dashboard's
 * pool panels have something to show without an upstream. Real services add an
 * `HttpPool` or `RedisPool` the same way: `bw.pools.add(pool)`.
 */

import { Emitter, type PoolEvents } from '@breakwater/core/extend';
import type { Pool, PoolHealth, PoolStats } from '@breakwater/express';

export class DemoPool implements Pool {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly acquireEmitter = new Emitter<number>();
  private readonly requestEmitter = new Emitter<string>();
  readonly events: PoolEvents = {
    onAcquire: this.acquireEmitter.event,
    onRequest: this.requestEmitter.event,
  };
  /** Set by the example's `/api/pool/fail` switch. */
  healthy = true;

  constructor(
    readonly name: string,
    private readonly max: number,
  ) {}

  stats(): PoolStats {
    return { active: this.active, idle: this.max - this.active, pending: this.waiters.length, max: this.max };
  }

  async health(): Promise<PoolHealth> {
    return {
      status: this.healthy ? 'pass' : 'fail',
      latencyMs: 1,
      time: new Date().toISOString(),
      ...(this.healthy ? {} : { output: 'marked unhealthy' }),
    };
  }

  /** Runs `fn` on a "connection", waiting for one when all are busy. */
  async use<T>(fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    if (this.active >= this.max) await new Promise<void>((r) => this.waiters.push(r));
    else this.active++;
    this.acquireEmitter.fire(performance.now() - started);
    try {
      const v = await fn();
      this.requestEmitter.fire('success');
      return v;
    } catch (e) {
      this.requestEmitter.fire('failure');
      throw e;
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    }
  }

  async close(): Promise<void> {}
}
