import { outcomeOf } from '../bulkhead/adaptive/LimitAlgorithm.js';
import type { BulkheadWaiter } from '../bulkhead/WaiterQueue.js';
import { BulkheadRejectedError, TimeoutError } from '../errors.js';
import type { DeadlineNode } from '../timeout/DeadlineList.js';
import { abortLazy, type LazyAbort, lazySignal, neverAbortedSignal } from '../util/signal.js';
import type { ComposedPolicy } from './ComposedPolicy.js';

/** What the work receives from a {@link ComposedPolicy}. */
export interface ComposedContext {
  /** Aborts at the deadline or when the caller's signal aborts. Built on first read. */
  readonly signal: AbortSignal;
  /** Epoch milliseconds by which the call must end (`Infinity` without a timeout). */
  readonly deadline: number;
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number;
}

/** The work a {@link ComposedPolicy} runs. */
export type ComposedWork<T> = (ctx: ComposedContext) => PromiseLike<T> | T;

const noop = (): void => {};
const Queued = 0;
const Running = 1;
/** Answered (timed out, or the caller left) while the work still runs and may hold a slot. */
const Late = 2;
const Done = 3;

/**
 * One call through a {@link ComposedPolicy}: the work's context, the deadline list's node,
 * the bulkhead queue's node and the caller's-signal listener in one object, so a call
 * allocates this and its promise. Whichever comes first answers it: the work's end, the
 * deadline, a queue timeout or the caller's abort; the slot is returned when the work ends.
 */
export class ComposedCall<T> implements ComposedContext, DeadlineNode, BulkheadWaiter, LazyAbort {
  attempt = 1;
  hasSlot = false;
  // DeadlineNode
  deadlineAt = 0;
  dlPrev: DeadlineNode | null = null;
  dlNext: DeadlineNode | null = null;
  // BulkheadWaiter
  bhPrev: BulkheadWaiter | null = null;
  bhNext: BulkheadWaiter | null = null;
  /** When the queue wait began; from `run` on, when the call started (slot taken, deadline set). */
  bhQueuedAt = 0;
  priority = 1;
  /** Settle the call's promise; set by the policy as the promise is made. */
  resolve: (v: T) => void = noop;
  reject: (e: unknown) => void = noop;
  private phase = Running;
  /** Retrying is handed to the retry policy once; its final outcome is the call's. */
  private retried = false;
  private listening = false;
  ac: AbortController | undefined;
  abortReason: unknown;

  constructor(
    private readonly owner: ComposedPolicy,
    private readonly fn: (ctx: ComposedContext) => PromiseLike<T> | T,
    private readonly parent: AbortSignal,
    private ticket: number,
  ) {}

  get deadline(): number {
    return this.owner.deadlines === undefined ? Number.POSITIVE_INFINITY : this.deadlineAt;
  }

  get signal(): AbortSignal {
    return lazySignal(this);
  }

  /** Waits in the bulkhead's queue. */
  queued(): void {
    this.phase = Queued;
    this.listen();
  }

  /** Has its slot (or needs none): starts the deadline and the first attempt. */
  run(now: number): void {
    this.phase = Running;
    // The call's start, and where an adaptive bulkhead's sample starts.
    this.bhQueuedAt = now;
    const p = this.owner;
    if (p.deadlines !== undefined) p.deadlines.add(this, now + p.timeout!.timeoutMs);
    this.listen();
    const budget = p.retry?.budget;
    // The budget usually reads the same clock: this call's reading saves it one.
    if (budget !== undefined) budget.recordCall(budget.clock === p.clock ? now : undefined);
    let work: PromiseLike<T> | T;
    try {
      work = this.fn(this);
    } catch (e) {
      return this.failed(e);
    }
    Promise.resolve(work).then(this.fulfilled, this.failed);
  }

  private readonly fulfilled = (v: T): void => {
    const retry = this.owner.retry;
    if (retry !== undefined && !this.retried && this.phase === Running && retry.retries(false, v))
      return this.retryFrom(false, v);
    this.ended(false, v);
  };

  private readonly failed = (e: unknown): void => {
    const retry = this.owner.retry;
    if (retry !== undefined && !this.retried && this.phase === Running && retry.retries(true, e))
      return this.retryFrom(true, e);
    this.ended(true, e);
  };

  /** The first attempt's outcome is one the retry policy retries: it takes over from here. */
  private retryFrom(failed: boolean, value: unknown): void {
    this.retried = true;
    const attempt = (_signal: AbortSignal, n: number): PromiseLike<T> | T => {
      this.attempt = n;
      return this.fn(this);
    };
    this.owner
      .retry!.resume(attempt, this.signal, { deadline: this.deadline }, 1, failed, value)
      .then(this.fulfilled, this.failed);
  }

  /** The work has ended (after any retries). */
  private ended(failed: boolean, value: unknown): void {
    const phase = this.phase;
    if (phase === Running) {
      this.phase = Done;
      this.owner.deadlines?.release(this);
      this.unlisten();
      if (this.ticket !== -1) this.record(failed ? value : undefined, failed ? undefined : value);
      this.releaseSlot(false, failed, value);
      if (failed) this.reject(value);
      else this.resolve(value as T);
    } else if (phase === Late) {
      this.phase = Done;
      this.releaseSlot(true, failed, value);
    }
  }

  onDeadline(): void {
    if (this.phase !== Running) return;
    this.phase = Late;
    this.unlisten();
    const timeout = this.owner.timeout!;
    const error = new TimeoutError(timeout.timeoutMs);
    if (this.ticket !== -1) this.record(error, undefined);
    timeout.timedOut();
    // Answer first: abort listeners run synchronously and must find the call answered.
    this.reject(error);
    this.abort(error);
  }

  /** The caller's signal aborted (the EventListener object protocol). */
  handleEvent(): void {
    this.listening = false;
    const reason = this.parent.reason;
    if (this.phase === Queued) {
      this.phase = Done;
      this.owner.bulkhead!.cancel(this);
    } else if (this.phase === Running) {
      this.phase = Late;
      this.owner.deadlines?.remove(this);
    } else return;
    // The caller giving up says nothing about the dependency.
    this.releaseTicket();
    this.reject(reason);
    this.abort(reason);
  }

  onGranted(): void {
    if (this.phase !== Queued) {
      // Cannot happen (a call leaves the queue when it stops waiting), but never leak a slot.
      this.owner.bulkhead!.release();
      return;
    }
    this.hasSlot = true;
    this.run(this.owner.clock.now());
  }

  onQueueTimeout(): void {
    if (this.phase !== Queued) return;
    this.phase = Done;
    this.unlisten();
    this.releaseTicket();
    this.reject(new BulkheadRejectedError(this.owner.bulkhead!.name, 'queue_timeout'));
  }

  private record(error: unknown, result: unknown): void {
    const breaker = this.owner.breaker!;
    const ticket = this.ticket;
    this.ticket = -1;
    const duration = breaker.timesCalls ? this.owner.clock.now() - this.bhQueuedAt : 0;
    const s = (result as { status?: unknown } | null | undefined)?.status;
    const status = typeof s === 'number' ? s : undefined;
    breaker.record(ticket, breaker.judge(status, error, duration, result), duration);
  }

  private releaseTicket(): void {
    if (this.ticket === -1) return;
    this.owner.breaker!.release(this.ticket);
    this.ticket = -1;
  }

  /** `late`: answered before the work ended, which an adaptive limit counts as a drop. */
  private releaseSlot(late: boolean, failed: boolean, value: unknown): void {
    if (!this.hasSlot) return;
    this.hasSlot = false;
    const bulkhead = this.owner.bulkhead!;
    if (bulkhead.algorithm === undefined) return bulkhead.release();
    const s = failed ? undefined : (value as { status?: unknown } | null | undefined)?.status;
    bulkhead.releaseSample(
      this.bhQueuedAt,
      outcomeOf(late, typeof s === 'number' ? s : 200, failed ? value : undefined),
    );
  }

  private listen(): void {
    if (this.listening || this.parent === neverAbortedSignal) return;
    this.listening = true;
    this.parent.addEventListener('abort', this);
  }

  private unlisten(): void {
    if (!this.listening) return;
    this.listening = false;
    this.parent.removeEventListener('abort', this);
  }

  private abort(reason: unknown): void {
    abortLazy(this, reason);
  }
}
