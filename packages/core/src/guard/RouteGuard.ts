import { type CircuitBreaker, REJECTED } from '../breaker/CircuitBreaker.js';
import type { Bulkhead } from '../bulkhead/Bulkhead.js';
import { clientIpKey } from '../rate-limit/client-ip.js';
import { formatRateLimitHeader, retryAfterSeconds } from '../rate-limit/headers.js';
import type { RateLimiter } from '../rate-limit/RateLimiter.js';
import type { RateLimitDecision } from '../rate-limit/types.js';
import { DeadlineList } from '../timeout/DeadlineList.js';
import type { Clock } from '../util/clock.js';
import { ClientClosedError, type GuardCall, Phase } from './GuardCall.js';
import {
  bulkheadRefusal,
  circuitOpenRefusal,
  type Refusal,
  type RejectionReason,
  rateLimitedRefusal,
  timeoutRefusal,
} from './problem.js';

/** Hooks the guard calls on decisions; metrics plug in here without the guard knowing them. */
export interface GuardHooks {
  onRejected?(guard: RouteGuard, reason: RejectionReason): void;
}

/** The built policies of one route. */
export interface GuardPolicies {
  limiter?: RateLimiter<any> | undefined;
  breaker?: CircuitBreaker | undefined;
  bulkhead?: Bulkhead | undefined;
  timeoutMs?: number | undefined;
  timeoutStatus?: 503 | 504 | undefined;
  onReject?: ((...args: any[]) => unknown) | undefined;
}

/**
 * Applies one route's policies to each request, outermost first: rate limit → circuit
 * breaker → bulkhead → timeout → handler. The timeout clock starts once the request
 * passes the rate limit, so time queued in the bulkhead counts against it.
 *
 * Everything here is framework-neutral; adapters supply a {@link GuardCall} subclass.
 */
export class RouteGuard {
  readonly limiter: RateLimiter<any> | undefined;
  readonly breaker: CircuitBreaker | undefined;
  readonly bulkhead: Bulkhead | undefined;
  readonly timeoutMs: number | undefined;
  readonly timeoutStatus: 503 | 504;
  readonly onReject: ((...args: any[]) => unknown) | undefined;
  private readonly deadlines: DeadlineList | undefined;
  /** The limiter reads the guard's clock, so the guard's reading can be handed to it. */
  private readonly limiterSharesClock: boolean;
  private timeoutRefusalCache: Refusal | undefined;
  private bulkheadFullCache: Refusal | undefined;

  constructor(
    readonly name: string,
    policies: GuardPolicies,
    readonly clock: Clock,
    private readonly hooks: GuardHooks = {},
  ) {
    this.limiter = policies.limiter;
    this.breaker = policies.breaker;
    this.bulkhead = policies.bulkhead;
    this.timeoutMs = policies.timeoutMs;
    this.timeoutStatus = policies.timeoutStatus ?? 503;
    this.onReject = policies.onReject;
    this.deadlines = this.timeoutMs !== undefined ? new DeadlineList(clock) : undefined;
    this.limiterSharesClock = this.limiter?.clock === clock;
  }

  /** Requests currently waiting on their deadline (for tests and stats). */
  get pendingDeadlines(): number {
    return this.deadlines?.size ?? 0;
  }

  /** Starts guarding a request. */
  start(call: GuardCall): void {
    const now = this.clock.now();
    call.startedAt = now;
    const limiter = this.limiter;
    if (limiter === undefined) return this.admitted(call, now);
    let key: string;
    let cost: number;
    try {
      key = this.keyOf(call, limiter);
      cost = limiter.costOf(call.nativeRequest());
    } catch {
      // A throwing key or cost function is the application's bug; fail open, not with a crash.
      return this.admitted(call, now);
    }
    const d = limiter.consume(key, cost, this.limiterSharesClock ? now : undefined);
    if (typeof (d as Promise<RateLimitDecision>).then === 'function') {
      (d as Promise<RateLimitDecision>).then(
        (v) => this.limited(call, v, this.clock.now()),
        () => this.limited(call, undefined, this.clock.now()),
      );
      return;
    }
    this.limited(call, d as RateLimitDecision, now);
  }

  /** The handler has ended (or, in `Late`, the late handler has). Idempotent. */
  finish(call: GuardCall, status: number, error: unknown): void {
    const phase = call.phase;
    if (phase === Phase.Running) {
      call.phase = Phase.Done;
      // In time: the shared timer may linger for the next request rather than be re-armed.
      this.deadlines?.release(call);
      if (call.ticket !== -1) {
        const breaker = this.breaker!;
        const duration = breaker.timesCalls ? this.clock.now() - call.startedAt : 0;
        // A client that left before any status was decided says nothing about the dependency.
        if (status === 0 && error === undefined) breaker.release(call.ticket);
        else breaker.record(call.ticket, breaker.judge(status, error, duration), duration);
      }
      this.releaseSlot(call);
    } else if (phase === Phase.Late) {
      call.phase = Phase.Done;
      this.releaseSlot(call);
    }
  }

  /** The client went away. Aborts the signal; a queued request leaves the queue at once. */
  clientGone(call: GuardCall): void {
    call.abort(new ClientClosedError());
    if (call.phase === Phase.Queued) {
      call.phase = Phase.Done;
      this.bulkhead!.cancel(call);
      this.deadlines?.remove(call);
      if (call.ticket !== -1) this.breaker!.release(call.ticket);
    } else if (call.phase === Phase.Limiting) {
      // Still waiting on the store: the answer, when it comes, is ignored.
      call.phase = Phase.Done;
    }
  }

  // --- internal steps, called by the call object or above ------------------------------

  deadlinePassed(call: GuardCall): void {
    const refusal = this.timeoutRefusal();
    if (call.phase === Phase.Queued) {
      call.phase = Phase.Done;
      this.bulkhead!.cancel(call);
      if (call.ticket !== -1) this.breaker!.release(call.ticket);
      this.reject(call, refusal);
      call.abort(refusal.error);
    } else if (call.phase === Phase.Running) {
      call.phase = Phase.Late;
      if (call.ticket !== -1) this.breaker!.record(call.ticket, true, this.clock.now() - call.startedAt);
      this.hooks.onRejected?.(this, 'timeout');
      // Answer first: abort listeners run synchronously and must find the response taken.
      call.timedOut(refusal);
      call.abort(refusal.error);
      if (!call.hasSlot) call.phase = Phase.Done;
    }
  }

  slotGranted(call: GuardCall): void {
    if (call.phase !== Phase.Queued) {
      // Cannot happen (a call leaves the queue when it stops waiting), but never leak a slot.
      this.bulkhead!.release();
      return;
    }
    call.hasSlot = true;
    this.run(call);
  }

  queueExpired(call: GuardCall): void {
    if (call.phase !== Phase.Queued) return;
    call.phase = Phase.Done;
    this.deadlines?.remove(call);
    if (call.ticket !== -1) this.breaker!.release(call.ticket);
    this.reject(call, bulkheadRefusal(this.bulkhead!.name, 'queue_timeout', 1));
  }

  private keyOf(call: GuardCall, limiter: RateLimiter<any>): string {
    const k = limiter.key;
    if (k === 'ip') return clientIpKey(call.clientIp());
    if (typeof k === 'function') {
      const v = k(call.nativeRequest());
      return typeof v === 'string' ? v : String(v);
    }
    const h = call.header(limiter.keyHeader!);
    // Requests without the header share one bucket rather than escaping the limit.
    return h === undefined || h.length === 0 ? '' : h.length > 256 ? h.slice(0, 256) : h;
  }

  private limited(call: GuardCall, d: RateLimitDecision | undefined, now: number): void {
    if (call.phase !== Phase.Limiting) return;
    const limiter = this.limiter!;
    if (d !== undefined) {
      if (!d.allowed) {
        call.phase = Phase.Done;
        const names: string[] = [];
        for (const i of d.violated) names.push(limiter.windows[i]!.name);
        const extra: Array<readonly [string, string]> = limiter.headers
          ? [
              ['RateLimit-Policy', limiter.policyHeader],
              ['RateLimit', formatRateLimitHeader(limiter.windows, d)],
            ]
          : [];
        return this.reject(call, rateLimitedRefusal(retryAfterSeconds(d), names, extra));
      }
      if (limiter.headers) {
        call.setHeader('RateLimit-Policy', limiter.policyHeader);
        call.setHeader('RateLimit', formatRateLimitHeader(limiter.windows, d));
      }
    }
    this.admitted(call, now);
  }

  /** `now`: the time the request passed the rate limit, when its timeout clock starts. */
  private admitted(call: GuardCall, now: number): void {
    if (this.timeoutMs !== undefined) {
      call.deadline = now + this.timeoutMs;
      this.deadlines!.add(call, call.deadline);
    }
    const breaker = this.breaker;
    if (breaker !== undefined) {
      const ticket = breaker.acquire();
      if (ticket === REJECTED) {
        call.phase = Phase.Done;
        this.deadlines?.remove(call);
        return this.reject(call, circuitOpenRefusal(breaker.name, breaker.retryAfterMs()));
      }
      call.ticket = ticket;
    }
    const bulkhead = this.bulkhead;
    if (bulkhead !== undefined) {
      if (bulkhead.tryAcquire()) {
        call.hasSlot = true;
      } else {
        call.phase = Phase.Queued;
        if (bulkhead.maxQueue > 0 && bulkhead.enqueue(call)) return;
        if (bulkhead.maxQueue === 0) bulkhead.rejected('full');
        call.phase = Phase.Done;
        this.deadlines?.remove(call);
        if (call.ticket !== -1) breaker!.release(call.ticket);
        this.bulkheadFullCache ??= bulkheadRefusal(bulkhead.name, 'full', 1);
        return this.reject(call, this.bulkheadFullCache);
      }
    }
    this.run(call);
  }

  private run(call: GuardCall): void {
    call.phase = Phase.Running;
    try {
      call.proceed();
    } catch (e) {
      this.finish(call, 500, e);
      throw e;
    }
  }

  private releaseSlot(call: GuardCall): void {
    if (call.hasSlot) {
      call.hasSlot = false;
      this.bulkhead!.release();
    }
  }

  private reject(call: GuardCall, refusal: Refusal): void {
    this.hooks.onRejected?.(this, refusal.reason);
    call.refuse(refusal);
  }

  private timeoutRefusal(): Refusal {
    this.timeoutRefusalCache ??= timeoutRefusal(this.timeoutMs!, this.timeoutStatus);
    return this.timeoutRefusalCache;
  }
}
