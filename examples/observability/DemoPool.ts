/**
 * A stand-in connection pool for the observability example: it implements core's `Pool`
 * interface (stats, health, events) over a counter of "connections", so the dashboard's
 * pool panels have something to show without an upstream. It reports its calls as an
 * HTTP pool does: an outcome, a status class (2xx, or 5xx when the call fails), a
 * duration, and each retry. Real services add an `HttpPool` or `RedisPool` the same way:
 * `bw.pools.add(pool)`.
 */

import { Emitter, type PoolEvents } from '@breakwater/core/extend';
import type { Pool, PoolHealth, PoolStats } from '@breakwater/express';

export class DemoPool implements Pool {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly acquireEmitter = new Emitter<number>();
  private readonly requestEmitter = new Emitter<string>();
  private readonly resultEmitter = new Emitter<{ outcome: string; statusClass: string }>();
  private readonly durationEmitter = new Emitter<{
    method: string;
    statusClass: string;
    durationMs: number;
  }>();
  private readonly retryEmitter = new Emitter<string>();
  readonly events: PoolEvents = {
    onAcquire: this.acquireEmitter.event,
    onRequest: this.requestEmitter.event,
    onRequestResult: this.resultEmitter.event,
    onRequestDuration: this.durationEmitter.event,
    onRetry: this.retryEmitter.event,
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

  /**
   * Runs `fn` on a "connection", waiting for one when all are busy; a failing `fn` is
   * tried again up to `retries` times.
   */
  async use<T>(fn: () => Promise<T>, { retries = 0 }: { retries?: number } = {}): Promise<T> {
    const started = performance.now();
    if (this.active >= this.max) await new Promise<void>((r) => this.waiters.push(r));
    else this.active++;
    this.acquireEmitter.fire(performance.now() - started);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const v = await fn();
          this.finished('success', '2xx', started);
          return v;
        } catch (e) {
          if (attempt < retries) {
            this.retryEmitter.fire('failure');
            continue;
          }
          this.finished('failure', '5xx', started);
          throw e;
        }
      }
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    }
  }

  private finished(outcome: string, statusClass: string, started: number): void {
    this.requestEmitter.fire(outcome);
    this.resultEmitter.fire({ outcome, statusClass });
    this.durationEmitter.fire({ method: 'GET', statusClass, durationMs: performance.now() - started });
  }

  async close(): Promise<void> {}
}
