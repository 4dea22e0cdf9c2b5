import { type CircuitBreaker, REJECTED } from '../breaker/CircuitBreaker.js';
import { outcomeOf } from '../bulkhead/adaptive/LimitAlgorithm.js';
import type { Bulkhead } from '../bulkhead/Bulkhead.js';
import type { Chaos } from '../chaos/Chaos.js';
import type { LoadShedder } from '../overload/LoadShedder.js';
import { clientIpKey } from '../rate-limit/client-ip.js';
import { formatRateLimitHeader, retryAfterSeconds } from '../rate-limit/headers.js';
import type { RateLimiter } from '../rate-limit/RateLimiter.js';
import type { RateLimitDecision } from '../rate-limit/types.js';
import type { AdaptiveTimeout } from '../timeout/adaptive/AdaptiveTimeout.js';
import { DeadlineList } from '../timeout/DeadlineList.js';
import type { Clock } from '../util/clock.js';
import { ClientClosedError, type GuardCall, Phase } from './GuardCall.js';
import { Priority, type PriorityName } from './priority.js';
import {
  bulkheadRefusal,
  circuitOpenRefusal,
  type PolicyRefusal,
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
  /** A deadline following recent latencies; `timeoutMs` is then its `max`. */
  adaptiveTimeout?: AdaptiveTimeout | undefined;
  /** The route's chaos policy, when configured. */
  chaos?: Chaos | undefined;
  onReject?: ((...args: any[]) => unknown) | undefined;
  /** The route's fixed priority; default normal. */
  priority?: Priority | undefined;
  /** The route's priority per request, when it depends on the request. */
  priorityOf?: ((req: any) => PriorityName) | undefined;
  /** The instance's load shedder; absent when `overload` is off or the route is always critical. */
  shedder?: LoadShedder | undefined;
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
  /** The adaptive timeout, when the route has one (`timeoutMs` is then its max). */
  readonly adaptiveTimeout: AdaptiveTimeout | undefined;
  /** The route's chaos policy; `bw.chaos` may add one at run time. */
  chaos: Chaos | undefined;
  readonly priority: Priority;
  readonly priorityOf: ((req: any) => PriorityName) | undefined;
  readonly shedder: LoadShedder | undefined;
  private readonly deadlines: DeadlineList | undefined;
  private timeoutRefusalMs = 0;
  /** The limiter reads the guard's clock, so the guard's reading can be handed to it. */
  private readonly limiterSharesClock: boolean;
  private timeoutRefusalCache: PolicyRefusal | undefined;
  private bulkheadFullCache: PolicyRefusal | undefined;

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
    this.priority = policies.priority ?? Priority.normal;
    this.priorityOf = policies.priorityOf;
    this.shedder = policies.shedder;
    this.adaptiveTimeout = policies.adaptiveTimeout;
    this.chaos = policies.chaos;
    // Kept in deadline order, so adaptive deadlines of varying length fire on time too.
    this.deadlines = this.timeoutMs === undefined ? undefined : new DeadlineList(clock);
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
    const pf = this.priorityOf;
    call.priority = pf === undefined ? this.priority : priorityFor(call, pf);
    // Load shedding comes first: a refusal here costs the overloaded process the least.
    const shedder = this.shedder;
    if (shedder !== undefined && call.priority >= shedder.shedFrom && shedder.refuses(call.priority)) {
      call.phase = Phase.Done;
      return this.reject(call, shedder.refusal);
    }
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
      // Successes only: a failure's latency says nothing of how long success takes.
      if (this.adaptiveTimeout !== undefined && error === undefined && status > 0 && status < 500) {
        const t = this.clock.now();
        this.adaptiveTimeout.recordSuccess(t - call.startedAt, t);
      }
      if (call.ticket !== -1) {
        const breaker = this.breaker!;
        const duration = breaker.timesCalls ? this.clock.now() - call.startedAt : 0;
        // A client that left before any status was decided says nothing about the dependency.
        if (status === 0 && error === undefined) breaker.release(call.ticket);
        else breaker.record(call.ticket, breaker.judge(status, error, duration), duration);
      }
      this.releaseSlot(call, false, status, error);
    } else if (phase === Phase.Late) {
      call.phase = Phase.Done;
      this.releaseSlot(call, true, status, error);
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
    const refusal = this.timeoutRefusal(call);
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
      call.deadline =
        now + (this.adaptiveTimeout === undefined ? this.timeoutMs : this.adaptiveTimeout.timeoutMs(now));
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
        // Where an adaptive bulkhead's RTT sample starts (a queued call's is set at its grant).
        call.bhQueuedAt = now;
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
    // Chaos sits at the handler's position, inside every policy; one field check without it.
    const chaos = this.chaos;
    if (chaos?.enabled && chaos.intercept(this, call)) return;
    try {
      call.proceed();
    } catch (e) {
      this.finish(call, 500, e);
      throw e;
    }
  }

  /** `late`: the deadline passed while the handler ran, so an adaptive limit counts a drop. */
  private releaseSlot(call: GuardCall, late: boolean, status: number, error: unknown): void {
    if (call.hasSlot) {
      call.hasSlot = false;
      const bulkhead = this.bulkhead!;
      // One field check: a fixed bulkhead's release costs what it did before.
      if (bulkhead.algorithm === undefined) bulkhead.release();
      else bulkhead.releaseSample(call.bhQueuedAt, outcomeOf(late, status, error));
    }
  }

  /** Runs the handler of a call chaos held back, unless the call has ended meanwhile. */
  resume(call: GuardCall): void {
    if (call.phase !== Phase.Running) return;
    try {
      call.proceed();
    } catch (e) {
      // Called from a timer: nobody above to rethrow to, and the call is ended here.
      this.finish(call, 500, e);
    }
  }

  /** The deadline now for a call starting now, in milliseconds (adaptive or fixed). */
  currentTimeoutMs(): number | undefined {
    return this.adaptiveTimeout === undefined ? this.timeoutMs : this.adaptiveTimeout.timeoutMs();
  }

  private reject(call: GuardCall, refusal: PolicyRefusal): void {
    this.hooks.onRejected?.(this, refusal.reason);
    call.refuse(refusal);
  }

  private timeoutRefusal(call: GuardCall): PolicyRefusal {
    // An adaptive deadline's length is the call's own; it moves slowly, so the cache mostly holds.
    const ms =
      this.adaptiveTimeout === undefined ? this.timeoutMs! : Math.round(call.deadline - call.startedAt);
    if (this.timeoutRefusalCache === undefined || this.timeoutRefusalMs !== ms) {
      this.timeoutRefusalCache = timeoutRefusal(ms, this.timeoutStatus);
      this.timeoutRefusalMs = ms;
    }
    return this.timeoutRefusalCache;
  }
}

/** A request's priority from the route's function; normal when it throws or answers nonsense. */
function priorityFor(call: GuardCall, fn: (req: unknown) => PriorityName): Priority {
  try {
    const v = Priority[fn(call.nativeRequest())];
    return typeof v === 'number' ? v : Priority.normal;
  } catch {
    return Priority.normal;
  }
}
