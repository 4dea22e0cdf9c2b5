import type { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { Engine } from '../engine/Engine.js';
import { EngineCall } from '../engine/EngineCall.js';
import type { Refused } from '../engine/phase.js';
import { Phase } from '../engine/phase.js';
import type { ProxySetting } from '../rate-limit/client-ip.js';
import type { RateLimitDecision } from '../rate-limit/types.js';
import type { FallbackReason, FallbackResult, RouteFallback, WireAnswer } from './fallback.js';
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
  /** The route's fallback, if it has one. */
  readonly fallback: RouteFallback | undefined;
  /** Announces how a fallback attempt ended (metrics). */
  fellBack(call: GuardCall, reason: FallbackReason, result: FallbackResult): void;
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
  /**
   * The framework's proxy setting, for the guardrails of `'ip'` rate limits (read at a
   * route's first requests only). Undefined when the framework has none to report.
   */
  proxySetting(): ProxySetting | undefined {
    return undefined;
  }
  /** A request header by lower-case name (the first value when repeated). */
  abstract header(name: string): string | undefined;
  /** The request's method, path (with its query) and headers, for a fallback's context. */
  abstract requestMethod(): string;
  abstract requestPath(): string;
  abstract requestHeaders(): Readonly<Record<string, string | string[] | undefined>>;
  /** The native request handed to key, cost and priority functions. */
  abstract override nativeRequest(): unknown;
  /** Sets a response header on the eventual response. */
  abstract setHeader(name: string, value: string): void;
  /** Sends an answer in place of the handler's, before the handler runs; then `answered()`. */
  abstract send(answer: WireAnswer): void;
  /** Calls the route's `onReject` with the framework's arguments; returns what it returned. */
  abstract callOnReject(onReject: (...args: any[]) => unknown, refusal: Refusal): unknown;
  /** Hands an error to the framework's error path (an `onReject` that threw or rejected). */
  abstract fail(error: unknown): void;
  /** Runs the handler. The adapter calls `finish(status, error)` when it ends. */
  abstract proceed(): void;
  /**
   * The deadline passed while the handler runs: answer with the refusal now (or let
   * `onReject` render it), and keep anything the handler writes later from reaching the
   * client or throwing.
   */
  abstract timedOut(refusal: Refusal): void;
  /**
   * The deadline passed while the handler runs and a fallback will answer: keep anything
   * the handler writes from reaching the client, as `timedOut` does, without answering
   * yet. False when the handler's headers were out already (the response is then cut short).
   */
  abstract cutOff(): boolean;
  /** Writes an answer after `cutOff()`. */
  abstract sendLate(answer: WireAnswer): void;
  /** The refusal or fallback answer is settled (a promise-based framework settles here). */
  answered(): void {}

  /**
   * Answers a refusal: the route's fallback when it covers the reason, else `onReject`
   * (sync or async; a throw or rejection goes to the framework's error path), else the
   * default problem+json.
   */
  refuse(refusal: PolicyRefusal): void {
    const fb = this.guard.fallback;
    if (fb?.covers(refusal.reason)) {
      this.degrade(fb, refusal.reason, refusal.error, false).then((served) => {
        if (!served) this.render(refusal);
      });
      return;
    }
    this.render(refusal);
  }

  /** A refusal through `onReject`, or the default. */
  private render(refusal: Refusal): void {
    const onReject = this.guard.onReject;
    if (onReject === undefined) {
      this.send(refusal);
      return this.answered();
    }
    let r: unknown;
    try {
      r = this.callOnReject(onReject, refusal);
    } catch (e) {
      return this.fail(e);
    }
    if (r && typeof (r as PromiseLike<unknown>).then === 'function')
      (r as PromiseLike<unknown>).then(
        () => this.answered(),
        (e: unknown) => this.fail(e),
      );
    else this.answered();
  }

  /**
   * The handler failed before its headers went out (threw, rejected, or answered ≥ 500):
   * true when the route's fallback takes the answer over, and `otherwise` runs should the
   * fallback give none. The adapter has ended the call (`finish`) first, so the breaker
   * counts the failure whatever the client receives.
   */
  handlerFailed(error: unknown, otherwise: () => void): boolean {
    const fb = this.guard.fallback;
    if (fb === undefined || !fb.covers('error')) return false;
    this.degrade(fb, 'error', error, false).then((served) => {
      if (!served) otherwise();
    });
    return true;
  }

  /**
   * Hands a good answer of the handler to the fallback that remembers answers (adapters
   * call it when `guard.fallback?.recorder` is set), with the request it answered.
   */
  recordAnswer(
    status: number,
    responseHeaders: Readonly<Record<string, number | string | string[] | undefined>>,
    body: string | Uint8Array,
  ): void {
    this.guard.fallback?.recorder?.record({
      method: this.requestMethod(),
      path: this.requestPath(),
      headers: this.requestHeaders(),
      req: this.nativeRequest(),
      status,
      responseHeaders,
      body,
    });
  }

  /**
   * Asks the fallback for an answer and sends it (`late`: after `cutOff()`). Resolves
   * whether it was served; never rejects.
   */
  private degrade(
    fb: RouteFallback,
    reason: FallbackReason,
    error: unknown,
    late: boolean,
  ): Promise<boolean> {
    const ctx = {
      reason,
      error,
      method: this.requestMethod(),
      route: this.guard.name,
      path: this.requestPath(),
      headers: this.requestHeaders(),
      req: this.nativeRequest(),
    };
    return fb.answer(ctx).then((a) => {
      this.guard.fellBack(this, reason, a === undefined ? 'failed' : 'served');
      if (a === undefined) return false;
      try {
        if (late) this.sendLate(a);
        else {
          this.send(a);
          this.answered();
        }
      } catch {
        // The response cannot take it (the client has gone): nothing more to send.
      }
      return true;
    });
  }

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
      const fb = guard.fallback;
      if (fb?.covers('timeout')) {
        if (this.cutOff())
          this.degrade(fb, 'timeout', refusal.error, true).then((served) => {
            if (!served) this.sendLate(refusal);
          });
      } else this.timedOut(refusal);
    }
    return refusal.error;
  }
}
