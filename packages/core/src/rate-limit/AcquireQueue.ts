import type { BulkheadWaiter } from '../bulkhead/WaiterQueue.js';
import { WaiterQueue } from '../bulkhead/WaiterQueue.js';
import {
  ConfigError,
  RateLimiterClosedError,
  RateLimitQueueFullError,
  RateLimitWaitTimeoutError,
} from '../errors.js';
import { Priority, type PriorityName } from '../guard/priority.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { type Duration, parseDuration } from '../util/duration.js';
import type { RateLimitWindow } from './types.js';

/** Options of one {@link RateLimiter.acquire} call. */
export interface AcquireOptions {
  /** The key whose quota is taken. Default `'*'`, the key `execute()` uses. */
  key?: string | undefined;
  /** Units taken. Default 1. */
  cost?: number | undefined;
  /**
   * Longest wait for quota. Default: no bound (the queue's size still is). A call whose wait
   * is known to be longer is refused at once with `RATE_LIMIT_WAIT_TIMEOUT`.
   */
  maxWait?: Duration | undefined;
  /** Aborting gives up the wait: the promise rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Served first: `'critical'`, then `'normal'` (default), then `'sheddable'`; FIFO within each. */
  priority?: PriorityName | undefined;
}

/** What the queue needs of its limiter. */
export interface AcquireHost {
  readonly name: string;
  readonly clock: Clock;
  readonly windows: readonly RateLimitWindow[];
  /** -1 when admitted (and consumed), else the milliseconds to wait; a promise with an async store. */
  admit(key: string, cost: number): number | Promise<number>;
}

/** Default most waiters: past it `acquire()` rejects with `RATE_LIMIT_QUEUE_FULL`. */
export const DEFAULT_MAX_QUEUE = 1000;

/** A waiting `acquire()`: its own queue node, abort listener and promise. */
class AcquireWaiter implements BulkheadWaiter {
  bhPrev: BulkheadWaiter | null = null;
  bhNext: BulkheadWaiter | null = null;
  queued = true;
  timer: TimerHandle | undefined;
  resolve!: () => void;
  reject!: (e: unknown) => void;
  readonly promise: Promise<void>;

  constructor(
    readonly owner: AcquireQueue,
    readonly lane: Lane,
    readonly cost: number,
    readonly priority: number,
    readonly bhQueuedAt: number,
    /** Epoch ms after which the wait is in vain; Infinity without `maxWait`. */
    readonly deadline: number,
    readonly maxWaitMs: number,
    readonly signal: AbortSignal | undefined,
  ) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  onGranted(): void {
    this.resolve();
  }

  /** `maxWait` ran out. */
  onQueueTimeout(): void {
    this.timer = undefined;
    this.owner.leave(this, new RateLimitWaitTimeoutError(this.owner.host.name, this.maxWaitMs));
  }

  /** The signal's 'abort' (the waiter is the listener object, so no closure is made). */
  handleEvent(): void {
    this.owner.leave(this, this.signal!.reason);
  }
}

/** The waiters of one key, with the timer that retries its head. */
class Lane {
  readonly queue = new WaiterQueue();
  timer: TimerHandle | undefined;
  /** An async store's answer is awaited: nothing else is asked meanwhile. */
  asking = false;
  readonly fire: () => void;

  constructor(
    readonly owner: AcquireQueue,
    readonly key: string,
  ) {
    this.fire = () => {
      this.timer = undefined;
      owner.pump(this);
    };
  }
}

/**
 * The waiting side of a {@link RateLimiter}: `acquire()` calls that found no quota wait in a
 * bounded queue per key, served by priority and FIFO within a priority (the bulkhead's
 * {@link WaiterQueue}). One timer per key retries the queue's head when the store says
 * quota is back, so waiting costs one timer per key, not one per caller (`maxWait` adds a
 * timer for the callers that set it). New calls never pass waiting ones of the same key.
 */
export class AcquireQueue {
  /** Waiters across every key. */
  size = 0;
  private readonly lanes = new Map<string, Lane>();
  private closed = false;
  /** Most units every window can hold at once: a larger cost would wait forever. */
  private readonly capacity: number;

  constructor(
    readonly host: AcquireHost,
    readonly maxQueue: number,
  ) {
    let c = Number.POSITIVE_INFINITY;
    for (const w of host.windows) c = Math.min(c, w.algorithm === 'token-bucket' ? w.burst : w.limit);
    this.capacity = c;
  }

  acquire(o: AcquireOptions = {}): Promise<void> {
    const host = this.host;
    if (this.closed) return Promise.reject(new RateLimiterClosedError(host.name));
    let key: string;
    let cost: number;
    let maxWaitMs: number;
    let priority: number;
    try {
      key = o.key ?? '*';
      if (typeof key !== 'string') throw new ConfigError('acquire.key', key, 'a string');
      cost = o.cost ?? 1;
      if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0)
        throw new ConfigError('acquire.cost', cost, 'a number >= 0');
      if (cost > this.capacity)
        throw new ConfigError('acquire.cost', cost, `at most ${this.capacity}, the limit's capacity`);
      maxWaitMs =
        o.maxWait === undefined ? Number.POSITIVE_INFINITY : parseDuration(o.maxWait, 'acquire.maxWait');
      const p = o.priority === undefined ? Priority.normal : Priority[o.priority];
      if (typeof p !== 'number')
        throw new ConfigError('acquire.priority', o.priority, "'critical', 'normal' or 'sheddable'");
      priority = p;
    } catch (e) {
      return Promise.reject(e);
    }
    const signal = o.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const lane = this.lanes.get(key);
    // An empty queue asks the store at once; a waiting queue is joined, never passed.
    if (lane === undefined || lane.queue.size === 0) {
      const v = host.admit(key, cost);
      if (typeof v === 'number') return this.decided(v, key, cost, priority, maxWaitMs, signal);
      return v.then((wait) => this.decided(wait, key, cost, priority, maxWaitMs, signal));
    }
    return this.enqueue(lane, cost, priority, maxWaitMs, signal);
  }

  /** Rejects every waiter with `RATE_LIMITER_CLOSED` and clears the timers. */
  close(): void {
    this.closed = true;
    for (const lane of this.lanes.values()) {
      if (lane.timer !== undefined) this.host.clock.clearTimeout(lane.timer);
      lane.timer = undefined;
      for (let w = lane.queue.peek(); w !== null; w = lane.queue.peek())
        this.leave(w as AcquireWaiter, new RateLimiterClosedError(this.host.name));
    }
    this.lanes.clear();
  }

  /** The first answer for a call that found no waiters. */
  private decided(
    wait: number,
    key: string,
    cost: number,
    priority: number,
    maxWaitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (wait < 0) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.closed) return Promise.reject(new RateLimiterClosedError(this.host.name));
    if (wait > maxWaitMs)
      return Promise.reject(new RateLimitWaitTimeoutError(this.host.name, maxWaitMs, wait));
    let lane = this.lanes.get(key);
    if (lane === undefined) {
      lane = new Lane(this, key);
      this.lanes.set(key, lane);
    }
    const p = this.enqueue(lane, cost, priority, maxWaitMs, signal);
    // The store's wait is known: the head retries then (unless the lane already has a timer).
    if (lane.queue.size === 1 && lane.timer === undefined && !lane.asking)
      lane.timer = this.host.clock.setTimeout(lane.fire, Math.max(1, wait));
    return p;
  }

  private enqueue(
    lane: Lane,
    cost: number,
    priority: number,
    maxWaitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (this.size >= this.maxQueue || maxWaitMs <= 0) {
      if (lane.queue.size === 0) this.dropIfIdle(lane);
      return Promise.reject(
        maxWaitMs <= 0
          ? new RateLimitWaitTimeoutError(this.host.name, maxWaitMs)
          : new RateLimitQueueFullError(this.host.name, this.maxQueue),
      );
    }
    const clock = this.host.clock;
    const now = clock.now();
    const w = new AcquireWaiter(this, lane, cost, priority, now, now + maxWaitMs, maxWaitMs, signal);
    const head = lane.queue.peek();
    lane.queue.push(w);
    this.size++;
    if (maxWaitMs !== Number.POSITIVE_INFINITY)
      w.timer = clock.setTimeout(() => w.onQueueTimeout(), Math.max(1, maxWaitMs));
    signal?.addEventListener('abort', w);
    // A waiter served before the old head (a higher priority) asks now: its cost may fit.
    if (head !== null && lane.queue.peek() === w && !lane.asking) {
      if (lane.timer !== undefined) clock.clearTimeout(lane.timer);
      lane.timer = undefined;
      this.pump(lane);
    }
    return w.promise;
  }

  /** Takes a waiter out of its queue and rejects it (maxWait, abort, close). */
  leave(w: AcquireWaiter, reason: unknown): void {
    if (!w.queued) return;
    this.unlink(w);
    w.reject(reason);
    const lane = w.lane;
    if (lane.queue.size === 0) this.dropIfIdle(lane);
  }

  /** Serves the lane's head while the store admits it; else retries when the store says. */
  pump(lane: Lane): void {
    const host = this.host;
    for (;;) {
      const w = lane.queue.peek() as AcquireWaiter | null;
      if (w === null) {
        this.dropIfIdle(lane);
        return;
      }
      const v = host.admit(lane.key, w.cost);
      if (typeof v !== 'number') {
        lane.asking = true;
        v.then(
          (wait) => {
            lane.asking = false;
            if (this.served(lane, w, wait)) this.pump(lane);
          },
          // admit() never rejects (onStoreError decides); if it does, retry after a second.
          () => {
            lane.asking = false;
            if (!this.closed) this.retryLater(lane, 1000);
          },
        );
        return;
      }
      if (!this.served(lane, w, v)) return;
    }
  }

  /**
   * Applies the store's answer for the head `w`: true when it was granted (serve the next),
   * false when the lane now waits on its timer.
   */
  private served(lane: Lane, w: AcquireWaiter, wait: number): boolean {
    if (this.closed) return false;
    if (wait < 0) {
      // A waiter that left while an async store answered: its unit is spent (the store has
      // already consumed it), and the next waiter is asked for its own.
      if (w.queued) {
        this.unlink(w);
        w.onGranted();
      }
      return true;
    }
    if (!w.queued) return true;
    // Quota comes back after this waiter's deadline: no point holding it until then.
    if (this.host.clock.now() + wait > w.deadline) {
      this.leave(w, new RateLimitWaitTimeoutError(this.host.name, w.maxWaitMs, wait));
      return lane.queue.size > 0;
    }
    this.retryLater(lane, wait);
    return false;
  }

  private retryLater(lane: Lane, wait: number): void {
    if (lane.timer !== undefined) this.host.clock.clearTimeout(lane.timer);
    lane.timer = this.host.clock.setTimeout(lane.fire, Math.max(1, wait));
  }

  private unlink(w: AcquireWaiter): void {
    w.queued = false;
    w.lane.queue.remove(w);
    this.size--;
    if (w.timer !== undefined) this.host.clock.clearTimeout(w.timer);
    w.timer = undefined;
    w.signal?.removeEventListener('abort', w);
  }

  /** Forgets an empty lane, so keys seen once hold nothing. */
  private dropIfIdle(lane: Lane): void {
    if (lane.queue.size > 0 || lane.asking) return;
    if (lane.timer !== undefined) this.host.clock.clearTimeout(lane.timer);
    lane.timer = undefined;
    if (this.lanes.get(lane.key) === lane) this.lanes.delete(lane.key);
  }
}
