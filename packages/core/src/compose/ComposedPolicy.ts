import { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import { Bulkhead } from '../bulkhead/Bulkhead.js';
import { Engine } from '../engine/Engine.js';
import { ConfigError } from '../errors.js';
import { RateLimiter } from '../rate-limit/RateLimiter.js';
import { Retry } from '../retry/Retry.js';
import { Timeout } from '../timeout/Timeout.js';
import { type Clock, systemClock } from '../util/clock.js';
import type { Event } from '../util/events.js';
import { promiseFor } from '../util/promiseFor.js';
import { neverAbortedSignal } from '../util/signal.js';
import { expectObject } from '../util/validate.js';
import { ComposedCall, type ComposedContext, type ComposedOwner, type ComposedWork } from './ComposedCall.js';
import {
  type ComposedFallback,
  type ComposedFallbackContext,
  type ComposedFallbackEvent,
  type ComposedFallbackReason,
  ComposedFallbackRunner,
} from './ComposedFallback.js';

/** The policies a {@link ComposedPolicy} applies, each optional; named as a route's options are. */
export interface ComposedPolicies<F = never> {
  rateLimit?: RateLimiter<any> | undefined;
  circuitBreaker?: CircuitBreaker | undefined;
  bulkhead?: Bulkhead | undefined;
  timeout?: Timeout | undefined;
  retry?: Retry | undefined;
  /**
   * A value in place of a refusal or a failure: the call resolves with what it returns (or
   * resolves with) instead of rejecting. Async allowed. A fallback that throws or rejects
   * declines: the call rejects with its own error (the refusal, the timeout, what the work
   * threw), never the fallback's. The policies record the call as they would without it.
   * The caller's own abort is never handed to it.
   */
  fallback?: ComposedFallback<F> | undefined;
  /** The reasons the fallback answers for. Default every one but `'rate_limited'`. */
  fallbackOn?: readonly ComposedFallbackReason[] | undefined;
}

/** Per-call options of {@link ComposedPolicy.execute}. */
export interface ComposedExecuteOptions {
  /** The caller's signal: aborting it abandons the call (not held against the breaker). */
  signal?: AbortSignal | undefined;
  /** The rate-limit key. Default `'*'`: one bucket for every call. */
  key?: string | undefined;
  /** Units the call takes from the rate limit. Default 1. */
  cost?: number | undefined;
}

/** Options that are not policies. */
const OTHER = new Set(['fallback', 'fallbackOn']);

const KINDS = {
  rateLimit: RateLimiter,
  circuitBreaker: CircuitBreaker,
  bulkhead: Bulkhead,
  timeout: Timeout,
  retry: Retry,
} as const;

/**
 * Several policies applied as one, outermost first: rate limit → circuit breaker →
 * bulkhead → timeout → retry → the work. Each decides as it does on its own (same errors,
 * events and state), so a policy can be shared with other callers; what composing adds is
 * cost: one call object and one promise per call, where nesting `execute`s allocates a
 * promise, a context and an async hop per layer.
 *
 * Where the layers meet:
 * - the timeout starts once the bulkhead grants a slot and covers every attempt and
 *   backoff (retries never sleep past it);
 * - the breaker records one outcome per call, after retries; refusals by the bulkhead,
 *   and the caller's own abort, are not held against it;
 * - a slot is held until the work really ends, even after the timeout has answered, so
 *   the bulkhead bounds the work actually running.
 *
 * @example
 * ```ts
 * const policy = compose({ circuitBreaker, bulkhead, timeout: new Timeout('2s'), retry });
 * const user = await policy.execute(({ signal }) => fetchUser(id, { signal }));
 * ```
 */
export class ComposedPolicy<F = never> implements ComposedOwner {
  readonly limiter: RateLimiter<any> | undefined;
  readonly breaker: CircuitBreaker | undefined;
  readonly bulkhead: Bulkhead | undefined;
  readonly timeout: Timeout | undefined;
  readonly retry: Retry | undefined;
  /** The timeout's clock (the system clock without one): deadlines and breaker durations. */
  readonly clock: Clock;
  /** @internal The admission engine the calls run through. */
  readonly engine: Engine;
  /** @internal The fallback, when given. */
  readonly fallback: ComposedFallbackRunner | undefined;
  /** Each fallback attempt: served (the call resolved with its value) or failed (it threw). */
  readonly onFallback: Event<ComposedFallbackEvent>;

  constructor(policies: ComposedPolicies<F>, path = 'compose') {
    const o = expectObject(policies, path);
    for (const [k, v] of Object.entries(o)) {
      if (OTHER.has(k)) continue;
      const kind = KINDS[k as keyof typeof KINDS];
      if (kind === undefined)
        throw new ConfigError(
          `${path}.${k}`,
          v,
          `one of the known policies (${Object.keys(KINDS).join(', ')})`,
        );
      if (v !== undefined && !(v instanceof kind))
        throw new ConfigError(`${path}.${k}`, v, `a ${kind.name} (build it with new ${kind.name}(options))`);
    }
    this.limiter = policies.rateLimit;
    this.breaker = policies.circuitBreaker;
    this.bulkhead = policies.bulkhead;
    this.timeout = policies.timeout;
    this.retry = policies.retry;
    if (policies.fallback !== undefined)
      this.fallback = new ComposedFallbackRunner(policies.fallback, policies.fallbackOn, path);
    else if (policies.fallbackOn !== undefined)
      throw new ConfigError(`${path}.fallback`, undefined, 'a function, with fallbackOn set');
    this.onFallback = this.fallback?.onFallback ?? noEvent;
    this.clock = this.timeout?.clock ?? systemClock;
    this.engine = new Engine(
      {
        limiter: this.limiter,
        breaker: this.breaker,
        bulkhead: this.bulkhead,
        timeoutMs: this.timeout?.timeoutMs,
        // The work's own deadline, as a Timeout around it would give.
        deadlineStart: 'slot',
        // One duration for every call: the list stays in arrival order (one comparison a call).
        deadlineSlackMs: 0,
      },
      this.clock,
    );
  }

  /**
   * Runs `fn` through the policies. Rejects with the refusing policy's error
   * (`RateLimitedError`, `CircuitOpenError`, `BulkheadRejectedError`, `TimeoutError`),
   * the caller's abort reason, or what `fn` finally threw; with a `fallback`, resolves with
   * its value instead where it answers. `fn` gets a context whose `signal` aborts at the
   * deadline or with the caller's signal (built only if read).
   */
  execute<T>(fn: ComposedWork<T>, options?: ComposedExecuteOptions): Promise<T | F> {
    const signal = options?.signal ?? neverAbortedSignal;
    // AbortSignal's getters check their receiver: the common case skips them.
    if (signal !== neverAbortedSignal && signal.aborted) return Promise.reject(signal.reason);
    const call = new ComposedCall<T | F>(this, fn, signal, options?.key ?? '*', options?.cost ?? 1);
    const promise = promiseFor(call);
    call.start();
    return promise;
  }
}

/** Composes policies into one; see {@link ComposedPolicy}. */
export function compose<F = never>(policies: ComposedPolicies<F>): ComposedPolicy<F> {
  return new ComposedPolicy<F>(policies);
}

const noEvent: Event<ComposedFallbackEvent> = () => ({ dispose() {} });

export type {
  ComposedContext,
  ComposedFallback,
  ComposedFallbackContext,
  ComposedFallbackEvent,
  ComposedFallbackReason,
  ComposedWork,
};
