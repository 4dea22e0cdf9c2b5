import { BulkheadRejectedError, ConfigError, isTimeoutError } from '../errors.js';
import { type Clock, systemClock, type TimerHandle } from '../util/clock.js';
import type { Duration } from '../util/duration.js';
import { Emitter, type Event } from '../util/events.js';
import { neverAbortedSignal } from '../util/signal.js';
import { checkKeys, expectObject, optDuration, optInt, reqInt } from '../util/validate.js';
import { createLimit, type LimiterName, type LimiterOptions } from './adaptive/createLimit.js';
import { clamp, type LimitAlgorithm, SampleOutcome } from './adaptive/LimitAlgorithm.js';
import { type BulkheadWaiter, WaiterQueue } from './WaiterQueue.js';

export type { BulkheadWaiter } from './WaiterQueue.js';

/** Options of a {@link Bulkhead}. */
export interface BulkheadOptions {
  /**
   * Calls running at once. Required. `'adaptive'`: a limit that follows the measured
   * latency of the calls (see `limiter`), between `min` and `max`, starting at `initial`.
   */
  maxConcurrent: number | 'adaptive';
  /**
   * With `maxConcurrent: 'adaptive'`: how the limit learns. `'gradient2'` (the default:
   * shrinks when calls get slower than their long-term average), `'aimd'` (shrinks on
   * timeouts and drops only), `'vegas'` (shrinks when calls get slower than the fastest seen),
   * `{ algorithm, ...tuning }`, or a {@link LimitAlgorithm} of your own.
   */
  limiter?: LimiterName | LimiterOptions | LimitAlgorithm;
  /** With `'adaptive'`: lowest limit. Default 1. */
  min?: number;
  /** With `'adaptive'`: highest limit. Default 1000. */
  max?: number;
  /** With `'adaptive'`: limit before the first sample. Default 20 (or `max`, when lower). */
  initial?: number;
  /** Calls waiting for a slot. Default 0 (refuse at once when full). */
  maxQueue?: number;
  /** Longest wait in the queue. Default: no limit of its own (a route's timeout still applies). */
  queueTimeout?: Duration;
  clock?: Clock;
}

/** Live numbers of a bulkhead. */
export interface BulkheadStats {
  active: number;
  queued: number;
  /** The limit now: fixed, or where the adaptive limit stands. */
  maxConcurrent: number;
  maxQueue: number;
  /** Calls refused since creation (full, or queue wait expired). */
  rejected: number;
  /** The adaptive limit's algorithm; absent on a fixed bulkhead. */
  limiter?: string;
}

const KEYS = ['maxConcurrent', 'limiter', 'min', 'max', 'initial', 'maxQueue', 'queueTimeout', 'clock'];
const ADAPTIVE_ONLY = ['limiter', 'min', 'max', 'initial'] as const;

/**
 * Limits concurrency to `maxConcurrent` with a queue of `maxQueue`, served by priority
 * (see {@link BulkheadWaiter.priority}) and FIFO within one. Every waiter shares one
 * `queueTimeout`, so waits expire in queue order and one timer serves the whole queue.
 *
 * With `maxConcurrent: 'adaptive'` the limit is live: each call that held a slot is a
 * latency sample for the `limiter` algorithm (callers that manage slots themselves report
 * it with {@link releaseSample}).
 */
export class Bulkhead {
  readonly name: string;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number | undefined;
  /** The adaptive limit's algorithm; undefined for a fixed bulkhead. */
  readonly algorithm: LimitAlgorithm | undefined;
  /** Bounds of the limit (both `maxConcurrent` for a fixed bulkhead). */
  readonly minLimit: number;
  readonly maxLimit: number;
  private readonly clock: Clock;
  private currentLimit: number;
  private active = 0;
  private rejectedCount = 0;
  private readonly queue = new WaiterQueue();
  private timer: TimerHandle | undefined;
  private readonly rejectEmitter = new Emitter<'full' | 'queue_timeout'>();
  private readonly waitEmitter = new Emitter<number>();
  private readonly limitEmitter = new Emitter<number>();
  private readonly saturationEmitter = new Emitter<boolean>();
  private isSaturated = false;
  /** Fires when a call is refused, with why. */
  readonly onReject: Event<'full' | 'queue_timeout'> = this.rejectEmitter.event;
  /** Fires with the milliseconds a queued call waited before it got its slot. */
  readonly onQueueWait: Event<number> = this.waitEmitter.event;
  /** Fires with the new limit each time an adaptive limit moves. */
  readonly onLimitChange: Event<number> = this.limitEmitter.event;
  /** Fires when the bulkhead becomes {@link saturated} (true) and when it recovers (false). */
  readonly onSaturationChange: Event<boolean> = this.saturationEmitter.event;

  constructor(options: BulkheadOptions, name = 'default', path = 'bulkhead') {
    const o = expectObject(options, path);
    checkKeys(o, KEYS, path);
    this.name = name;
    if (o.maxConcurrent === 'adaptive') {
      const { algorithm, min, max } = createLimit(o.limiter, o, path);
      this.algorithm = algorithm;
      this.minLimit = min;
      this.maxLimit = max;
      this.currentLimit = this.bounded(algorithm.limit);
    } else {
      for (const k of ADAPTIVE_ONLY)
        if (o[k] !== undefined)
          throw new ConfigError(`${path}.${k}`, o[k], "nothing, unless maxConcurrent is 'adaptive'");
      if (typeof o.maxConcurrent === 'string')
        throw new ConfigError(`${path}.maxConcurrent`, o.maxConcurrent, "an integer >= 1 or 'adaptive'");
      this.currentLimit = reqInt(o.maxConcurrent, `${path}.maxConcurrent`, 1);
      this.minLimit = this.maxLimit = this.currentLimit;
    }
    this.maxQueue = optInt(o.maxQueue, `${path}.maxQueue`, 0, 0);
    this.queueTimeoutMs = optDuration(o.queueTimeout, `${path}.queueTimeout`, undefined);
    this.clock = options.clock ?? systemClock;
  }

  /** Calls allowed to run at once now. */
  get limit(): number {
    return this.currentLimit;
  }

  /** Same as {@link limit}: the live limit, fixed or adaptive. */
  get maxConcurrent(): number {
    return this.currentLimit;
  }

  get stats(): BulkheadStats {
    const s: BulkheadStats = {
      active: this.active,
      queued: this.queue.size,
      maxConcurrent: this.currentLimit,
      maxQueue: this.maxQueue,
      rejected: this.rejectedCount,
    };
    if (this.algorithm !== undefined) s.limiter = this.algorithm.name;
    return s;
  }

  /**
   * Whether the bulkhead is full: true from a refusal (no slot and no room in the queue, or a
   * queue wait expired) until a release leaves nobody queued and at most half the slots
   * busy. The gap between the two keeps a bulkhead at its limit from flapping per request.
   */
  get saturated(): boolean {
    return this.isSaturated;
  }

  get activeCount(): number {
    return this.active;
  }

  get queuedCount(): number {
    return this.queue.size;
  }

  /** Takes a slot if one is free (and nobody waits for one). */
  tryAcquire(): boolean {
    if (this.active < this.currentLimit && this.queue.size === 0) {
      this.active++;
      return true;
    }
    return false;
  }

  /** Queues a waiter; false (and counted as a refusal) when the queue is full. */
  enqueue(w: BulkheadWaiter): boolean {
    if (this.queue.size >= this.maxQueue) {
      this.rejected('full');
      return false;
    }
    w.bhQueuedAt = this.clock.now();
    this.queue.push(w);
    if (this.queueTimeoutMs !== undefined && this.timer === undefined) this.armTimer();
    return true;
  }

  /** Takes a waiter out of the queue (its caller gave up). A waiter not queued is ignored. */
  cancel(w: BulkheadWaiter): void {
    if (this.queue.has(w)) this.unlink(w);
  }

  /** Counts a refusal made by the caller on the bulkhead's behalf (e.g. no queue configured). */
  rejected(reason: 'full' | 'queue_timeout'): void {
    this.rejectedCount++;
    if (!this.isSaturated) {
      this.isSaturated = true;
      if (this.saturationEmitter.size > 0) this.saturationEmitter.fire(true);
    }
    if (this.rejectEmitter.size > 0) this.rejectEmitter.fire(reason);
  }

  /**
   * Returns a slot without a sample; the next waiter, if any, gets it directly. Call once
   * per slot.
   */
  release(): void {
    if (this.active > 0) this.active--;
    this.drain();
    if (this.isSaturated && this.queue.size === 0 && this.active <= this.currentLimit >> 1) {
      this.isSaturated = false;
      if (this.saturationEmitter.size > 0) this.saturationEmitter.fire(false);
    }
  }

  /**
   * Returns a slot and, on an adaptive bulkhead, teaches the limit: `slotAt` is the clock
   * reading when the slot was taken (a granted waiter's `bhQueuedAt`). A fixed bulkhead
   * ignores the sample. Call once per slot, instead of {@link release}.
   */
  releaseSample(slotAt: number, outcome: SampleOutcome): void {
    const alg = this.algorithm;
    if (alg !== undefined && outcome !== SampleOutcome.ignored) {
      // `active` still counts this call: inflight as it ended, itself included.
      alg.update(this.clock.now() - slotAt, this.active, outcome === SampleOutcome.dropped);
      const next = this.bounded(alg.limit);
      if (next !== this.currentLimit) {
        this.currentLimit = next;
        if (this.limitEmitter.size > 0) this.limitEmitter.fire(next);
      }
    }
    this.release();
  }

  /** Runs `fn` in a slot, queueing if allowed. An abort of `signal` while queued leaves the queue at once. */
  execute<T>(
    fn: (signal: AbortSignal) => PromiseLike<T> | T,
    signal: AbortSignal = neverAbortedSignal,
  ): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.tryAcquire()) return this.run(fn, signal);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.cancel(waiter);
        reject(signal.reason);
      };
      const waiter: BulkheadWaiter = {
        bhPrev: null,
        bhNext: null,
        bhQueuedAt: 0,
        priority: 1,
        onGranted: () => {
          signal.removeEventListener('abort', onAbort);
          this.run(fn, signal).then(resolve, reject);
        },
        onQueueTimeout: () => {
          signal.removeEventListener('abort', onAbort);
          reject(new BulkheadRejectedError(this.name, 'queue_timeout', this.queueTimeoutMs));
        },
      };
      if (!this.enqueue(waiter)) {
        reject(new BulkheadRejectedError(this.name, 'full'));
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private run<T>(fn: (signal: AbortSignal) => PromiseLike<T> | T, signal: AbortSignal): Promise<T> {
    if (this.algorithm !== undefined) return this.runMeasured(fn, signal);
    let work: PromiseLike<T> | T;
    try {
      work = fn(signal);
    } catch (e) {
      this.release();
      return Promise.reject(e);
    }
    return Promise.resolve(work).then(this.releaseWith, this.releaseThrowing) as Promise<T>;
  }

  /** `run` on an adaptive bulkhead: the call's RTT and outcome become a sample. */
  private runMeasured<T>(fn: (signal: AbortSignal) => PromiseLike<T> | T, signal: AbortSignal): Promise<T> {
    const slotAt = this.clock.now();
    let work: PromiseLike<T> | T;
    try {
      work = fn(signal);
    } catch (e) {
      this.releaseSample(slotAt, SampleOutcome.ignored);
      return Promise.reject(e);
    }
    return Promise.resolve(work).then(
      (value) => {
        this.releaseSample(slotAt, SampleOutcome.ok);
        return value;
      },
      (error: unknown) => {
        // A timeout is the dependency's slowness; any other failure teaches nothing.
        this.releaseSample(slotAt, isTimeoutError(error) ? SampleOutcome.dropped : SampleOutcome.ignored);
        throw error;
      },
    );
  }

  // Shared by every call (a slot is a slot), so running a call allocates no closures.
  private readonly releaseWith = (value: unknown): unknown => {
    this.release();
    return value;
  };
  private readonly releaseThrowing = (error: unknown): never => {
    this.release();
    throw error;
  };

  /**
   * Grants slots to waiters while the limit leaves room: one after a release (the slot
   * passes on), more when an adaptive limit has grown.
   */
  private drain(): void {
    while (this.active < this.currentLimit) {
      const w = this.queue.peek();
      if (w === null) return;
      this.unlink(w);
      this.active++;
      this.grant(w);
    }
  }

  private grant(w: BulkheadWaiter): void {
    if (this.waitEmitter.size > 0 || this.algorithm !== undefined) {
      const now = this.clock.now();
      if (this.waitEmitter.size > 0) this.waitEmitter.fire(now - w.bhQueuedAt);
      // The RTT of an adaptive sample starts now, not when the wait began.
      w.bhQueuedAt = now;
    }
    w.onGranted();
  }

  private bounded(limit: number): number {
    return clamp(Math.floor(limit), this.minLimit, this.maxLimit);
  }

  private unlink(w: BulkheadWaiter): void {
    this.queue.remove(w);
    if (this.queue.size === 0 && this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private armTimer(): void {
    const oldest = this.queue.oldest();
    if (oldest === null || this.queueTimeoutMs === undefined) return;
    const delay = Math.max(0, oldest.bhQueuedAt + this.queueTimeoutMs - this.clock.now());
    this.timer = this.clock.setTimeout(this.expire, delay);
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const limit = this.queueTimeoutMs!;
    const now = this.clock.now();
    let w = this.queue.oldest();
    while (w !== null && now - w.bhQueuedAt >= limit) {
      this.unlink(w);
      this.rejected('queue_timeout');
      w.onQueueTimeout();
      w = this.queue.oldest();
    }
    if (this.queue.size > 0 && this.timer === undefined) this.armTimer();
  };
}
