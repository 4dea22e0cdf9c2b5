import { type Clock, systemClock } from '../util/clock.js';
import { Emitter, type Event } from '../util/events.js';
import { neverAbortedSignal } from '../util/signal.js';
import { IDEMPOTENT_METHODS, isConnectionError } from './classify.js';
import { type ResolvedRetryOptions, type RetryOptions, resolveRetryOptions } from './options.js';
import type { RetryBudget } from './RetryBudget.js';
import { parseRetryAfter } from './retryAfter.js';

/** What the caller tells {@link Retry.execute} about one call. */
export interface RetryCall<T> {
  /** HTTP method: only idempotent ones are retried unless `retryNonIdempotent`. Default: treated as idempotent. */
  method?: string;
  /** Overrides the method's verdict: this call is (or is not) safe to repeat. */
  idempotent?: boolean;
  /** Epoch milliseconds: no backoff sleeps past it (e.g. the inbound request's deadline). */
  deadline?: number;
  /** Lets go of a result that is about to be retried (e.g. discards its body). */
  discard?: (result: T) => unknown;
}

/** A retry about to happen, as announced by {@link Retry.onRetry}. */
export interface RetryEvent {
  /** The attempt that failed (1 for the first). */
  attempt: number;
  /** How long the policy waits before the next attempt. */
  delayMs: number;
  /** What failed: `status_503`, `connect_error`, `error`. */
  reason: string;
}

/** Why retrying stopped although the last outcome was retryable. */
export type RetryGiveUpReason = 'attempts' | 'budget' | 'deadline' | 'retry_after';

/**
 * Retries outbound work with exponential backoff and full jitter (AWS's "full jitter":
 * a uniform wait in [0, min(maxDelay, baseDelay × factor^n))), honouring `Retry-After`,
 * within a retry budget. Only for outbound calls: never wrap an inbound handler.
 *
 * `fn` may throw (connection errors are retried by default) or return an object with a
 * numeric `status` (and optional `headers`), judged by `statuses`. The last outcome is
 * what `execute` returns or throws once retrying stops. No sleep outlives the signal or
 * passes the call's deadline.
 */
export class Retry {
  readonly options: ResolvedRetryOptions;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly retryEmitter = new Emitter<RetryEvent>();
  private readonly giveUpEmitter = new Emitter<RetryGiveUpReason>();
  /** Fires before each retry's backoff. */
  readonly onRetry: Event<RetryEvent> = this.retryEmitter.event;
  /** Fires when a retryable outcome is not retried: attempts spent, budget empty, deadline near, `Retry-After` too long. */
  readonly onGiveUp: Event<RetryGiveUpReason> = this.giveUpEmitter.event;

  constructor(options: RetryOptions = {}, path = 'retry') {
    this.options = resolveRetryOptions(options, path);
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
  }

  /** The budget retries draw on, if any (shareable between policies). */
  get budget(): RetryBudget | undefined {
    return this.options.budget;
  }

  /** The backoff before retry number `retry` (1 for the first retry), jitter included. */
  backoffMs(retry: number): number {
    const o = this.options;
    const ceiling = Math.min(o.maxDelayMs, o.baseDelayMs * o.factor ** Math.min(64, retry - 1));
    return Math.floor(this.random() * ceiling);
  }

  /** Whether a call with this method and idempotency hint may be repeated. */
  mayRepeat(method: string | undefined, idempotent?: boolean): boolean {
    if (idempotent !== undefined) return idempotent;
    if (this.options.retryNonIdempotent || method === undefined) return true;
    return IDEMPOTENT_METHODS.has(method) || IDEMPOTENT_METHODS.has(method.toUpperCase());
  }

  /** Runs `fn`, retrying as configured. `fn` gets the caller's signal and the attempt number. */
  execute<T>(
    fn: (signal: AbortSignal, attempt: number) => PromiseLike<T> | T,
    signal: AbortSignal = neverAbortedSignal,
    call: RetryCall<T> = {},
  ): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    this.options.budget?.recordCall();
    return this.loop(fn, signal, call, 1, false, undefined);
  }

  /**
   * Whether an attempt's outcome is of a kind this policy retries (attempts, budget and
   * deadline aside). A caller that ran the first attempt itself asks this before handing
   * over to {@link resume}, so a first attempt that succeeds costs no trip through here.
   * @internal
   */
  retries(failed: boolean, value: unknown): boolean {
    const o = this.options;
    if (failed) return o.retryOnError ? o.retryOnError(value) : isConnectionError(value);
    const status = (value as { status?: unknown } | null | undefined)?.status;
    return typeof status === 'number' && o.statuses.has(status);
  }

  /**
   * Goes on as {@link execute} would after `attempt` ended as given (`value`: the result, or
   * the error when `failed`). The caller has already counted the call with the budget.
   * @internal
   */
  resume<T>(
    fn: (signal: AbortSignal, attempt: number) => PromiseLike<T> | T,
    signal: AbortSignal,
    call: RetryCall<T>,
    attempt: number,
    failed: boolean,
    value: unknown,
  ): Promise<T> {
    return this.loop(fn, signal, call, attempt, true, { failed, value });
  }

  private async loop<T>(
    fn: (signal: AbortSignal, attempt: number) => PromiseLike<T> | T,
    signal: AbortSignal,
    call: RetryCall<T>,
    first: number,
    given: boolean,
    outcome: { failed: boolean; value: unknown } | undefined,
  ): Promise<T> {
    const o = this.options;
    const repeatable = this.mayRepeat(call.method, call.idempotent);
    for (let attempt = first; ; attempt++) {
      let result: T | undefined;
      let error: unknown;
      let failed = false;
      if (given && attempt === first) {
        failed = outcome!.failed;
        if (failed) error = outcome!.value;
        else result = outcome!.value as T;
      } else {
        try {
          result = await fn(signal, attempt);
        } catch (e) {
          error = e;
          failed = true;
        }
      }
      if (!repeatable || signal.aborted) {
        if (failed) throw error;
        return result as T;
      }
      let reason: string;
      let retryAfterMs: number | undefined;
      if (failed) {
        const retryable = o.retryOnError ? o.retryOnError(error) : isConnectionError(error);
        if (!retryable) throw error;
        reason = isConnectionError(error) ? 'connect_error' : 'error';
      } else {
        const status = (result as { status?: unknown } | undefined)?.status;
        if (typeof status !== 'number' || !o.statuses.has(status)) return result as T;
        reason = `status_${status}`;
        if (o.respectRetryAfter) {
          const headers = (result as { headers?: Record<string, unknown> }).headers;
          retryAfterMs = parseRetryAfter(headers?.['retry-after'], this.clock.now());
        }
      }

      let stop: RetryGiveUpReason | undefined;
      let delay = 0;
      if (attempt >= o.attempts) stop = 'attempts';
      else {
        if (retryAfterMs === undefined) delay = this.backoffMs(attempt);
        else if (retryAfterMs > o.maxRetryAfterMs) stop = 'retry_after';
        else delay = retryAfterMs;
        if (stop === undefined && call.deadline !== undefined && this.clock.now() + delay >= call.deadline)
          stop = 'deadline';
        if (stop === undefined && o.budget !== undefined && !o.budget.tryRetry()) stop = 'budget';
      }
      if (stop !== undefined) {
        if (this.giveUpEmitter.size > 0) this.giveUpEmitter.fire(stop);
        if (failed) throw error;
        return result as T;
      }
      if (this.retryEmitter.size > 0) this.retryEmitter.fire({ attempt, delayMs: delay, reason });
      if (!failed && call.discard) {
        try {
          await call.discard(result as T);
        } catch {
          // A failure to discard the old response must not stop the retry.
        }
      }
      await this.sleep(delay, signal);
    }
  }

  /** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.clock.clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = this.clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      // The caller awaits this sleep: unlike background timers it must keep the process alive.
      (timer as { ref?(): unknown }).ref?.();
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
