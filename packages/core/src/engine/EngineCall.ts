import { type CircuitBreaker, REJECTED } from '../breaker/CircuitBreaker.js';
import { outcomeOf } from '../bulkhead/adaptive/LimitAlgorithm.js';
import type { Bulkhead } from '../bulkhead/Bulkhead.js';
import type { BulkheadWaiter } from '../bulkhead/WaiterQueue.js';
import type { RateLimitCharge, RateLimiter } from '../rate-limit/RateLimiter.js';
import type { RateLimitDecision, RateLimitWindow } from '../rate-limit/types.js';
import type { DeadlineNode } from '../timeout/DeadlineList.js';
import { abortLazy, type LazyAbort, lazySignal } from '../util/signal.js';
import type { Engine } from './Engine.js';
import type { InterceptedCall } from './interceptor.js';
import { Phase, Refused } from './phase.js';

const NORMAL = 1;

/**
 * One call through an {@link Engine}. The same object is the deadline list's node, the
 * bulkhead queue's node and the work's context, so a call allocates itself (and an
 * AbortController only if someone reads `signal`).
 *
 * The transitions are the only code that changes `phase`, and each first checks the
 * phase it acts on, so a late event (a store answer after the client left, a grant
 * after a timeout) is a no-op:
 *
 * - `start()`: shedding, the rate limit, the breaker, a slot or a queue place;
 * - `grant()`: the bulkhead gives a queued call its slot;
 * - `expire()`: the deadline passes, in the queue or while the work runs;
 * - `abandon(reason)`: the caller leaves;
 * - `finish(status, error)`: the work ends.
 *
 * The resources a call holds are fields that say so: `heldBreaker` is set exactly while
 * the call holds a breaker ticket, `slotOf` exactly while it holds a bulkhead slot. Each
 * is released once, by the transition that clears it.
 *
 * Front ends subclass it and answer through the hooks (`limitKey`, `onRefused`, `startWork`, …).
 */
export abstract class EngineCall implements DeadlineNode, BulkheadWaiter, LazyAbort, InterceptedCall {
  phase: Phase = Phase.Limiting as Phase;
  /** When the deadline clock started (admission or slot, as the engine says). */
  startedAt = 0;
  /** 0 critical, 1 normal, 2 sheddable: the bulkhead queue serves lower values first. */
  priority = NORMAL;
  /** The breaker this call holds a ticket of, while it holds one. */
  private heldBreaker: CircuitBreaker | undefined = undefined;
  private ticket = -1;
  /** The bulkhead this call holds a slot of, while it holds one. */
  private slotOf: Bulkhead | undefined = undefined;
  /** What the call owes its rate limit under `count: 'failed' | 'succeeded'`, until settled. */
  private charge: RateLimitCharge | undefined = undefined;
  // DeadlineNode
  deadlineAt = 0;
  dlPrev: DeadlineNode | null = null;
  dlNext: DeadlineNode | null = null;
  // BulkheadWaiter
  bhPrev: BulkheadWaiter | null = null;
  bhNext: BulkheadWaiter | null = null;
  bhQueuedAt = 0;
  // LazyAbort
  ac: AbortController | undefined = undefined;
  abortReason: unknown = undefined;

  constructor(readonly engine: Engine) {}

  // --- what front ends implement -----------------------------------------------------

  /** The rate-limit key of this call; undefined: none can be had, so it is admitted (fail open). */
  abstract limitKey(): string | undefined;
  /** The units this call takes from the rate limit; negative or NaN: admitted, like `limitKey`. */
  abstract limitCost(): number;
  /** The limiter admitted the call (called only when the engine hands out decisions). */
  abstract onAllowed(d: RateLimitDecision | undefined): void;
  /**
   * The engine refused the call; its work never runs. `decision` is the limiter's, when
   * the engine hands out decisions; `retryAfterMs` the refusing policy's hint.
   */
  abstract onRefused(why: Refused, retryAfterMs: number, decision: RateLimitDecision | undefined): void;
  /**
   * Starts the work; it ends with `finish()`. Must not throw: a front end whose work can
   * throw synchronously ends the call itself (`finish(500, error)`) first.
   */
  abstract startWork(): void;
  /**
   * The deadline passed: answer now (the work never ran when `running` is false) and
   * return the reason the call's signal aborts with.
   */
  abstract onExpired(running: boolean): unknown;
  /** The call joined the bulkhead's queue. */
  onQueued(): void {}

  // --- the context ---------------------------------------------------------------------

  get signal(): AbortSignal {
    return lazySignal(this);
  }

  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  /** Epoch milliseconds by which the call must be answered (`Infinity` without a timeout). */
  get deadline(): number {
    // The deadline list's own field: one number fewer per call.
    return this.engine.deadlines === undefined ? Number.POSITIVE_INFINITY : this.deadlineAt;
  }

  get isRunning(): boolean {
    return this.phase === Phase.Running;
  }

  /** Milliseconds left before the deadline (never negative). */
  remainingMs(): number {
    return Math.max(0, this.deadline - this.engine.clock.now());
  }

  nativeRequest(): unknown {
    return this;
  }

  /** Aborts the call's signal (once). */
  abort(reason: unknown): void {
    abortLazy(this, reason);
  }

  // --- transitions ---------------------------------------------------------------------

  /** Admission: shedding, then the rate limit (sync or async), then {@link admit}. */
  start(): void {
    const e = this.engine;
    const now = e.clock.now();
    const shedder = e.shedder;
    if (shedder !== undefined && this.priority >= shedder.shedFrom && shedder.refuses(this.priority)) {
      this.phase = Phase.Done;
      return this.onRefused(Refused.Overloaded, 0, undefined);
    }
    const limiter = e.limiter;
    if (limiter === undefined) return this.admit(now);
    if (limiter.special) return this.limitSpecial(limiter, now);
    // No key or no valid cost (the application's function threw): fail open, not with a crash.
    const key = this.limitKey();
    if (key === undefined) return this.admit(now);
    const cost = this.limitCost();
    if (!(cost >= 0)) return this.admit(now);
    const at = e.limiterSharesClock ? now : undefined;
    if (e.limiterDecisions) {
      const d = limiter.consume(key, cost, at);
      if (typeof (d as Promise<RateLimitDecision>).then !== 'function')
        return this.decided(d as RateLimitDecision, now);
      (d as Promise<RateLimitDecision>).then(
        (v) => this.decided(v, e.clock.now()),
        () => this.decided(undefined, e.clock.now()),
      );
      return;
    }
    const v = limiter.admit(key, cost, at);
    if (typeof v === 'number') return this.verdict(v, now);
    v.then(
      (w) => this.verdict(w, e.clock.now()),
      () => this.verdict(-1, e.clock.now()),
    );
  }

  /** A limiter with `skip`, a `limit` function or `count`: off the path of plain limits. */
  private limitSpecial(limiter: RateLimiter<any>, now: number): void {
    if (limiter.perRequest) return this.limitRequest(limiter, now);
    const key = this.limitKey();
    if (key === undefined) return this.admit(now);
    const cost = this.limitCost();
    if (!(cost >= 0)) return this.admit(now);
    this.consumeWith(limiter, key, cost, limiter.windows, now);
  }

  /**
   * A limiter that asks per request (`skip`, a `limit` function): skipped requests pass
   * uncounted and without headers; a limit that cannot be had refuses (never unlimited).
   */
  private limitRequest(limiter: RateLimiter<any>, now: number): void {
    const skip = limiter.skipOf(this.nativeRequest());
    if (skip === true) return this.admit(now);
    if (skip === false) return this.limitWindows(limiter, now);
    skip.then((s) => {
      if (this.phase !== Phase.Limiting) return;
      const t = this.engine.clock.now();
      if (s) this.admit(t);
      else this.limitWindows(limiter, t);
    });
  }

  private limitWindows(limiter: RateLimiter<any>, now: number): void {
    const key = this.limitKey();
    if (key === undefined) return this.admit(now);
    const cost = this.limitCost();
    if (!(cost >= 0)) return this.admit(now);
    const ws = limiter.windowsOf(this.nativeRequest());
    if (ws === undefined) return this.limitFailed();
    if (typeof (ws as Promise<unknown>).then !== 'function')
      return this.consumeWith(limiter, key, cost, ws as readonly RateLimitWindow[], now);
    (ws as Promise<readonly RateLimitWindow[] | undefined>).then((w) => {
      if (this.phase !== Phase.Limiting) return;
      if (w === undefined) this.limitFailed();
      else this.consumeWith(limiter, key, cost, w, this.engine.clock.now());
    });
  }

  private consumeWith(
    limiter: RateLimiter<any>,
    key: string,
    cost: number,
    ws: readonly RateLimitWindow[],
    now: number,
  ): void {
    const e = this.engine;
    const d = limiter.consumeIn(key, cost, e.limiterSharesClock ? now : undefined, ws);
    if (limiter.count !== 'all') return this.charged(limiter, key, cost, d, now);
    if (typeof (d as Promise<RateLimitDecision>).then !== 'function')
      return this.decided(d as RateLimitDecision, now);
    (d as Promise<RateLimitDecision>).then(
      (v) => this.decided(v, e.clock.now()),
      () => this.decided(undefined, e.clock.now()),
    );
  }

  /** The limit could not be had (a `limit` function failed): refused, `RATE_LIMIT_ERROR`. */
  private limitFailed(): void {
    this.phase = Phase.Done;
    this.onRefused(Refused.LimitError, 0, undefined);
  }

  /**
   * A decision under `count: 'failed' | 'succeeded'`: an admitted call owes its cost until
   * its answer settles it (see {@link settle}). A call whose store answer comes after it
   * left still owes it, and settles at once as a failure.
   */
  private charged(
    limiter: RateLimiter<any>,
    key: string,
    cost: number,
    d: RateLimitDecision | Promise<RateLimitDecision>,
    now: number,
  ): void {
    if (typeof (d as Promise<RateLimitDecision>).then !== 'function') {
      const v = d as RateLimitDecision;
      if (v.allowed) this.charge = limiter.charge(key, cost, v);
      return this.decided(v, now);
    }
    (d as Promise<RateLimitDecision>).then(
      (v) => {
        if (v.allowed) this.charge = limiter.charge(key, cost, v);
        if (this.phase !== Phase.Limiting) return this.settle(false);
        this.decided(v, this.engine.clock.now());
      },
      () => this.decided(undefined, this.engine.clock.now()),
    );
  }

  /**
   * Settles what the call owes its rate limit, once: `ok` when its answer succeeded (< 400).
   * One field check for a route without `count`.
   */
  private settle(ok: boolean): void {
    const c = this.charge;
    if (c === undefined) return;
    this.charge = undefined;
    this.engine.limiter!.settle(c, ok);
  }

  /** The limiter's decision; `undefined`: the store failed and its fallback admits. */
  private decided(d: RateLimitDecision | undefined, now: number): void {
    if (this.phase !== Phase.Limiting) return;
    if (d !== undefined && !d.allowed) {
      this.phase = Phase.Done;
      return this.onRefused(Refused.RateLimited, d.retryAfterMs, d);
    }
    this.onAllowed(d);
    this.admit(now);
  }

  /** The limiter's verdict: -1 admitted, else milliseconds until it would be. */
  private verdict(waitMs: number, now: number): void {
    if (this.phase !== Phase.Limiting) return;
    if (waitMs >= 0) {
      this.phase = Phase.Done;
      return this.onRefused(Refused.RateLimited, waitMs, undefined);
    }
    this.admit(now);
  }

  /** Past the rate limit: the deadline (when it starts here), the breaker, then a slot. */
  private admit(now: number): void {
    const e = this.engine;
    if (!e.deadlineFromSlot) this.startDeadline(now);
    const breaker = e.breaker;
    if (breaker !== undefined) {
      const ticket = breaker.acquire();
      if (ticket === REJECTED) {
        this.phase = Phase.Done;
        e.deadlines?.remove(this);
        this.settle(false);
        return this.onRefused(Refused.CircuitOpen, breaker.retryAfterMs(), undefined);
      }
      this.heldBreaker = breaker;
      this.ticket = ticket;
    }
    const bulkhead = e.bulkhead;
    if (bulkhead === undefined) return this.run(now);
    if (bulkhead.tryAcquire()) {
      this.slotOf = bulkhead;
      // Where an adaptive bulkhead's RTT sample starts (a queued call's is set at its grant).
      this.bhQueuedAt = now;
      return this.run(now);
    }
    this.phase = Phase.Queued;
    if (bulkhead.maxQueue > 0 && bulkhead.enqueue(this)) return this.onQueued();
    if (bulkhead.maxQueue === 0) bulkhead.rejected('full');
    this.phase = Phase.Done;
    e.deadlines?.remove(this);
    this.releaseTicket();
    this.settle(false);
    this.onRefused(Refused.BulkheadFull, 0, undefined);
  }

  private startDeadline(now: number): void {
    const e = this.engine;
    this.startedAt = now;
    const deadlines = e.deadlines;
    if (deadlines === undefined) return;
    const ms = e.adaptiveTimeout === undefined ? e.timeoutMs! : e.adaptiveTimeout.timeoutMs(now);
    deadlines.add(this, now + ms);
  }

  /** Holds its slot (or needs none): the interceptor, if any, then the work. */
  private run(now: number): void {
    this.phase = Phase.Running;
    const e = this.engine;
    if (e.deadlineFromSlot) this.startDeadline(now);
    // One field check without chaos.
    const ic = e.interceptor;
    if (ic?.enabled && ic.intercept(this, e.clock)) return;
    this.startWork();
  }

  /** The bulkhead's grant of a slot to this queued call (the BulkheadWaiter protocol). */
  grant(): void {
    const bulkhead = this.engine.bulkhead!;
    if (this.phase !== Phase.Queued) {
      // Cannot happen (a call leaves the queue when it stops waiting), but never leak a slot.
      bulkhead.release();
      return;
    }
    this.slotOf = bulkhead;
    this.run(this.engine.clock.now());
  }

  /** The deadline passed (the DeadlineNode protocol). */
  expire(): void {
    const phase = this.phase;
    if (phase === Phase.Queued) {
      this.phase = Phase.Done;
      this.engine.bulkhead!.cancel(this);
      this.releaseTicket();
      this.settle(false);
      this.abort(this.onExpired(false));
    } else if (phase === Phase.Running) {
      this.phase = Phase.Late;
      this.settle(false);
      const b = this.heldBreaker;
      if (b !== undefined) {
        this.heldBreaker = undefined;
        b.record(this.ticket, true, this.engine.clock.now() - this.startedAt, 'TIMEOUT');
      }
      // Answer first: abort listeners run synchronously and must find the call answered.
      this.abort(this.onExpired(true));
    } else if (phase === Phase.Abandoned) {
      // Nobody waits for this work, and its end may never be seen: the deadline ends it.
      this.finish(0, undefined);
    }
  }

  /** The queue wait expired; the bulkhead has dropped the call (the BulkheadWaiter protocol). */
  onQueueTimeout(): void {
    if (this.phase !== Phase.Queued) return;
    this.phase = Phase.Done;
    this.engine.deadlines?.remove(this);
    this.releaseTicket();
    this.settle(false);
    this.onRefused(Refused.QueueTimeout, 0, undefined);
  }

  /**
   * The caller left. Aborts the signal; a queued call leaves the queue at once; running
   * work keeps its slot until it ends (or, if the engine says so, its deadline passes),
   * and nothing it does is held against the breaker.
   * Returns the phase the call was in.
   */
  abandon(reason: unknown): Phase {
    const phase = this.phase;
    if (phase === Phase.Queued) {
      this.phase = Phase.Done;
      this.engine.bulkhead!.cancel(this);
      this.engine.deadlines?.remove(this);
      this.releaseTicket();
      this.settle(false);
    } else if (phase === Phase.Running) {
      this.phase = Phase.Abandoned;
      if (!this.engine.abandonedUntilDeadline) this.engine.deadlines?.remove(this);
      this.releaseTicket();
    } else if (phase === Phase.Limiting) {
      // Still waiting on the store: its answer, when it comes, is ignored.
      this.phase = Phase.Done;
    }
    this.abort(reason);
    return phase;
  }

  /**
   * The work has ended: `status` the answer's (0: none was decided), `error` what it threw,
   * `result` its value for the breaker's predicate. After a timeout or the caller's leaving
   * this only releases the slot. Idempotent.
   */
  finish(status: number | undefined, error: unknown, result?: unknown): void {
    const phase = this.phase;
    if (phase === Phase.Running) {
      this.phase = Phase.Done;
      const e = this.engine;
      // In time: the shared timer may linger for the next call rather than be re-armed.
      e.deadlines?.release(this);
      if (this.charge !== undefined)
        this.settle(error === undefined && status !== undefined && status > 0 && status < 400);
      const at = e.adaptiveTimeout;
      // Successes only: a failure's latency says nothing of how long success takes.
      if (at !== undefined && error === undefined && status !== undefined && status > 0 && status < 500) {
        const t = e.clock.now();
        at.recordSuccess(t - this.startedAt, t);
      }
      const b = this.heldBreaker;
      if (b !== undefined) {
        this.heldBreaker = undefined;
        // No status decided and nothing thrown (the client left) says nothing of the dependency.
        if (status === 0 && error === undefined) b.release(this.ticket);
        else {
          const duration = b.timesCalls ? e.clock.now() - this.startedAt : 0;
          b.record(this.ticket, b.judge(status, error, duration, result), duration);
        }
      }
      this.releaseSlot(false, status, error);
    } else if (phase === Phase.Late) {
      this.phase = Phase.Done;
      this.releaseSlot(true, status, error);
    } else if (phase === Phase.Abandoned) {
      this.phase = Phase.Done;
      this.settle(false);
      // Still linked when the deadline bounds abandoned work (a no-op otherwise).
      this.engine.deadlines?.release(this);
      this.releaseSlot(false, status, error);
    }
  }

  /**
   * Runs work an interceptor held back. A call the deadline answered meanwhile just ends
   * (its work never runs); one whose caller left runs it with its aborted signal, so the
   * front end ends it the way it ends any abandoned call.
   */
  resume(): void {
    const phase = this.phase;
    if (phase === Phase.Late) return this.finish(0, undefined);
    if (phase !== Phase.Running && phase !== Phase.Abandoned) return;
    try {
      this.startWork();
    } catch (err) {
      // Called from the interceptor's timer: nobody above to hand the error to.
      this.finish(500, err);
    }
  }

  // --- protocol names the policies call --------------------------------------------------

  onDeadline(): void {
    this.expire();
  }

  onGranted(): void {
    this.grant();
  }

  private releaseTicket(): void {
    const b = this.heldBreaker;
    if (b === undefined) return;
    this.heldBreaker = undefined;
    b.release(this.ticket);
  }

  /** `late`: the deadline answered before the work ended, which an adaptive limit counts as a drop. */
  private releaseSlot(late: boolean, status: number | undefined, error: unknown): void {
    const bulkhead = this.slotOf;
    if (bulkhead === undefined) return;
    this.slotOf = undefined;
    // One field check: a fixed bulkhead's release costs what it always did.
    if (bulkhead.algorithm === undefined) bulkhead.release();
    else bulkhead.releaseSample(this.bhQueuedAt, outcomeOf(late, status ?? 200, error));
  }
}
