import { type Clock, systemClock } from '../util/clock.js';
import { optInt } from '../util/validate.js';
import {
  admits,
  advance,
  BLOCK_SLOTS,
  blockAdvance,
  blockInit,
  blockKeepUntil,
  blockRefused,
  give,
  idleMs,
  init,
  reportWindow,
  SLOTS,
  stateOf,
  take,
  waitMs,
} from './algorithms.js';
import type {
  RateLimitBlock,
  RateLimitDecision,
  RateLimitKeyState,
  RateLimitStore,
  RateLimitWindow,
} from './types.js';

/** Options of the in-memory store. */
export interface MemoryStoreOptions {
  /** Most keys held at once; past it the oldest are evicted. Default 100,000. */
  maxKeys?: number;
  /** Clock for tests. */
  clock?: Clock;
}

interface Entry {
  key: string;
  /** The windows' state, then the block's when the limiter has `block` (algorithms.ts). */
  s: number[];
  /** The windows that last decided for the key (with a `limit` function, the limits that applied). */
  w: readonly RateLimitWindow[];
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
  readonly supportsBlock = true;
  private readonly clock: Clock;
  private readonly map = new Map<string, Entry>();
  /** Entries oldest first, from `head`; compacted once half of it is consumed. */
  private queue: Entry[] = [];
  private head = 0;
  private readonly result = emptyDecision();
  private readonly blockResult = emptyDecision();

  constructor(options: MemoryStoreOptions = {}) {
    this.maxKeys = optInt(options.maxKeys, 'store.maxKeys', 100_000, 1);
    this.clock = options.clock ?? systemClock;
  }

  /** Keys currently held. */
  get size(): number {
    return this.map.size;
  }

  consume(
    key: string,
    windows: readonly RateLimitWindow[],
    cost: number,
    block?: RateLimitBlock,
  ): RateLimitDecision {
    return block === undefined
      ? this.consumeAt(key, windows, cost, this.clock.now())
      : this.consumeBlockingAt(key, windows, cost, this.clock.now(), block);
  }

  /**
   * {@link consume} at a time the caller has already read from this store's clock (the
   * request guard reads it once per request; a clock read is a good part of a decision).
   */
  consumeAt(key: string, windows: readonly RateLimitWindow[], cost: number, now: number): RateLimitDecision {
    const n = windows.length;
    const e = this.entry(key, windows, now, 0);
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
      reportWindow(r, i, s, o, w, now, cost, !allowed && r.violated.includes(i));
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
    const e = this.entry(key, windows, now, 0);
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

  /**
   * {@link consumeAt} with `block`: a key in a block is refused without counting; a refusal
   * otherwise counts towards the next block, and the one that reaches `block.after` starts it.
   * Refusals in a block report its end in every window. The decision object is this path's
   * own, reused by its next call.
   */
  consumeBlockingAt(
    key: string,
    windows: readonly RateLimitWindow[],
    cost: number,
    now: number,
    block: RateLimitBlock,
  ): RateLimitDecision {
    const n = windows.length;
    const e = this.entry(key, windows, now, BLOCK_SLOTS);
    const s = e.s;
    const bo = n * SLOTS;
    let blocked = blockAdvance(s, bo, block, now);
    const r = this.blockResult;
    if (r.remaining.length !== n) r.remaining.length = r.resetMs.length = n;
    if (r.violated.length !== 0) r.violated.length = 0;
    r.retryAfterMs = 0;
    let allowed = blocked === 0;
    for (let i = 0; i < n; i++) {
      const w = windows[i]!;
      advance(s, i * SLOTS, w, now);
      if (blocked === 0 && !admits(s, i * SLOTS, w, now, cost)) {
        allowed = false;
        r.violated.push(i);
      }
    }
    if (!allowed && blocked === 0) blocked = blockRefused(s, bo, block, now);
    let idle = 0;
    for (let i = 0; i < n; i++) {
      const w = windows[i]!;
      const o = i * SLOTS;
      if (allowed) take(s, o, w, cost);
      const wIdle = idleMs(w);
      if (wIdle > idle) idle = wIdle;
      if (blocked > 0) {
        r.remaining[i] = 0;
        r.resetMs[i] = blocked;
        continue;
      }
      reportWindow(r, i, s, o, w, now, cost, !allowed && r.violated.includes(i));
    }
    if (blocked > 0) {
      if (r.violated.length !== n) {
        r.violated.length = 0;
        for (let i = 0; i < n; i++) r.violated.push(i);
      }
      r.retryAfterMs = blocked;
    }
    r.blockedMs = blocked > 0 ? blocked : undefined;
    r.allowed = allowed;
    const keep = blockKeepUntil(s, bo, block);
    e.expiresAt = Math.max(keep, now + idle);
    return r;
  }

  /**
   * Gives `cost` back to `key` in every window (see {@link RateLimitStore.refund}); a key
   * that expired or whose windows changed meanwhile is left alone.
   */
  refund(key: string, windows: readonly RateLimitWindow[], cost: number): void {
    this.refundAt(key, windows, cost, this.clock.now());
  }

  /** {@link refund} at a time read from this store's clock. */
  refundAt(key: string, windows: readonly RateLimitWindow[], cost: number, now: number): void {
    const e = this.map.get(key);
    const n = windows.length;
    if (
      e === undefined ||
      e.expiresAt <= now ||
      (e.s.length !== n * SLOTS && e.s.length !== n * SLOTS + BLOCK_SLOTS)
    )
      return;
    const s = e.s;
    for (let i = 0; i < n; i++) {
      const w = windows[i]!;
      advance(s, i * SLOTS, w, now);
      give(s, i * SLOTS, w, cost);
    }
  }

  /**
   * `key`'s state now, without consuming, by the windows that last decided for it; undefined
   * when the store holds none (never seen, expired or reset).
   */
  get(
    key: string,
    windows: readonly RateLimitWindow[],
    block?: RateLimitBlock,
  ): RateLimitKeyState | undefined {
    const now = this.clock.now();
    const e = this.map.get(key);
    if (e === undefined || e.expiresAt <= now) return undefined;
    const ws = e.w.length === windows.length ? e.w : windows;
    return stateOf(e.s, ws, block, now);
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

  /**
   * The key's entry, created, or started afresh when expired or its windows changed.
   * `extra`: slots after the windows' (the block's), zeroed when fresh.
   */
  private entry(key: string, windows: readonly RateLimitWindow[], now: number, extra: number): Entry {
    const n = windows.length;
    const size = n * SLOTS + extra;
    let e = this.map.get(key);
    if (e === undefined) {
      e = { key, s: new Array<number>(size), w: windows, expiresAt: 0, dead: false };
      for (let i = 0; i < n; i++) init(e.s, i * SLOTS, windows[i]!, now);
      if (extra > 0) blockInit(e.s, n * SLOTS);
      this.sweep(now);
      this.map.set(key, e);
      this.queue.push(e);
      if (this.map.size > this.maxKeys) this.evictOldest();
    } else if (e.expiresAt <= now || e.s.length !== size) {
      if (e.s.length !== size) e.s = new Array<number>(size);
      for (let i = 0; i < n; i++) init(e.s, i * SLOTS, windows[i]!, now);
      if (extra > 0) blockInit(e.s, n * SLOTS);
      e.w = windows;
    } else if (e.w !== windows) e.w = windows;
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

/** A decision object for a store to fill and reuse (one shape for every decision). */
function emptyDecision(): RateLimitDecision {
  return {
    allowed: true,
    remaining: [],
    resetMs: [],
    retryAfterMs: 0,
    violated: [],
    windows: undefined,
    blockedMs: undefined,
  };
}
