import { CircuitOpenError } from '../errors.js';
import { type Clock, clockOption } from '../util/clock.js';
import { Emitter, type Event } from '../util/events.js';
import { neverAbortedSignal } from '../util/signal.js';
import {
  type CallOutcome,
  type CircuitBreakerOptions,
  type ResolvedBreakerOptions,
  resolveBreakerOptions,
} from './options.js';
import { type BreakerWindow, CountWindow, TimeWindow } from './windows.js';

/** The states of a breaker. `open` includes one held open by hand with `open()`. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** Per-state data: only the private transition methods replace it. */
type StateData =
  | { readonly kind: 'closed' }
  | { readonly kind: 'open'; readonly openedAt: number; readonly until: number; readonly forced: boolean }
  | { readonly kind: 'half-open'; inFlight: number; successes: number };

/** A state change, as announced by {@link CircuitBreaker.onStateChange}. */
export interface StateChange {
  breaker: string;
  from: CircuitState;
  to: CircuitState;
  reason:
    | 'failure-rate'
    | 'slow-call-rate'
    | 'consecutive-failures'
    | 'probe-failed'
    | 'probe-succeeded'
    | 'open-elapsed'
    | 'manual'
    /** A quorum of the fleet's instances reported it open (see `BreakerFleet`). */
    | 'fleet';
}

/** The result of one call, as announced by {@link CircuitBreaker.onCall}. */
export type CallResult = 'success' | 'failure' | 'slow' | 'rejected';

/** Live numbers of a breaker. */
export interface BreakerStats {
  state: CircuitState;
  calls: number;
  failures: number;
  slowCalls: number;
  failureRate: number;
  consecutiveFailures: number;
  /** Trips since it last closed; drives `openFor` growth. */
  trips: number;
  /** Milliseconds until an open breaker admits a probe (0 otherwise). */
  retryAfterMs: number;
}

/** The last failure a breaker recorded: when, and a stable code for what (never an error's message). */
export interface BreakerFailure {
  /** Clock reading of the failure (milliseconds since the epoch with the system clock). */
  readonly at: number;
  /**
   * The error's string `code` (`TIMEOUT`, `ECONNREFUSED`, `UND_ERR_SOCKET`, …), else its class
   * name (`TypeError`), `HTTP_<status>` for a failing status, or `TIMEOUT` for a timed-out
   * call; absent when the caller said nothing of the cause.
   */
  readonly code?: string;
}

/** Ticket meaning "refused" from {@link CircuitBreaker.acquire}. */
export const REJECTED = -1;

/**
 * A circuit breaker: CLOSED → OPEN → HALF_OPEN → CLOSED, on a count or time window.
 * Open → half-open happens lazily when the breaker is next asked, so an idle breaker
 * holds no timer.
 *
 * Two ways to use it: `execute(fn)`, or `acquire()` then `record()`/`release()` with the
 * ticket, for callers (the request guard) that cannot wrap the work in a function.
 */
export class CircuitBreaker {
  readonly name: string;
  readonly options: ResolvedBreakerOptions;
  private readonly clock: Clock;
  private readonly window: BreakerWindow;
  /** Whether outcomes need durations (slow-call detection or a custom `isFailure` reads them); when false, callers may pass 0. */
  readonly timesCalls: boolean;
  /** Whether the window needs the time (a time window); a count window does not. */
  private readonly windowTimed: boolean;
  private st: StateData = { kind: 'closed' };
  /** Bumped on every transition; tickets from an earlier state are ignored. */
  private epoch = 0;
  private consecutive = 0;
  private trips = 0;
  /** When the current state began (see {@link stateSince}). */
  private sinceAt: number;
  private last: BreakerFailure | undefined;
  /** The code of the failure `judge()` just found, for the `record()` that follows it. */
  private judgedCode: string | undefined;
  private readonly stateEmitter = new Emitter<StateChange>();
  private readonly callEmitter = new Emitter<CallResult>();
  /** Fires on every state change. */
  readonly onStateChange: Event<StateChange> = this.stateEmitter.event;
  /** Fires once per call with its result (rejected calls included). */
  readonly onCall: Event<CallResult> = this.callEmitter.event;

  constructor(options: CircuitBreakerOptions = {}, name = 'default', path = 'circuitBreaker') {
    this.name = name;
    this.options = resolveBreakerOptions(options, path);
    this.clock = clockOption(options.clock, `${path}.clock`);
    const w = this.options.window;
    this.window = w.kind === 'count' ? new CountWindow(w.size) : new TimeWindow(w.sizeMs);
    this.windowTimed = w.kind !== 'count';
    this.timesCalls =
      this.options.slowCallDurationMs !== Number.POSITIVE_INFINITY || this.options.isFailure !== undefined;
    this.sinceAt = this.clock.now();
  }

  /**
   * When the current state began, as a clock reading: the construction or the last
   * transition (for a breaker gone half-open by itself, the moment its open time ran out).
   */
  get stateSince(): number {
    this.refresh();
    return this.sinceAt;
  }

  /** The last failure recorded, until `reset()`; undefined if none was. */
  get lastFailure(): BreakerFailure | undefined {
    return this.last;
  }

  /** The current state (an open breaker whose time is up reads as half-open). */
  get state(): CircuitState {
    this.refresh();
    return this.st.kind;
  }

  get stats(): BreakerStats {
    this.refresh();
    const t = this.window.totals(this.clock.now());
    return {
      state: this.st.kind,
      calls: t.calls,
      failures: t.failures,
      slowCalls: t.slow,
      failureRate: t.calls === 0 ? 0 : t.failures / t.calls,
      consecutiveFailures: this.consecutive,
      trips: this.trips,
      retryAfterMs: this.retryAfterMs(),
    };
  }

  /** Milliseconds until the breaker admits a probe: 0 unless it is open. */
  retryAfterMs(): number {
    const s = this.st;
    if (s.kind === 'open') return s.forced ? this.options.openForMs : Math.max(0, s.until - this.clock.now());
    if (s.kind === 'half-open' && s.inFlight >= this.options.halfOpenMaxCalls) return 1000;
    return 0;
  }

  /** Asks to make a call. Returns a ticket for `record`/`release`, or {@link REJECTED}. */
  acquire(): number {
    let s = this.st;
    if (s.kind === 'closed') return this.epoch;
    if (s.kind === 'open') {
      if (s.forced || this.clock.now() < s.until) return this.reject();
      this.transition({ kind: 'half-open', inFlight: 0, successes: 0 }, 'open-elapsed', s.until);
      s = this.st;
    }
    if (s.kind === 'half-open' && s.inFlight < this.options.halfOpenMaxCalls) {
      s.inFlight++;
      return this.epoch;
    }
    return this.reject();
  }

  /** Gives back a ticket whose call never ran (a half-open probe slot is returned). */
  release(ticket: number): void {
    const s = this.st;
    if (ticket === this.epoch && s.kind === 'half-open' && s.inFlight > 0) s.inFlight--;
  }

  /**
   * Records a finished call. Tickets from before a state change are ignored. `code` names a
   * failure's cause for {@link lastFailure}; by default the cause `judge()` just found.
   */
  record(ticket: number, failure: boolean, durationMs: number, code?: string): void {
    const judged = this.judgedCode;
    this.judgedCode = undefined;
    if (ticket !== this.epoch) return;
    if (failure) this.last = { at: this.clock.now(), code: code ?? judged };
    const o = this.options;
    const slow = durationMs >= o.slowCallDurationMs;
    if (this.callEmitter.size > 0) this.callEmitter.fire(failure ? 'failure' : slow ? 'slow' : 'success');
    const s = this.st;
    if (s.kind === 'closed') {
      const now = this.windowTimed ? this.clock.now() : 0;
      this.window.record(now, failure, slow);
      this.consecutive = failure ? this.consecutive + 1 : 0;
      if (o.consecutiveFailures > 0 && this.consecutive >= o.consecutiveFailures)
        return this.trip('consecutive-failures');
      if (!failure && !slow) return;
      const t = this.window.totals(now);
      if (t.calls < o.minimumCalls) return;
      if (failure && t.failures / t.calls >= o.failureRateThreshold && t.failures > 0)
        return this.trip('failure-rate');
      if (slow && t.slow / t.calls >= o.slowCallRateThreshold) return this.trip('slow-call-rate');
    } else if (s.kind === 'half-open') {
      s.inFlight--;
      if (failure || (slow && o.slowCallDurationMs !== Number.POSITIVE_INFINITY)) {
        this.consecutive++;
        return this.trip('probe-failed');
      }
      s.successes++;
      if (s.successes >= o.successThreshold) this.toClosed('probe-succeeded');
    }
  }

  /** Whether an outcome counts as a failure, by the `isFailure` option or the default rule. */
  isFailure(outcome: CallOutcome): boolean {
    const f = this.options.isFailure;
    if (f) return f(outcome);
    return (
      outcome.error !== undefined ||
      outcome.timedOut === true ||
      (outcome.status !== undefined && outcome.status >= 500)
    );
  }

  /**
   * {@link isFailure} for callers on a hot path: the default rule allocates no outcome
   * object; a custom `isFailure` gets one.
   */
  judge(status: number | undefined, error: unknown, durationMs: number, result?: unknown): boolean {
    const f = this.options.isFailure;
    const failure = f
      ? f({ status, error, durationMs, result })
      : error !== undefined || (status !== undefined && status >= 500);
    this.judgedCode = failure ? failureCode(status, error) : undefined;
    return failure;
  }

  /**
   * Runs `fn` through the breaker. Rejects with {@link CircuitOpenError} when refused. A
   * result with a numeric `status` (an HTTP response) is judged by it. An abort of the
   * caller's own `signal` is not held against the dependency.
   */
  execute<T>(
    fn: (signal: AbortSignal) => PromiseLike<T> | T,
    signal: AbortSignal = neverAbortedSignal,
  ): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const ticket = this.acquire();
    if (ticket === REJECTED) return Promise.reject(new CircuitOpenError(this.name, this.retryAfterMs()));
    // The clock is read only when something judges durations (slow calls, a custom isFailure).
    const start = this.timesCalls ? this.clock.now() : 0;
    let work: PromiseLike<T> | T;
    try {
      work = fn(signal);
    } catch (error) {
      this.settleError(ticket, start, signal, error);
      return Promise.reject(error);
    }
    return Promise.resolve(work).then(
      (result) => {
        this.settleResult(ticket, start, result);
        return result;
      },
      (error: unknown) => {
        this.settleError(ticket, start, signal, error);
        throw error;
      },
    );
  }

  private settleResult(ticket: number, start: number, result: unknown): void {
    const durationMs = this.timesCalls ? this.clock.now() - start : 0;
    const s = (result as { status?: unknown } | null | undefined)?.status;
    const status = typeof s === 'number' ? s : undefined;
    this.record(ticket, this.judge(status, undefined, durationMs, result), durationMs);
  }

  private settleError(ticket: number, start: number, signal: AbortSignal, error: unknown): void {
    // An abort of the caller's own signal says nothing about the dependency.
    if (signal.aborted && error === signal.reason) return this.release(ticket);
    const durationMs = this.timesCalls ? this.clock.now() - start : 0;
    this.record(ticket, this.judge(undefined, error, durationMs), durationMs);
  }

  /** Opens the breaker and holds it open until `close()` or `reset()` (isolation by hand). */
  open(): void {
    const now = this.clock.now();
    this.transition({ kind: 'open', openedAt: now, until: Number.POSITIVE_INFINITY, forced: true }, 'manual');
  }

  /**
   * Opens a closed breaker as its own trip would (for `openFor`, then half-open): a
   * {@link BreakerFleet} calls it when a quorum of instances reports this breaker open.
   * Does nothing unless the breaker is closed.
   */
  openByFleet(): void {
    if (this.st.kind === 'closed') this.trip('fleet');
  }

  /** Closes the breaker with a fresh window. */
  close(): void {
    this.toClosed('manual');
  }

  /** Closes the breaker and forgets everything, trips and the last failure included. */
  reset(): void {
    this.trips = 0;
    this.last = undefined;
    this.toClosed('manual');
  }

  private reject(): number {
    if (this.callEmitter.size > 0) this.callEmitter.fire('rejected');
    return REJECTED;
  }

  private refresh(): void {
    const s = this.st;
    if (s.kind === 'open' && !s.forced && this.clock.now() >= s.until) {
      this.transition({ kind: 'half-open', inFlight: 0, successes: 0 }, 'open-elapsed', s.until);
    }
  }

  private trip(reason: StateChange['reason']): void {
    const o = this.options;
    this.trips++;
    const openFor = Math.min(o.openForMaxMs, o.openForMs * 2 ** Math.min(30, this.trips - 1));
    const now = this.clock.now();
    this.transition({ kind: 'open', openedAt: now, until: now + openFor, forced: false }, reason);
  }

  private toClosed(reason: StateChange['reason']): void {
    if (reason === 'probe-succeeded') this.trips = 0;
    this.window.reset();
    this.consecutive = 0;
    this.transition({ kind: 'closed' }, reason);
  }

  private transition(next: StateData, reason: StateChange['reason'], at?: number): void {
    const from = this.st.kind;
    this.st = next;
    if (from !== next.kind) this.sinceAt = at ?? this.clock.now();
    this.epoch = (this.epoch + 1) | 0;
    if (this.epoch === REJECTED) this.epoch = 0;
    if (from !== next.kind && this.stateEmitter.size > 0)
      this.stateEmitter.fire({ breaker: this.name, from, to: next.kind, reason });
  }
}

/** Codes are shown to operators: anything but a short identifier is replaced, so no message text leaks. */
const CODE_RE = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;

/** A stable name for a failure's cause: the error's `code`, its class name, or the status. */
function failureCode(status: number | undefined, error: unknown): string | undefined {
  if (error !== undefined) {
    const c = (error as { code?: unknown } | null)?.code;
    if (typeof c === 'string' && CODE_RE.test(c)) return c;
    const name = error instanceof Error ? error.name : undefined;
    return name !== undefined && CODE_RE.test(name) ? name : 'ERROR';
  }
  return status === undefined ? undefined : `HTTP_${status}`;
}
