import type { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { Bulkhead } from '../bulkhead/Bulkhead.js';
import type { LoadShedder } from '../overload/LoadShedder.js';
import type { RateLimiter } from '../rate-limit/RateLimiter.js';
import type { AdaptiveTimeout } from '../timeout/adaptive/AdaptiveTimeout.js';
import { DeadlineList } from '../timeout/DeadlineList.js';
import type { Clock } from '../util/clock.js';
import type { CallInterceptor } from './interceptor.js';
import { StreamStats } from './StreamStats.js';

/** When a call's deadline starts. */
export type DeadlineStart = 'admission' | 'slot';

/** The admission steps of an {@link Engine}, each optional. */
export interface EngineSteps {
  /** Refuses by priority while the process is overloaded; asked before anything else. */
  shedder?: LoadShedder | undefined;
  limiter?: RateLimiter<any> | undefined;
  /**
   * True: the limiter's whole decision is handed to the front end (for `RateLimit`
   * headers); false: only the verdict, which costs less. Default false.
   */
  limiterDecisions?: boolean | undefined;
  breaker?: CircuitBreaker | undefined;
  bulkhead?: Bulkhead | undefined;
  /** The deadline's length; with an adaptive timeout, its maximum. */
  timeoutMs?: number | undefined;
  adaptiveTimeout?: AdaptiveTimeout | undefined;
  /**
   * When the deadline starts. `'admission'` (default): once the call passes the rate limit,
   * so time queued for a slot counts and a client never waits longer than the timeout.
   * `'slot'`: once the call holds its slot, so the deadline bounds the work alone.
   */
  deadlineStart?: DeadlineStart | undefined;
  /** How late deadlines may be checked so near-simultaneous ones share a wake-up. Default 1 ms. */
  deadlineSlackMs?: number | undefined;
  /** Called at the work's position, inside every policy (chaos). */
  interceptor?: CallInterceptor<any> | undefined;
  /**
   * What bounds the slot of work whose caller has left. `'end'` (default): the slot is
   * held until the work ends. `'deadline'`: until it ends or its deadline passes, for
   * front ends that cannot always see the end of work nobody waits for (an Express handler
   * that hands an error to `next()` after the client has gone reports nothing).
   */
  abandonedSlot?: 'end' | 'deadline' | undefined;
  /**
   * True: answers may stream. The deadline then bounds the time to the answer's headers
   * (the front end's stream watch unlinks it when they go out), and the call holds its slot
   * until the stream ends. Default false: the deadline bounds the whole answer.
   */
  stream?: boolean | undefined;
  /** With `stream`: the longest silence between two writes of a streaming answer, in ms. */
  idleMs?: number | undefined;
}

/**
 * One admission engine: shedding → rate limit → circuit breaker → bulkhead slot →
 * deadline → work. It holds the policies and the deadline list; the transitions live on
 * the call ({@link EngineCall}), so a call allocates itself and nothing more. The route
 * guard (a request, answered through an adapter's callbacks) and `compose()` (a function
 * call, answered by a promise) are two thin front ends over it.
 */
export class Engine {
  readonly shedder: LoadShedder | undefined;
  readonly limiter: RateLimiter<any> | undefined;
  readonly limiterDecisions: boolean;
  readonly breaker: CircuitBreaker | undefined;
  readonly bulkhead: Bulkhead | undefined;
  readonly timeoutMs: number | undefined;
  readonly adaptiveTimeout: AdaptiveTimeout | undefined;
  /** True when the deadline starts at the slot rather than at admission. */
  readonly deadlineFromSlot: boolean;
  /** Present exactly when `timeoutMs` is. */
  readonly deadlines: DeadlineList | undefined;
  /** The limiter reads the engine's clock, so one reading serves both. */
  readonly limiterSharesClock: boolean;
  /** The deadline still bounds the slot of work whose caller has left. */
  readonly abandonedUntilDeadline: boolean;
  /** Mutable: chaos may be enabled on a route at run time. */
  interceptor: CallInterceptor<any> | undefined;
  /** Answers may stream: the deadline bounds the time to the headers. */
  readonly stream: boolean;
  /** The longest silence between two writes of a streaming answer (ms), if bounded. */
  readonly idleMs: number | undefined;
  /** Streams' idle deadlines; present exactly when `idleMs` is. */
  readonly idleDeadlines: DeadlineList | undefined;
  /** Counts of the streams that started; present exactly when `stream` is. */
  readonly streamStats: StreamStats | undefined;

  constructor(
    steps: EngineSteps,
    readonly clock: Clock,
  ) {
    this.shedder = steps.shedder;
    this.limiter = steps.limiter;
    this.limiterDecisions = steps.limiterDecisions === true;
    this.breaker = steps.breaker;
    this.bulkhead = steps.bulkhead;
    this.timeoutMs = steps.timeoutMs;
    this.adaptiveTimeout = steps.adaptiveTimeout;
    this.deadlineFromSlot = steps.deadlineStart === 'slot';
    this.interceptor = steps.interceptor;
    this.abandonedUntilDeadline = steps.abandonedSlot === 'deadline';
    // Kept in deadline order, so adaptive deadlines of varying length fire on time too.
    this.deadlines =
      this.timeoutMs === undefined ? undefined : new DeadlineList(clock, steps.deadlineSlackMs ?? 1);
    this.limiterSharesClock = this.limiter?.clock === clock;
    this.stream = steps.stream === true;
    this.idleMs = this.stream ? steps.idleMs : undefined;
    // One list for every stream of the route: an idle bound is one length, so it stays in order.
    this.idleDeadlines =
      this.idleMs === undefined ? undefined : new DeadlineList(clock, steps.deadlineSlackMs ?? 1);
    this.streamStats = this.stream ? new StreamStats() : undefined;
  }

  /** The deadline's length for a call starting now (adaptive or fixed), if there is one. */
  currentTimeoutMs(now?: number): number | undefined {
    return this.adaptiveTimeout === undefined ? this.timeoutMs : this.adaptiveTimeout.timeoutMs(now);
  }

  /** Calls waiting on their deadline (for tests and stats). */
  get pendingDeadlines(): number {
    return this.deadlines?.size ?? 0;
  }
}
