import type { Engine } from '../engine/Engine.js';
import { EngineCall } from '../engine/EngineCall.js';
import { Phase, Refused } from '../engine/phase.js';
import {
  BulkheadRejectedError,
  CircuitOpenError,
  RateLimitError,
  RateLimitedError,
  TimeoutError,
} from '../errors.js';
import type { Retry } from '../retry/Retry.js';
import type { Timeout } from '../timeout/Timeout.js';
import { neverAbortedSignal } from '../util/signal.js';
import type { ComposedFallbackReason, ComposedFallbackRunner } from './ComposedFallback.js';

/** What a call needs of its {@link ComposedPolicy} (which implements it). */
export interface ComposedOwner {
  readonly engine: Engine;
  readonly timeout: Timeout | undefined;
  readonly retry: Retry | undefined;
  readonly fallback: ComposedFallbackRunner | undefined;
}

/** What the work receives from a composed policy (`compose()`). */
export interface ComposedContext {
  /** Aborts at the deadline or when the caller's signal aborts. Built on first read. */
  readonly signal: AbortSignal;
  /** Epoch milliseconds by which the call must end (`Infinity` without a timeout). */
  readonly deadline: number;
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number;
}

/** The work a composed policy runs. */
export type ComposedWork<T> = (ctx: ComposedContext) => PromiseLike<T> | T;

const noop = (): void => {};

/** The numeric `status` of a result that has one (an HTTP response), for the breaker. */
function statusOf(v: unknown): number | undefined {
  const s = (v as { status?: unknown } | null | undefined)?.status;
  return typeof s === 'number' ? s : undefined;
}

/**
 * One call through a composed policy: the engine's call, answered by a promise.
 * Whichever comes first settles it: the work's end (after any retries), the deadline, a
 * refusal, or the caller's abort; the slot is returned when the work really ends.
 */
export class ComposedCall<T> extends EngineCall implements ComposedContext {
  attempt = 1;
  /** Settle the call's promise; set as the promise is made. */
  resolve: (v: T) => void = noop;
  reject: (e: unknown) => void = noop;
  /** Retrying is handed to the retry policy once; its final outcome is the call's. */
  private retried = false;
  private listening = false;

  constructor(
    private readonly owner: ComposedOwner,
    private readonly fn: ComposedWork<T>,
    private readonly parent: AbortSignal,
    private readonly key: string,
    private readonly cost: number,
  ) {
    super(owner.engine);
    // Listening from the start: an abort while the store decides, or in the queue, ends the call.
    if (parent !== neverAbortedSignal) {
      this.listening = true;
      parent.addEventListener('abort', this);
    }
  }

  limitKey(): string {
    return this.key;
  }

  limitCost(): number {
    return this.cost;
  }

  onAllowed(): void {}

  onRefused(why: Refused, retryAfterMs: number): void {
    this.unlisten();
    const e = this.engine;
    this.refuse(
      why === Refused.RateLimited || why === Refused.LimitError
        ? 'rate_limited'
        : why === Refused.CircuitOpen
          ? 'circuit_open'
          : 'bulkhead_full',
      why === Refused.RateLimited
        ? new RateLimitedError(retryAfterMs)
        : why === Refused.LimitError
          ? new RateLimitError(e.limiter!.name)
          : why === Refused.CircuitOpen
            ? new CircuitOpenError(e.breaker!.name, retryAfterMs)
            : new BulkheadRejectedError(
                e.bulkhead!.name,
                why === Refused.QueueTimeout ? 'queue_timeout' : 'full',
              ),
    );
  }

  /** Has its slot (or needs none): the first attempt. */
  startWork(): void {
    const p = this.owner;
    const budget = p.retry?.budget;
    // The budget usually reads the same clock: this call's reading saves it one.
    if (budget !== undefined)
      budget.recordCall(budget.clock === this.engine.clock ? this.startedAt : undefined);
    let work: PromiseLike<T> | T;
    try {
      work = this.fn(this);
    } catch (e) {
      return this.failed(e);
    }
    Promise.resolve(work).then(this.fulfilled, this.failed);
  }

  onExpired(): unknown {
    this.unlisten();
    const timeout = this.owner.timeout!;
    const error = new TimeoutError(timeout.timeoutMs);
    timeout.timedOut();
    this.refuse('timeout', error);
    return error;
  }

  private readonly fulfilled = (v: T): void => {
    const retry = this.owner.retry;
    if (retry !== undefined && !this.retried && this.phase === Phase.Running && retry.retries(false, v))
      return this.retryFrom(false, v);
    this.ended(false, v);
  };

  private readonly failed = (e: unknown): void => {
    const retry = this.owner.retry;
    if (retry !== undefined && !this.retried && this.phase === Phase.Running && retry.retries(true, e))
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
    const answering = this.phase === Phase.Running;
    if (failed) this.finish(undefined, value);
    else this.finish(statusOf(value), undefined, value);
    if (!answering) return;
    this.unlisten();
    if (failed) this.refuse('error', value);
    else this.resolve(value as T);
  }

  /** Rejects with `error`, unless the fallback answers for `reason` (one branch without one). */
  private refuse(reason: ComposedFallbackReason, error: unknown): void {
    const fb = this.owner.fallback;
    if (fb === undefined) this.reject(error);
    else fb.settle(this as ComposedCall<unknown>, reason, error, this.key, this.parent);
  }

  /** The caller's signal aborted (the EventListener object protocol). */
  handleEvent(): void {
    this.listening = false;
    const reason = this.parent.reason;
    const was = this.abandon(reason);
    // The caller giving up says nothing about the dependency (abandon released the ticket).
    if (was === Phase.Limiting || was === Phase.Queued || was === Phase.Running) this.reject(reason);
  }

  private unlisten(): void {
    if (!this.listening) return;
    this.listening = false;
    this.parent.removeEventListener('abort', this);
  }
}
