import { TimeoutError } from '../errors.js';
import { type Clock, systemClock } from '../util/clock.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { Emitter, type Event } from '../util/events.js';
import { neverAbortedSignal } from '../util/signal.js';

/** Options of a {@link Timeout} policy. */
export interface TimeoutOptions {
  /** How long the work may run. Required. */
  after: Duration;
  /** Clock for tests. Default: the system clock. */
  clock?: Clock;
}

/** What the work receives: a signal aborted at the deadline, and the deadline itself. */
export interface TimeoutContext {
  signal: AbortSignal;
  /** Epoch milliseconds at which the work is aborted. */
  deadline: number;
}

/**
 * Races work against a deadline. At the deadline the signal handed to the work aborts
 * with a {@link TimeoutError} and `execute` rejects with it; the work is expected to honour
 * the signal (outbound calls can use `deadline - now` as their own budget).
 */
export class Timeout {
  readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly timeoutEmitter = new Emitter<{ timeoutMs: number }>();
  /** Fires each time a call times out. */
  readonly onTimeout: Event<{ timeoutMs: number }> = this.timeoutEmitter.event;

  constructor(options: TimeoutOptions | Duration) {
    const o = typeof options === 'object' ? options : { after: options };
    this.timeoutMs = parseDuration(o.after, 'timeout.after');
    this.clock = o.clock ?? systemClock;
  }

  /** Runs `fn` with a signal that aborts at the deadline or when `signal` aborts. */
  execute<T>(
    fn: (ctx: TimeoutContext) => PromiseLike<T> | T,
    signal: AbortSignal = neverAbortedSignal,
  ): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const ac = new AbortController();
    const deadline = this.clock.now() + this.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const onParentAbort = () => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        ac.abort(signal.reason);
        reject(signal.reason);
      };
      const timer = this.clock.setTimeout(() => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onParentAbort);
        const err = new TimeoutError(this.timeoutMs);
        ac.abort(err);
        if (this.timeoutEmitter.size > 0) this.timeoutEmitter.fire({ timeoutMs: this.timeoutMs });
        reject(err);
      }, this.timeoutMs);
      signal.addEventListener('abort', onParentAbort, { once: true });
      const done = (ok: boolean, v: unknown) => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        signal.removeEventListener('abort', onParentAbort);
        if (ok) resolve(v as T);
        else reject(v);
      };
      try {
        Promise.resolve(fn({ signal: ac.signal, deadline })).then(
          (v) => done(true, v),
          (e) => done(false, e),
        );
      } catch (e) {
        done(false, e);
      }
    });
  }
}
