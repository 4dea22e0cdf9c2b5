import type { Clock } from '../util/clock.js';

/** What an interceptor may do with a call it took over. */
export interface InterceptedCall {
  /** True while the call waits on its work (neither answered nor abandoned). */
  readonly isRunning: boolean;
  /** Aborts at the deadline or when the caller leaves. */
  readonly signal: AbortSignal;
  /** The framework's request, for predicates. */
  nativeRequest(): unknown;
  /**
   * Runs the held-back work now. When the call was answered or abandoned meanwhile, the
   * work never runs and the call ends (its slot is released).
   */
  resume(): void;
}

/**
 * A step the engine calls at the work's position, inside every policy (chaos plugs in
 * here). Asked only while `enabled`; `intercept` returns true when it took the call
 * over, and must then `resume()` or end the call itself.
 */
export interface CallInterceptor<C extends InterceptedCall = InterceptedCall> {
  readonly enabled: boolean;
  intercept(call: C, clock: Clock): boolean;
}
