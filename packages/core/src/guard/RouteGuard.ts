import type { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { Bulkhead } from '../bulkhead/Bulkhead.js';
import type { Chaos } from '../chaos/Chaos.js';
import { Engine } from '../engine/Engine.js';
import { Refused } from '../engine/phase.js';
import type { LoadShedder } from '../overload/LoadShedder.js';
import { clientIpKey, ProxyCheck } from '../rate-limit/client-ip.js';
import { retryAfterSeconds } from '../rate-limit/headers.js';
import type { RateLimiter } from '../rate-limit/RateLimiter.js';
import type { RateLimitDecision } from '../rate-limit/types.js';
import type { AdaptiveTimeout } from '../timeout/adaptive/AdaptiveTimeout.js';
import type { Clock } from '../util/clock.js';
import type { FallbackReason, FallbackResult, RouteFallback } from './fallback.js';
import type { CallGuard, GuardCall } from './GuardCall.js';
import { Priority, type PriorityName } from './priority.js';
import {
  bulkheadRefusal,
  circuitOpenRefusal,
  type PolicyRefusal,
  type RejectionReason,
  rateLimitErrorRefusal,
  rateLimitedRefusal,
  timeoutRefusal,
} from './problem.js';

/** Hooks the guard calls on decisions; metrics plug in here without the guard knowing them. */
export interface GuardHooks {
  onRejected?(guard: RouteGuard, reason: RejectionReason): void;
  onFallback?(guard: RouteGuard, reason: FallbackReason, result: FallbackResult): void;
}

/** The built policies of one route. */
export interface GuardPolicies {
  limiter?: RateLimiter<any> | undefined;
  breaker?: CircuitBreaker | undefined;
  bulkhead?: Bulkhead | undefined;
  timeoutMs?: number | undefined;
  timeoutStatus?: 503 | 504 | undefined;
  /** Answers may stream (`timeout.firstByte`/`idle`): `timeoutMs` bounds the time to the headers. */
  stream?: boolean | undefined;
  /** The longest silence between two writes of a streaming answer (`timeout.idle`), in ms. */
  streamIdleMs?: number | undefined;
  /** A deadline following recent latencies; `timeoutMs` is then its `max`. */
  adaptiveTimeout?: AdaptiveTimeout | undefined;
  /** The route's chaos policy, when configured. */
  chaos?: Chaos | undefined;
  onReject?: ((...args: any[]) => unknown) | undefined;
  /** The route's fallback, when configured. */
  fallback?: RouteFallback | undefined;
  /** The route's fixed priority; default normal. */
  priority?: Priority | undefined;
  /** The route's priority per request, when it depends on the request. */
  priorityOf?: ((req: any) => PriorityName) | undefined;
  /** The instance's load shedder; absent when `overload` is off or the route is always critical. */
  shedder?: LoadShedder | undefined;
}

/**
 * A route's front end to the {@link Engine}: shedding → rate limit → circuit breaker →
 * bulkhead → timeout → handler, with the deadline starting once the request passes the
 * rate limit, so time queued in the bulkhead counts against it. What it adds to the
 * engine is the request's side: the rate-limit key from the request, `RateLimit` headers,
 * refusals as problem+json, the route's name and priority. Adapters supply a
 * {@link GuardCall} subclass and call `guard.start(call)`.
 */
export class RouteGuard implements CallGuard {
  readonly engine: Engine;
  readonly timeoutStatus: 503 | 504;
  readonly onReject: ((...args: any[]) => unknown) | undefined;
  readonly fallback: RouteFallback | undefined;
  readonly priority: Priority;
  readonly priorityOf: ((req: any) => PriorityName) | undefined;
  private timeoutRefusalMs = 0;
  private timeoutRefusalCache: PolicyRefusal | undefined;
  private bulkheadFullCache: PolicyRefusal | undefined;
  private limitErrorCache: PolicyRefusal | undefined;
  /** The proxy guardrails of an `'ip'`-keyed limit; `done` once each has had its chance. */
  private readonly proxyCheck: ProxyCheck | undefined;

  constructor(
    readonly name: string,
    policies: GuardPolicies,
    readonly clock: Clock,
    private readonly hooks: GuardHooks = {},
  ) {
    this.engine = new Engine(
      {
        shedder: policies.shedder,
        limiter: policies.limiter,
        limiterDecisions: true,
        breaker: policies.breaker,
        bulkhead: policies.bulkhead,
        timeoutMs: policies.timeoutMs,
        adaptiveTimeout: policies.adaptiveTimeout,
        deadlineStart: 'admission',
        interceptor: policies.chaos,
        abandonedSlot: 'deadline',
        stream: policies.stream,
        idleMs: policies.streamIdleMs,
      },
      clock,
    );
    this.timeoutStatus = policies.timeoutStatus ?? 503;
    this.onReject = policies.onReject;
    this.fallback = policies.fallback;
    this.priority = policies.priority ?? Priority.normal;
    this.priorityOf = policies.priorityOf;
    this.proxyCheck = policies.limiter?.key === 'ip' ? new ProxyCheck(policies.limiter) : undefined;
  }

  get limiter(): RateLimiter<any> | undefined {
    return this.engine.limiter;
  }
  get breaker(): CircuitBreaker | undefined {
    return this.engine.breaker;
  }
  get bulkhead(): Bulkhead | undefined {
    return this.engine.bulkhead;
  }
  get timeoutMs(): number | undefined {
    return this.engine.timeoutMs;
  }
  get adaptiveTimeout(): AdaptiveTimeout | undefined {
    return this.engine.adaptiveTimeout;
  }
  get shedder(): LoadShedder | undefined {
    return this.engine.shedder;
  }
  /** The route's chaos policy; `bw.chaos` may add one at run time. */
  get chaos(): Chaos | undefined {
    return this.engine.interceptor as Chaos | undefined;
  }
  set chaos(c: Chaos | undefined) {
    this.engine.interceptor = c;
  }

  /** Requests currently waiting on their deadline (for tests and stats). */
  get pendingDeadlines(): number {
    return this.engine.pendingDeadlines;
  }

  /** The deadline now for a call starting now, in milliseconds (adaptive or fixed). */
  currentTimeoutMs(): number | undefined {
    return this.engine.currentTimeoutMs();
  }

  /** Starts guarding a request. */
  start(call: GuardCall): void {
    const pf = this.priorityOf;
    call.priority = pf === undefined ? this.priority : priorityFor(call, pf);
    call.start();
  }

  // --- the request's side of the engine's steps, called by GuardCall -------------------

  /** @internal The rate-limit key of a request. */
  keyOf(call: GuardCall): string {
    const limiter = this.engine.limiter!;
    const k = limiter.key;
    if (k === 'ip') {
      const pc = this.proxyCheck;
      if (pc !== undefined && !pc.done) pc.check(call);
      return clientIpKey(call.clientIp(), limiter.ipv6Subnet);
    }
    if (typeof k === 'function') {
      const v = k(call.nativeRequest());
      if (typeof v === 'string' && v.length > 0) return v;
      // No key (the limiter reports it once): counted by client IP rather than all in one bucket.
      return v === undefined || v === null || v === ''
        ? clientIpKey(call.clientIp(), limiter.ipv6Subnet)
        : String(v);
    }
    const h = call.header(limiter.keyHeader!);
    // Requests without the header share one bucket rather than escaping the limit.
    return h === undefined || h.length === 0 ? '' : h.length > 256 ? h.slice(0, 256) : h;
  }

  /** @internal An admitted request carries the route's rate-limit state. */
  allowedHeaders(call: GuardCall, d: RateLimitDecision): void {
    const limiter = this.engine.limiter!;
    limiter.headerFormatFor(d)?.allowed(call, d, limiter.clock);
  }

  /** @internal The problem+json answer for an engine refusal. */
  refusal(
    call: GuardCall,
    why: Refused,
    retryAfterMs: number,
    d: RateLimitDecision | undefined,
  ): PolicyRefusal {
    const e = this.engine;
    switch (why) {
      case Refused.Overloaded:
        return e.shedder!.refusal;
      case Refused.RateLimited:
        return this.rateLimited(d!);
      case Refused.CircuitOpen:
        return circuitOpenRefusal(e.breaker!.name, retryAfterMs);
      case Refused.BulkheadFull:
        this.bulkheadFullCache ??= bulkheadRefusal(e.bulkhead!.name, 'full', 1);
        return this.bulkheadFullCache;
      case Refused.QueueTimeout:
        return bulkheadRefusal(e.bulkhead!.name, 'queue_timeout', 1);
      case Refused.LimitError:
        this.limitErrorCache ??= rateLimitErrorRefusal(e.limiter!.name);
        return this.limitErrorCache;
      default:
        return this.timeoutRefusal(call);
    }
  }

  /** @internal Counts the refusal and hands it to the adapter. */
  reject(call: GuardCall, refusal: PolicyRefusal): void {
    this.rejected(call, refusal.reason);
    call.refuse(refusal);
  }

  /** @internal Announces a refusal (a timeout's answer is the adapter's to render). */
  rejected(_call: GuardCall, reason: RejectionReason): void {
    this.hooks.onRejected?.(this, reason);
  }

  /** @internal Announces how a fallback attempt ended. */
  fellBack(_call: GuardCall, reason: FallbackReason, result: FallbackResult): void {
    this.hooks.onFallback?.(this, reason, result);
  }

  /** @internal The timeout's refusal, cached while the deadline's length holds. */
  timeoutRefusal(call: GuardCall): PolicyRefusal {
    const e = this.engine;
    // An adaptive deadline's length is the call's own; it moves slowly, so the cache mostly holds.
    const ms = e.adaptiveTimeout === undefined ? e.timeoutMs! : Math.round(call.deadline - call.startedAt);
    if (this.timeoutRefusalCache === undefined || this.timeoutRefusalMs !== ms) {
      this.timeoutRefusalCache = timeoutRefusal(ms, this.timeoutStatus);
      this.timeoutRefusalMs = ms;
    }
    return this.timeoutRefusalCache;
  }

  private rateLimited(d: RateLimitDecision): PolicyRefusal {
    const limiter = this.engine.limiter!;
    const names: string[] = [];
    for (const i of d.violated) names.push(limiter.windows[i]!.name);
    const f = limiter.headerFormatFor(d);
    return rateLimitedRefusal(
      retryAfterSeconds(d),
      names,
      f === undefined ? [] : f.refused(d, limiter.clock),
      f !== undefined,
    );
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
