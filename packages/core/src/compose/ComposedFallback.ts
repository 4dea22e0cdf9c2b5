import { ConfigError } from '../errors.js';
import type { FallbackReason, FallbackResult } from '../guard/fallback.js';
import { Emitter, type Event } from '../util/events.js';
import type { Settles } from '../util/promiseFor.js';

/**
 * Why a composed call's fallback is asked for a value: a policy's refusal, or `'error'`,
 * the work failing (after any retries). A composed call is never refused as `'overloaded'`.
 */
export type ComposedFallbackReason = Exclude<FallbackReason, 'overloaded'>;

/** What a composed call's fallback is told. */
export interface ComposedFallbackContext {
  reason: ComposedFallbackReason;
  /** The error the call would have rejected with: the typed refusal, or what the work threw. */
  error: unknown;
  /** The call's rate-limit key (`'*'` unless the call gave one). */
  key: string;
  /** The caller's signal (never aborted when the call gave none): a fallback still running may watch it. */
  signal: AbortSignal;
}

/**
 * A composed policy's fallback: its value (or what its promise resolves with) is what the
 * call resolves with instead of rejecting. Throwing or rejecting declines: the call then
 * rejects with its own error, not the fallback's.
 */
export type ComposedFallback<F> = (ctx: ComposedFallbackContext) => F | PromiseLike<F>;

/** A fallback attempt, as {@link ComposedPolicy.onFallback} announces it. */
export interface ComposedFallbackEvent {
  reason: ComposedFallbackReason;
  /** `served`: the call resolved with the fallback's value; `failed`: it threw, and the call rejected. */
  result: FallbackResult;
  /** The error the fallback stood in for (`served`) or that the call rejected with (`failed`). */
  error: unknown;
}

const REASONS: readonly ComposedFallbackReason[] = [
  'rate_limited',
  'circuit_open',
  'bulkhead_full',
  'timeout',
  'error',
];
/** As a route's: a rate limit is a decision the caller should usually see. */
const DEFAULT_ON: readonly ComposedFallbackReason[] = ['circuit_open', 'bulkhead_full', 'timeout', 'error'];

/** A composition's built fallback: the function, the reasons it answers for, its event. */
export class ComposedFallbackRunner {
  private readonly on: number;
  private readonly emitter = new Emitter<ComposedFallbackEvent>();
  readonly onFallback: Event<ComposedFallbackEvent> = this.emitter.event;

  constructor(
    private readonly fn: ComposedFallback<unknown>,
    on: readonly ComposedFallbackReason[] | undefined,
    path: string,
  ) {
    if (typeof fn !== 'function') throw new ConfigError(`${path}.fallback`, fn, 'a function');
    const list = on ?? DEFAULT_ON;
    if (!Array.isArray(list))
      throw new ConfigError(`${path}.fallbackOn`, on, `an array of reasons (${REASONS.join(', ')})`);
    let mask = 0;
    list.forEach((r, i) => {
      const bit = REASONS.indexOf(r);
      if (bit < 0) throw new ConfigError(`${path}.fallbackOn[${i}]`, r, `one of ${REASONS.join(', ')}`);
      mask |= 1 << bit;
    });
    this.on = mask;
  }

  /**
   * Settles `call` for a refusal or failure: with the fallback's value when it covers
   * `reason` and gives one, else with `error`. A synchronous fallback settles it at once.
   */
  settle(
    call: Settles<unknown>,
    reason: ComposedFallbackReason,
    error: unknown,
    key: string,
    signal: AbortSignal,
  ): void {
    if ((this.on & (1 << REASONS.indexOf(reason))) === 0) return call.reject(error);
    let v: unknown;
    try {
      v = this.fn({ reason, error, key, signal });
    } catch {
      return this.failed(call, reason, error);
    }
    if (v !== null && typeof (v as PromiseLike<unknown>)?.then === 'function')
      Promise.resolve(v).then(
        (value) => this.served(call, reason, error, value),
        () => this.failed(call, reason, error),
      );
    else this.served(call, reason, error, v);
  }

  private served(call: Settles<unknown>, reason: ComposedFallbackReason, error: unknown, v: unknown): void {
    // Settled first: a listener that throws cannot leave the call hanging.
    call.resolve(v);
    if (this.emitter.size > 0) this.emitter.fire({ reason, result: 'served', error });
  }

  private failed(call: Settles<unknown>, reason: ComposedFallbackReason, error: unknown): void {
    call.reject(error);
    if (this.emitter.size > 0) this.emitter.fire({ reason, result: 'failed', error });
  }
}
