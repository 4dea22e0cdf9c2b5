import { TimeoutError } from '../errors.js';
import { type Clock, systemClock } from '../util/clock.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { Emitter, type Event } from '../util/events.js';
import { promiseFor } from '../util/promiseFor.js';
import { abortLazy, type LazyAbort, lazySignal, neverAbortedSignal } from '../util/signal.js';
import { DeadlineList, type DeadlineNode } from './DeadlineList.js';

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
 *
 * Every call shares one duration, so deadlines expire in call order and one timer serves
 * them all (a {@link DeadlineList}); the signal is only built if the work reads it.
 */
export class Timeout {
  readonly timeoutMs: number;
  /** The clock deadlines are read from. @internal */
  readonly clock: Clock;
  private readonly shared: TimeoutShared;
  /** Fires each time a call times out. */
  readonly onTimeout: Event<{ timeoutMs: number }>;

  constructor(options: TimeoutOptions | Duration) {
    const o = typeof options === 'object' ? options : { after: options };
    this.timeoutMs = parseDuration(o.after, 'timeout.after');
    this.clock = o.clock ?? systemClock;
    const emitter = new Emitter<{ timeoutMs: number }>();
    this.onTimeout = emitter.event;
    this.shared = { timeoutMs: this.timeoutMs, deadlines: new DeadlineList(this.clock, 0), emitter };
  }

  /** Fires {@link onTimeout} for a call timed out by a caller that keeps its own deadlines. @internal */
  timedOut(): void {
    announceTimeout(this.shared);
  }

  /** Runs `fn` with a signal that aborts at the deadline or when `signal` aborts. */
  execute<T>(
    fn: (ctx: TimeoutContext) => PromiseLike<T> | T,
    signal: AbortSignal = neverAbortedSignal,
  ): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const call = new TimeoutCall<T>(this.shared, this.clock.now() + this.timeoutMs, signal);
    const promise = promiseFor(call);
    let work: PromiseLike<T> | T;
    try {
      work = fn(call);
    } catch (e) {
      call.reject(e);
      return promise;
    }
    // Armed after `fn` returns: a synchronous throw never touches the timer.
    this.shared.deadlines.add(call, call.deadline);
    if (signal !== neverAbortedSignal) signal.addEventListener('abort', call, { once: true });
    Promise.resolve(work).then(call.fulfilled, call.failed);
    return promise;
  }
}

const noop = (): void => {};

/** Fires a Timeout's `onTimeout`, if anyone listens. */
function announceTimeout({ timeoutMs, emitter }: TimeoutShared): void {
  if (emitter.size > 0) emitter.fire({ timeoutMs });
}

/** What the calls of one {@link Timeout} share. */
interface TimeoutShared {
  timeoutMs: number;
  deadlines: DeadlineList;
  emitter: Emitter<{ timeoutMs: number }>;
}

/**
 * One call under a {@link Timeout}: the work's context, the deadline list's node, and the
 * caller's-signal listener (an object listener, so listening allocates no closure).
 * Whichever comes first settles it: the work, the deadline, or the caller's abort.
 */
class TimeoutCall<T> implements TimeoutContext, DeadlineNode, LazyAbort {
  deadlineAt = 0;
  dlPrev: DeadlineNode | null = null;
  dlNext: DeadlineNode | null = null;
  private settled = false;
  ac: AbortController | undefined;
  abortReason: unknown;

  /** Settle the call's promise; set as the promise is made. */
  resolve: (v: T) => void = noop;
  reject: (e: unknown) => void = noop;

  constructor(
    private readonly shared: TimeoutShared,
    readonly deadline: number,
    private readonly parent: AbortSignal,
  ) {}

  get signal(): AbortSignal {
    return lazySignal(this);
  }

  readonly fulfilled = (v: T): void => {
    if (this.settled) return;
    this.settled = true;
    this.shared.deadlines.release(this);
    this.unlisten();
    this.resolve(v);
  };

  readonly failed = (e: unknown): void => {
    if (this.settled) return;
    this.settled = true;
    this.shared.deadlines.release(this);
    this.unlisten();
    this.reject(e);
  };

  onDeadline(): void {
    if (this.settled) return;
    this.settled = true;
    this.unlisten();
    const err = new TimeoutError(this.shared.timeoutMs);
    this.abort(err);
    announceTimeout(this.shared);
    this.reject(err);
  }

  /** The caller's signal aborted (the EventListener object protocol). */
  handleEvent(): void {
    if (this.settled) return;
    this.settled = true;
    this.shared.deadlines.remove(this);
    const reason = this.parent.reason;
    this.abort(reason);
    this.reject(reason);
  }

  private abort(reason: unknown): void {
    abortLazy(this, reason);
  }

  private unlisten(): void {
    if (this.parent !== neverAbortedSignal) this.parent.removeEventListener('abort', this);
  }
}
