import type { Clock, Event, TimerHandle } from '@breakwater/core';
import { Emitter } from '@breakwater/core/extend';
import type { ResponseHeaders } from '../HttpResponse.js';
import { WaitQueue } from '../WaitQueue.js';
import { PoolPaceTimeoutError } from './errors.js';
import type { ResolvedPaceOptions } from './options.js';
import { PaceAdapter, type PaceChangeReason, type PaceControl } from './PaceAdapter.js';
import { PaceWaiter } from './PaceWaiter.js';

/** Tokens are fractional; a hair under 1 (float error) still counts as a whole token. */
const WHOLE = 1 - 1e-9;

/** A change of pace: the new rate (calls per second) and, while paused, until when. */
export interface PaceChange {
  reason: PaceChangeReason;
  /** Calls per second now. */
  rate: number;
  /** Epoch ms the bucket is paused until (0 when not paused). */
  pausedUntil: number;
}

/**
 * A token bucket that makes callers wait rather than fail, in three FIFO queues by
 * priority (0 served first), with one timer for the head waiter. A caller that would be
 * served after its deadline (`maxWait`, or its request's budget) is refused at once; one
 * whose wait a later, more urgent caller or a slower pace pushes past its deadline is
 * refused as soon as that is known. With `adaptive`, what the upstream answers sets the
 * pace (see {@link PaceAdapter}). Shared by every origin of a pool: an upstream's quota
 * belongs to its client (an API key, an account), not to one of its hosts.
 */
export class Pacer implements PaceControl {
  /** Current pace, in calls per millisecond. */
  private perMs: number;
  private tokens: number;
  private lastRefill: number;
  private pausedUntil = 0;
  private readonly queues = [
    new WaitQueue<PaceWaiter>(),
    new WaitQueue<PaceWaiter>(),
    new WaitQueue<PaceWaiter>(),
  ];
  private size = 0;
  private timer: TimerHandle | undefined;
  private timerAt = 0;
  private closedWith: unknown;
  private readonly adapter: PaceAdapter | undefined;
  private readonly waitEmitter = new Emitter<number>();
  private readonly refuseEmitter = new Emitter<number>();
  private readonly changeEmitter = new Emitter<PaceChange>();
  /** Milliseconds each granted call waited (0 for one that found a token). */
  readonly onWait: Event<number> = this.waitEmitter.event;
  /** A call refused (`POOL_PACE_TIMEOUT`), with the wait it would have had. */
  readonly onRefuse: Event<number> = this.refuseEmitter.event;
  /** The pace changed (adaptive pacing only). */
  readonly onChange: Event<PaceChange> = this.changeEmitter.event;
  /** When the last call that found a token at once took it (read right after {@link acquire}). */
  lastTakeAt = 0;

  constructor(
    readonly options: ResolvedPaceOptions,
    private readonly clock: Clock,
    private readonly pool: string,
  ) {
    this.perMs = options.ratePerMs;
    this.adapter = options.adaptive ? new PaceAdapter(options, this) : undefined;
    this.tokens = options.burst;
    this.lastRefill = clock.now();
  }

  /** Current pace in calls per millisecond. */
  get ratePerMs(): number {
    return this.perMs;
  }

  /** Current pace in calls per second. */
  get rate(): number {
    return this.perMs * 1000;
  }

  /** Calls waiting for a token. */
  get waiting(): number {
    return this.size;
  }

  /** Epoch ms the upstream asked for quiet until (0 or past when not paused). */
  get paused(): number {
    return this.pausedUntil;
  }

  /**
   * Takes a token for one call. Returns undefined when the call may go now; a waiter
   * whose promise resolves when its token comes; or throws {@link PoolPaceTimeoutError}
   * when the token would come more than `limitMs` from now.
   */
  acquire(priority: number, limitMs: number): PaceWaiter | undefined {
    if (this.closedWith !== undefined) throw this.closedWith;
    const now = this.clock.now();
    this.refill(now);
    if (this.size === 0 && now >= this.pausedUntil && this.tokens >= WHOLE) {
      this.tokens -= 1;
      this.lastTakeAt = now;
      if (this.waitEmitter.size > 0) this.waitEmitter.fire(0);
      return undefined;
    }
    // Served after every waiter of its priority or a more urgent one.
    let ahead = 0;
    for (let p = 0; p <= priority; p++) ahead += this.queues[p]!.size;
    const eta = this.etaMs(now, ahead + 1);
    if (eta > limitMs) throw this.refusal(eta, limitMs);
    const w = new PaceWaiter(priority, now, now + limitMs);
    this.queues[priority]!.push(w);
    this.size++;
    // Jumping the queue delays everyone behind: some may now miss their deadlines.
    if (ahead + 1 < this.size) this.shed(now);
    this.schedule(now);
    return w;
  }

  /** Takes a waiting call out of the queue at once, rejecting it with `reason` (its caller aborted). */
  cancel(w: PaceWaiter, reason: unknown): void {
    if (!this.queues[w.priority]!.remove(w)) return;
    this.size--;
    w.reject(reason);
    if (this.size === 0) this.clearTimer();
  }

  /**
   * Learns from one response (adaptive pacing only; see {@link PaceAdapter.observe}).
   * `sentAt`: when its call left, so answers to calls sent before a slow-down do not
   * slow it down again.
   */
  observe(status: number, headers: ResponseHeaders, sentAt: number): void {
    if (this.adapter === undefined || this.closedWith !== undefined) return;
    this.adapter.observe(status, headers, sentAt, this.clock.now());
  }

  /** Refuses every waiting call with `reason` and every later one; stops the timer. */
  close(reason: unknown): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = reason;
    this.clearTimer();
    for (const q of this.queues)
      for (let w = q.shift(); w !== undefined; w = q.shift()) {
        this.size--;
        w.reject(reason);
      }
  }

  // --- the bucket -------------------------------------------------------------------

  private refill(now: number): void {
    if (now <= this.lastRefill) return;
    const t = this.tokens + (now - this.lastRefill) * this.perMs;
    this.tokens = Math.min(t, this.options.burst);
    this.lastRefill = now;
  }

  /** Milliseconds from `now` (refilled) until the `n`-th next token. */
  private etaMs(now: number, n: number): number {
    // Nothing accrues during a pause (see `pause`): the bucket starts again at its end.
    const start = Math.max(this.pausedUntil, now);
    const need = n - this.tokens;
    return need <= 1 - WHOLE ? start - now : start - now + need / this.perMs;
  }

  /**
   * No call leaves before `until`. The bucket restarts then with one token, not with what
   * it would have saved meanwhile: the upstream asked for quiet, not for a burst after it.
   */
  pause(now: number, until: number): void {
    if (until <= this.pausedUntil) return;
    this.refill(now);
    this.pausedUntil = until;
    this.tokens = 1;
    this.lastRefill = until;
    this.announce('pause');
    if (this.size > 0) {
      this.shed(now);
      this.schedule(now);
    }
  }

  /** Sets the pace (calls per ms); waiting calls are re-timed, and refused if now too late. */
  setRate(now: number, perMs: number, reason: PaceChangeReason): void {
    if (perMs === this.perMs) return;
    this.refill(now);
    const slower = perMs < this.perMs;
    this.perMs = perMs;
    this.announce(reason);
    if (this.size === 0) return;
    if (slower) this.shed(now);
    this.schedule(now);
  }

  private announce(reason: PaceChangeReason): void {
    if (this.changeEmitter.size > 0)
      this.changeEmitter.fire({
        reason,
        rate: this.perMs * 1000,
        pausedUntil: this.pausedUntil > this.clock.now() ? this.pausedUntil : 0,
      });
  }

  // --- the queue --------------------------------------------------------------------

  /** Refuses, in service order, every waiter whose token would now come after its deadline. */
  private shed(now: number): void {
    let position = 0;
    for (const q of this.queues) {
      let w = q.first();
      while (w !== undefined) {
        const nextW = w.qNext as PaceWaiter | null;
        const eta = this.etaMs(now, position + 1);
        if (now + eta > w.deadline) {
          q.remove(w);
          this.size--;
          w.reject(this.refusal(eta, w.deadline - w.enqueuedAt));
        } else position++;
        w = nextW ?? undefined;
      }
    }
    if (this.size === 0) this.clearTimer();
  }

  /** Arms the one timer for when the head waiter's token comes. */
  private schedule(now: number): void {
    if (this.size === 0) {
      this.clearTimer();
      return;
    }
    const at = now + Math.ceil(this.etaMs(now, 1));
    if (this.timer !== undefined) {
      if (this.timerAt === at) return;
      this.clock.clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = this.clock.setTimeout(this.onTimer, at - now);
    // Callers await this timer: unlike background timers it must keep the process alive.
    (this.timer as { ref?(): unknown }).ref?.();
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    const now = this.clock.now();
    this.refill(now);
    while (this.size > 0 && now >= this.pausedUntil && this.tokens >= WHOLE) {
      const w = this.shift()!;
      this.tokens -= 1;
      w.grantedAt = now;
      if (this.waitEmitter.size > 0) this.waitEmitter.fire(now - w.enqueuedAt);
      w.resolve();
    }
    this.schedule(now);
  };

  private shift(): PaceWaiter | undefined {
    for (const q of this.queues)
      if (q.size > 0) {
        this.size--;
        return q.shift();
      }
    return undefined;
  }

  private refusal(etaMs: number, limitMs: number): PoolPaceTimeoutError {
    if (this.refuseEmitter.size > 0) this.refuseEmitter.fire(etaMs);
    return new PoolPaceTimeoutError(this.pool, etaMs, limitMs);
  }
}
