import { PoolClosedError } from './errors.js';

/**
 * Where a pool is in its life: `open` → `closing` (refusing new work, letting in-flight
 * work finish, then closing connections) → `closed`; or `destroyed`, from any state but
 * `closed`, at once.
 */
export type PoolState = 'open' | 'closing' | 'closed' | 'destroyed';

/** What a pool does at each step of its {@link PoolLifecycle}. Each may be sync or async. */
export interface PoolLifecycleHooks {
  /**
   * First half of `close()`, called synchronously from it: stop background work, fail
   * callers still waiting, and let in-flight work finish within the pool's own bound.
   * Resolve `true` when drained, `false` when work is still running at that bound: the
   * pool is then destroyed instead of released. `signal` aborts when `destroy()`
   * overtakes the close, so a wait here can end at once.
   */
  drain(signal: AbortSignal): Promise<boolean> | boolean;
  /** Second half of `close()`, once drained: close every connection gracefully. */
  release(signal: AbortSignal): Promise<void> | void;
  /** `destroy()`: fail whatever is in flight and close every connection now. */
  destroy(): Promise<void> | void;
}

/**
 * One pool's open/closing/closed/destroyed state and the promises of `close()` and
 * `destroy()`, in the spirit of undici's DispatcherBase: the pool supplies the steps
 * ({@link PoolLifecycleHooks}), the lifecycle guarantees their order.
 *
 * - `close()` is graceful and safe to call twice: every call returns the same promise.
 * - `destroy()` is immediate, also in the middle of a close: the close's promise then
 *   settles with the destroy, and the close's remaining steps are skipped.
 * - {@link assertOpen} refuses new work by state with `POOL_CLOSED`.
 *
 * A pool holds one and forwards its own `close()` and `destroy()` to it:
 *
 * ```ts
 * private readonly lifecycle = new PoolLifecycle(this.name, {
 *   drain: () => this.whenIdle(closeTimeoutMs),
 *   release: () => this.connections.close(),
 *   destroy: () => this.connections.destroy(),
 * });
 * close(): Promise<void> { return this.lifecycle.close(); }
 * ```
 */
export class PoolLifecycle {
  private current: PoolState = 'open';
  private drainedOrDestroyed = false;
  private closing: Promise<void> | undefined;
  private destroying: Promise<void> | undefined;
  private abort: AbortController | undefined;
  /** Settles the close's promise from outside its own steps (when destroy overtakes it). */
  private settleClose: ((p: Promise<void>) => void) | undefined;

  constructor(
    /** The pool's name, for its `PoolClosedError`s. */
    readonly pool: string,
    private readonly hooks: PoolLifecycleHooks,
  ) {}

  /** The pool's state. */
  get state(): PoolState {
    return this.current;
  }

  /** True while the pool takes new work. */
  get isOpen(): boolean {
    return this.current === 'open';
  }

  /**
   * True once nothing may start any more, not even what in-flight work would start
   * next (a retry, a new connection): from the end of `close()`'s drain on, and from
   * `destroy()` on. Between `close()` and then, in-flight work may still go on.
   */
  get isDrained(): boolean {
    return this.drainedOrDestroyed;
  }

  /** Throws `POOL_CLOSED` unless the pool is open: the check before taking new work. */
  assertOpen(): void {
    if (this.current !== 'open') throw new PoolClosedError(this.pool);
  }

  /** The error that refusals and failed waiters carry once the pool is closing. */
  closedError(): PoolClosedError {
    return new PoolClosedError(this.pool);
  }

  /**
   * Graceful: refuses new work at once, drains, then releases (or destroys, when the
   * drain reports work still running at its bound). Every call returns the same promise;
   * after `destroy()` it is the destroy's. It rejects only when a step failed: the state
   * then stays `closing`, and `destroy()` can still finish the job.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    if (this.destroying !== undefined) {
      this.closing = this.destroying;
      return this.closing;
    }
    this.current = 'closing';
    const ac = new AbortController();
    this.abort = ac;
    this.closing = new Promise<void>((resolve, reject) => {
      // Whichever settles first wins: the close's own steps, or a destroy overtaking them.
      this.settleClose = (p) => p.then(resolve, reject);
    });
    this.settleClose!(this.steps(ac.signal));
    return this.closing;
  }

  /**
   * Immediate: fails what is in flight and closes every connection now, in the middle
   * of a close too (whose promise then settles with this one). Safe to call twice; after
   * a finished close there is nothing left to destroy and it resolves at once.
   */
  destroy(): Promise<void> {
    if (this.destroying !== undefined) return this.destroying;
    if (this.current === 'closed') return Promise.resolve();
    this.current = 'destroyed';
    this.drainedOrDestroyed = true;
    this.abort?.abort(this.closedError());
    this.destroying = (async () => {
      await this.hooks.destroy();
    })();
    this.settleClose?.(this.destroying);
    return this.destroying;
  }

  private async steps(signal: AbortSignal): Promise<void> {
    const drained = await this.hooks.drain(signal);
    // Destroyed meanwhile: the destroy settles the close, and nothing is left to release.
    if (this.current !== 'closing') return;
    if (drained === false) return this.destroy();
    this.drainedOrDestroyed = true;
    await this.hooks.release(signal);
    if (this.current === 'closing') this.current = 'closed';
  }
}
