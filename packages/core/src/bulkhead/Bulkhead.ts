import { BulkheadRejectedError } from '../errors.js';
import { type Clock, systemClock, type TimerHandle } from '../util/clock.js';
import type { Duration } from '../util/duration.js';
import { Emitter, type Event } from '../util/events.js';
import { neverAbortedSignal } from '../util/signal.js';
import { checkKeys, expectObject, optDuration, optInt, reqInt } from '../util/validate.js';

/** Options of a {@link Bulkhead}. */
export interface BulkheadOptions {
  /** Calls running at once. Required. */
  maxConcurrent: number;
  /** Calls waiting for a slot. Default 0 (refuse at once when full). */
  maxQueue?: number;
  /** Longest wait in the queue. Default: no limit of its own (a route's timeout still applies). */
  queueTimeout?: Duration;
  clock?: Clock;
}

/** A queued call. The object is its own queue node, so queueing allocates nothing more. */
export interface BulkheadWaiter {
  bhPrev: BulkheadWaiter | null;
  bhNext: BulkheadWaiter | null;
  bhQueuedAt: number;
  /** The slot is now this waiter's: it must `release()` it once when done. */
  onGranted(): void;
  /** The wait expired; the waiter has left the queue and holds no slot. */
  onQueueTimeout(): void;
}

/** Live numbers of a bulkhead. */
export interface BulkheadStats {
  active: number;
  queued: number;
  maxConcurrent: number;
  maxQueue: number;
  /** Calls refused since creation (full, or queue wait expired). */
  rejected: number;
}

/**
 * Limits concurrency to `maxConcurrent` with a FIFO queue of `maxQueue`. Every waiter
 * shares one `queueTimeout`, so waits expire in queue order and one timer (for the head)
 * serves the whole queue.
 */
export class Bulkhead {
  readonly name: string;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number | undefined;
  private readonly clock: Clock;
  private active = 0;
  private queued = 0;
  private rejectedCount = 0;
  private head: BulkheadWaiter | null = null;
  private tail: BulkheadWaiter | null = null;
  private timer: TimerHandle | undefined;
  private readonly rejectEmitter = new Emitter<'full' | 'queue_timeout'>();
  private readonly waitEmitter = new Emitter<number>();
  /** Fires when a call is refused, with why. */
  readonly onReject: Event<'full' | 'queue_timeout'> = this.rejectEmitter.event;
  /** Fires with the milliseconds a queued call waited before it got its slot. */
  readonly onQueueWait: Event<number> = this.waitEmitter.event;

  constructor(options: BulkheadOptions, name = 'default', path = 'bulkhead') {
    const o = expectObject(options, path);
    checkKeys(o, ['maxConcurrent', 'maxQueue', 'queueTimeout', 'clock'], path);
    this.name = name;
    this.maxConcurrent = reqInt(o.maxConcurrent, `${path}.maxConcurrent`, 1);
    this.maxQueue = optInt(o.maxQueue, `${path}.maxQueue`, 0, 0);
    this.queueTimeoutMs = optDuration(o.queueTimeout, `${path}.queueTimeout`, undefined);
    this.clock = options.clock ?? systemClock;
  }

  get stats(): BulkheadStats {
    return {
      active: this.active,
      queued: this.queued,
      maxConcurrent: this.maxConcurrent,
      maxQueue: this.maxQueue,
      rejected: this.rejectedCount,
    };
  }

  get activeCount(): number {
    return this.active;
  }

  get queuedCount(): number {
    return this.queued;
  }

  /** Takes a slot if one is free. */
  tryAcquire(): boolean {
    if (this.active < this.maxConcurrent && this.queued === 0) {
      this.active++;
      return true;
    }
    return false;
  }

  /** Queues a waiter; false (and counted as a refusal) when the queue is full. */
  enqueue(w: BulkheadWaiter): boolean {
    if (this.queued >= this.maxQueue) {
      this.rejected('full');
      return false;
    }
    w.bhQueuedAt = this.clock.now();
    w.bhNext = null;
    w.bhPrev = this.tail;
    if (this.tail) this.tail.bhNext = w;
    else this.head = w;
    this.tail = w;
    this.queued++;
    if (this.queueTimeoutMs !== undefined && this.timer === undefined) this.armTimer();
    return true;
  }

  /** Takes a waiter out of the queue (its caller gave up). A waiter not queued is ignored. */
  cancel(w: BulkheadWaiter): void {
    if (w.bhPrev === null && this.head !== w) return;
    this.unlink(w);
  }

  /** Counts a refusal made by the caller on the bulkhead's behalf (e.g. no queue configured). */
  rejected(reason: 'full' | 'queue_timeout'): void {
    this.rejectedCount++;
    if (this.rejectEmitter.size > 0) this.rejectEmitter.fire(reason);
  }

  /** Returns a slot; the head of the queue, if any, gets it directly. Call once per slot. */
  release(): void {
    const w = this.head;
    if (w === null) {
      if (this.active > 0) this.active--;
      return;
    }
    this.unlink(w);
    if (this.waitEmitter.size > 0) this.waitEmitter.fire(this.clock.now() - w.bhQueuedAt);
    w.onGranted();
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
    let work: PromiseLike<T> | T;
    try {
      work = fn(signal);
    } catch (e) {
      this.release();
      return Promise.reject(e);
    }
    return Promise.resolve(work).then(this.releaseWith, this.releaseThrowing) as Promise<T>;
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

  private unlink(w: BulkheadWaiter): void {
    if (w.bhPrev) w.bhPrev.bhNext = w.bhNext;
    else this.head = w.bhNext;
    if (w.bhNext) w.bhNext.bhPrev = w.bhPrev;
    else this.tail = w.bhPrev;
    w.bhPrev = w.bhNext = null;
    this.queued--;
    if (this.queued === 0 && this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private armTimer(): void {
    const head = this.head;
    if (head === null || this.queueTimeoutMs === undefined) return;
    const delay = Math.max(0, head.bhQueuedAt + this.queueTimeoutMs - this.clock.now());
    this.timer = this.clock.setTimeout(this.expire, delay);
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const limit = this.queueTimeoutMs!;
    const now = this.clock.now();
    let w = this.head;
    while (w !== null && now - w.bhQueuedAt >= limit) {
      this.unlink(w);
      this.rejected('queue_timeout');
      w.onQueueTimeout();
      w = this.head;
    }
    if (this.head !== null && this.timer === undefined) this.armTimer();
  };
}
