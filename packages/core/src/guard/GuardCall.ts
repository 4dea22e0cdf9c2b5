import type { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { Engine } from '../engine/Engine.js';
import { EngineCall } from '../engine/EngineCall.js';
import type { Refused } from '../engine/phase.js';
import { Phase } from '../engine/phase.js';
import type { RateLimitDecision } from '../rate-limit/types.js';
import type { PolicyRefusal, Refusal, RejectionReason } from './problem.js';

/** What a request's call needs of its route's guard (`RouteGuard` implements it). */
export interface CallGuard {
  readonly name: string;
  readonly engine: Engine;
  /** The route's own refusal renderer, in the adapter's terms. */
  readonly onReject: ((...args: any[]) => unknown) | undefined;
  keyOf(call: GuardCall): string;
  allowedHeaders(call: GuardCall, d: RateLimitDecision): void;
  refusal(
    call: GuardCall,
    why: Refused,
    retryAfterMs: number,
    d: RateLimitDecision | undefined,
  ): PolicyRefusal;
  reject(call: GuardCall, refusal: PolicyRefusal): void;
  rejected(call: GuardCall, reason: RejectionReason): void;
  timeoutRefusal(call: GuardCall): PolicyRefusal;
}

/** What a handler sees of its request's guard: `req.breakwater` in Express, `ctx.state.breakwater` in Koa. */
export interface BreakwaterContext {
  /** Aborts when the route's timeout fires or the client goes away. */
  readonly signal: AbortSignal;
  /** Epoch milliseconds by which the request must be answered (`Infinity` without a timeout). */
  readonly deadline: number;
  /** Milliseconds left before the deadline (never negative). */
  remainingMs(): number;
  /** The route's name, as in metrics. */
  readonly route: string;
  /** An inbound request header by lower-case name, e.g. to forward `traceparent` upstream. */
  header(name: string): string | undefined;
  /**
   * The route's circuit breaker, if it has one. An outbound pool given this context skips a
   * breaker the route already holds, so a shared breaker counts each call once.
   */
  readonly breaker?: CircuitBreaker | undefined;
}

/** Reason a request's signal aborts when the client goes away. */
export class ClientClosedError extends Error {
  readonly code = 'CLIENT_CLOSED';
  constructor() {
    super('The client closed the connection');
    this.name = 'ClientClosedError';
  }
}

/**
 * One request through a route's guard: the engine's call, answered through an adapter.
 * Adapters subclass it with their framework's I/O (the abstract members below) and
 * report the handler's end with `finish(status, error)` and the client leaving with
 * `clientGone()`; everything else is the engine's.
 */
export abstract class GuardCall extends EngineCall implements BreakwaterContext {
  constructor(readonly guard: CallGuard) {
    super(guard.engine);
  }

  get route(): string {
    return this.guard.name;
  }

  get breaker(): CircuitBreaker | undefined {
    return this.guard.engine.breaker;
  }

  /** The deadline answered the request and the handler still runs. */
  get late(): boolean {
    return this.phase === Phase.Late;
  }

  /** Still waiting to run: on the rate-limit store or in the bulkhead's queue. */
  get waiting(): boolean {
    return this.phase === Phase.Limiting || this.phase === Phase.Queued;
  }

  // --- what adapters implement -------------------------------------------------------

  /** The framework's idea of the client IP (trust-proxy settings applied). */
  abstract clientIp(): string | undefined;
  /** A request header by lower-case name (the first value when repeated). */
  abstract header(name: string): string | undefined;
  /** The native request handed to key, cost and priority functions. */
  abstract override nativeRequest(): unknown;
  /** Sets a response header on the eventual response. */
  abstract setHeader(name: string, value: string): void;
  /** Sends a refusal (or hands it to `onReject`). The handler never runs. */
  abstract refuse(refusal: Refusal): void;
  /** Runs the handler. The adapter calls `finish(status, error)` when it ends. */
  abstract proceed(): void;
  /**
   * The deadline passed while the handler runs: answer with the refusal now, and keep
   * anything the handler writes later from reaching the client or throwing.
   */
  abstract timedOut(refusal: Refusal): void;

  /** The client went away: aborts the signal; a waiting request leaves at once. */
  clientGone(): Phase {
    return this.abandon(new ClientClosedError());
  }

  // --- the engine's hooks --------------------------------------------------------------

  limitKey(): string | undefined {
    try {
      return this.guard.keyOf(this);
    } catch {
      // A throwing key function is the application's bug: the request is admitted.
      return undefined;
    }
  }

  limitCost(): number {
    try {
      return this.guard.engine.limiter!.costOf(this.nativeRequest());
    } catch {
      return -1;
    }
  }

  onAllowed(d: RateLimitDecision | undefined): void {
    if (d !== undefined) this.guard.allowedHeaders(this, d);
  }

  onRefused(why: Refused, retryAfterMs: number, d: RateLimitDecision | undefined): void {
    this.guard.reject(this, this.guard.refusal(this, why, retryAfterMs, d));
  }

  startWork(): void {
    try {
      this.proceed();
    } catch (err) {
      // The adapter's own failure to run the handler: the call ends, the error goes up.
      this.finish(500, err);
      throw err;
    }
  }

  onExpired(running: boolean): unknown {
    const guard = this.guard;
    const refusal = guard.timeoutRefusal(this);
    if (!running) guard.reject(this, refusal);
    else {
      guard.rejected(this, 'timeout');
      this.timedOut(refusal);
    }
    return refusal.error;
  }
}
