import { type Clock, systemClock } from '../util/clock.js';
import { optInt } from '../util/validate.js';
import { admits, advance, fullResetMs, idleMs, init, remaining, SLOTS, take, waitMs } from './algorithms.js';
import type { RateLimitDecision, RateLimitStore, RateLimitWindow } from './types.js';

/** Options of the in-memory store. */
export interface MemoryStoreOptions {
  /** Most keys held at once; past it the oldest are evicted. Default 100,000. */
  maxKeys?: number;
  /** Clock for tests. */
  clock?: Clock;
}

interface Entry {
  key: string;
  s: number[];
  expiresAt: number;
  /** Removed from the map by reset(); its queue slot is skipped. */
  dead: boolean;
}

/**
 * The in-process store: bounded by `maxKeys`, with no timer per key. Expired keys are
 * dropped by a sweep of the oldest entries each time a key is added (a second-chance
 * rotation, so long-lived keys do not shield expired ones behind them), and the oldest
 * are evicted past the cap. Age order lives in a queue of our own: iterating a Map from
 * its head after many deletions walks every deleted slot, which made each new key cost
 * time in proportion to the store's size. Decisions are synchronous.
 *
 * The decision object returned is reused by the next call: read it before calling again.
 */
export class MemoryStore implements RateLimitStore {
  readonly maxKeys: number;
  private readonly clock: Clock;
  private readonly map = new Map<string, Entry>();
  /** Entries oldest first, from `head`; compacted once half of it is consumed. */
  private queue: Entry[] = [];
  private head = 0;
  private readonly result: RateLimitDecision = {
    allowed: true,
    remaining: [],
    resetMs: [],
    retryAfterMs: 0,
    violated: [],
  };

  constructor(options: MemoryStoreOptions = {}) {
    this.maxKeys = optInt(options.maxKeys, 'store.maxKeys', 100_000, 1);
    this.clock = options.clock ?? systemClock;
  }

  /** Keys currently held. */
  get size(): number {
    return this.map.size;
  }

  consume(key: string, windows: readonly RateLimitWindow[], cost: number): RateLimitDecision {
    return this.consumeAt(key, windows, cost, this.clock.now());
  }

  /**
   * {@link consume} at a time the caller has already read from this store's clock (the
   * request guard reads it once per request; a clock read is a good part of a decision).
   */
  consumeAt(key: string, windows: readonly RateLimitWindow[], cost: number, now: number): RateLimitDecision {
    const n = windows.length;
    const e = this.entry(key, windows, now);
    const s = e.s;
    const r = this.result;
    // Resizing an array goes through the runtime even to the same length: only when it changes.
    if (r.remaining.length !== n) r.remaining.length = r.resetMs.length = n;
    if (r.violated.length !== 0) r.violated.length = 0;
    r.retryAfterMs = 0;
    let allowed = true;
    for (let i = 0; i < n; i++) {
      const w = windows[i]!;
      advance(s, i * SLOTS, w, now);
      if (!admits(s, i * SLOTS, w, now, cost)) {
        allowed = false;
        r.violated.push(i);
      }
    }
    let idle = 0;
    for (let i = 0; i < n; i++) {
      const w = windows[i]!;
      const o = i * SLOTS;
      if (allowed) take(s, o, w, cost);
      const left = remaining(s, o, w, now);
      r.remaining[i] = left;
      // A window that cannot take one more unit reports when it can, not when it is full again.
      r.resetMs[i] =
        !allowed && r.violated.includes(i)
          ? waitMs(s, o, w, now, cost)
          : left < 1
            ? waitMs(s, o, w, now, 1)
            : fullResetMs(s, o, w, now);
      if (!allowed && r.resetMs[i]! > r.retryAfterMs && r.violated.includes(i))
        r.retryAfterMs = r.resetMs[i]!;
      const wIdle = idleMs(w);
      if (wIdle > idle) idle = wIdle;
    }
    r.allowed = allowed;
    e.expiresAt = now + idle;
    return r;
  }

  /**
   * {@link consumeAt} reporting only the verdict: -1 when admitted (and consumed), else the
   * milliseconds until every refusing window would admit `cost`. For callers that need no
   * headers (a policy's `execute`), it skips working out what remains and when each resets.
   */
  admitAt(key: string, windows: readonly RateLimitWindow[], cost: number, now: number): number {
    const n = windows.length;
    const e = this.entry(key, windows, now);
    const s = e.s;
    let allowed = true;
    for (let i = 0; i < n; i++) {
      advance(s, i * SLOTS, windows[i]!, now);
      if (allowed && !admits(s, i * SLOTS, windows[i]!, now, cost)) allowed = false;
    }
    let wait = 0;
    let idle = 0;
    for (let i = 0; i < n; i++) {
      const w = windows[i]!;
      const o = i * SLOTS;
      if (allowed) take(s, o, w, cost);
      else if (!admits(s, o, w, now, cost)) {
        const t = waitMs(s, o, w, now, cost);
        if (t > wait) wait = t;
      }
      const wIdle = idleMs(w);
      if (wIdle > idle) idle = wIdle;
    }
    e.expiresAt = now + idle;
    return allowed ? -1 : wait;
  }

  reset(key: string): void {
    const e = this.map.get(key);
    if (e === undefined) return;
    e.dead = true;
    this.map.delete(key);
  }

  close(): void {
    this.map.clear();
    this.queue = [];
    this.head = 0;
  }

  /** The key's entry, created, or started afresh when expired or its windows changed. */
  private entry(key: string, windows: readonly RateLimitWindow[], now: number): Entry {
    const n = windows.length;
    let e = this.map.get(key);
    if (e === undefined) {
      e = { key, s: new Array<number>(n * SLOTS), expiresAt: 0, dead: false };
      for (let i = 0; i < n; i++) init(e.s, i * SLOTS, windows[i]!, now);
      this.sweep(now);
      this.map.set(key, e);
      this.queue.push(e);
      if (this.map.size > this.maxKeys) this.evictOldest();
    } else if (e.expiresAt <= now || e.s.length !== n * SLOTS) {
      if (e.s.length !== n * SLOTS) e.s = new Array<number>(n * SLOTS);
      for (let i = 0; i < n; i++) init(e.s, i * SLOTS, windows[i]!, now);
    }
    return e;
  }

  /** The oldest live entry, dropping dead slots on the way; undefined when empty. */
  private oldest(): Entry | undefined {
    while (this.head < this.queue.length) {
      const e = this.queue[this.head]!;
      if (!e.dead) return e;
      this.queue[this.head++] = undefined as unknown as Entry;
    }
    return undefined;
  }

  private shift(): void {
    this.queue[this.head++] = undefined as unknown as Entry;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private sweep(now: number): void {
    // Look at two of the oldest entries: drop expired ones, rotate live ones to the back.
    for (let k = 0; k < 2; k++) {
      const e = this.oldest();
      if (e === undefined) return;
      this.shift();
      if (e.expiresAt > now) this.queue.push(e);
      else {
        e.dead = true;
        this.map.delete(e.key);
      }
    }
  }

  private evictOldest(): void {
    const e = this.oldest();
    if (e === undefined) return;
    this.shift();
    e.dead = true;
    this.map.delete(e.key);
  }
}
