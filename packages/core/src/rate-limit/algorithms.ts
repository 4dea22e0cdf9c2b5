import type { RateLimitBlock, RateLimitDecision, RateLimitKeyState, RateLimitWindow } from './types.js';

/**
 * The three algorithms over a flat state array, three numbers per window:
 *   token bucket:   [tokens, lastRefillAt, unused]
 *   fixed window:   [count, windowStart, unused]
 *   sliding window: [currentCount, currentWindowStart, previousCount]
 * The Redis store's Lua script mirrors this arithmetic line for line, so the memory and
 * Redis stores decide the same sequence the same way (a shared test table checks it).
 */
export const SLOTS = 3;

/** Brings window state to `now`: refill tokens, roll windows. Consumes nothing. */
export function advance(s: number[], o: number, w: RateLimitWindow, now: number): void {
  switch (w.algorithm) {
    case 'token-bucket': {
      const last = s[o + 1]!;
      if (now > last) {
        s[o] = Math.min(w.burst, s[o]! + ((now - last) * w.limit) / w.windowMs);
        s[o + 1] = now;
      }
      return;
    }
    case 'fixed-window': {
      const start = now - (now % w.windowMs);
      if (start !== s[o + 1]) {
        s[o] = 0;
        s[o + 1] = start;
      }
      return;
    }
    case 'sliding-window': {
      const start = now - (now % w.windowMs);
      const prevStart = s[o + 1]!;
      if (start !== prevStart) {
        s[o + 2] = start - prevStart === w.windowMs ? s[o]! : 0;
        s[o] = 0;
        s[o + 1] = start;
      }
      return;
    }
  }
}

/** Fresh state for a window first seen at `now`. */
export function init(s: number[], o: number, w: RateLimitWindow, now: number): void {
  if (w.algorithm === 'token-bucket') {
    s[o] = w.burst;
    s[o + 1] = now;
  } else {
    s[o] = 0;
    s[o + 1] = now - (now % w.windowMs);
  }
  s[o + 2] = 0;
}

/** Units in use as the algorithm judges them (after `advance`). */
function used(s: number[], o: number, w: RateLimitWindow, now: number): number {
  if (w.algorithm === 'sliding-window') {
    const elapsed = now - s[o + 1]!;
    return (s[o + 2]! * (w.windowMs - elapsed)) / w.windowMs + s[o]!;
  }
  return s[o]!;
}

export function admits(s: number[], o: number, w: RateLimitWindow, now: number, cost: number): boolean {
  if (w.algorithm === 'token-bucket') return s[o]! >= cost;
  return used(s, o, w, now) + cost <= w.limit;
}

export function take(s: number[], o: number, w: RateLimitWindow, cost: number): void {
  if (w.algorithm === 'token-bucket') s[o] = s[o]! - cost;
  else s[o] = s[o]! + cost;
}

export function remaining(s: number[], o: number, w: RateLimitWindow, now: number): number {
  if (w.algorithm === 'token-bucket') return Math.max(0, Math.floor(s[o]!));
  return Math.max(0, Math.floor(w.limit - used(s, o, w, now)));
}

/** Milliseconds until this window would admit `cost` units, assuming no other traffic. */
export function waitMs(s: number[], o: number, w: RateLimitWindow, now: number, cost: number): number {
  switch (w.algorithm) {
    case 'token-bucket': {
      if (cost > w.burst) return w.windowMs;
      const missing = cost - s[o]!;
      return missing <= 0 ? 0 : Math.ceil((missing * w.windowMs) / w.limit);
    }
    case 'fixed-window':
      if (s[o]! + cost <= w.limit) return 0;
      return s[o + 1]! + w.windowMs - now;
    case 'sliding-window': {
      if (cost > w.limit) return w.windowMs;
      const W = w.windowMs;
      const elapsed = now - s[o + 1]!;
      const cur = s[o]!;
      const prev = s[o + 2]!;
      if (prev * ((W - elapsed) / W) + cur + cost <= w.limit) return 0;
      // Within this window the previous window's weight decays linearly.
      const room = w.limit - cur - cost;
      if (room >= 0 && prev > 0) return Math.ceil((W * (prev - room)) / prev) - elapsed;
      // Otherwise wait for the next window, where this window's count becomes the decaying part.
      const untilNext = W - elapsed;
      const roomNext = w.limit - cost;
      if (cur <= roomNext) return untilNext;
      return untilNext + Math.ceil((W * (cur - roomNext)) / cur);
    }
  }
}

/**
 * The `t` of a window that still has quota: milliseconds until its quota is fully restored,
 * except for a token bucket, which refills continuously: there it is the time until one
 * more unit is back (draft-10's `t` as the time until the next request beyond `r` would be
 * admitted), 0 when the bucket is full.
 */
export function fullResetMs(s: number[], o: number, w: RateLimitWindow, now: number): number {
  switch (w.algorithm) {
    case 'token-bucket': {
      const tokens = s[o]!;
      if (tokens >= w.burst) return 0;
      return Math.ceil(((Math.floor(tokens) + 1 - tokens) * w.windowMs) / w.limit);
    }
    case 'fixed-window':
      return s[o]! === 0 ? 0 : s[o + 1]! + w.windowMs - now;
    case 'sliding-window': {
      const end = s[o + 1]! + w.windowMs - now;
      // The current window's count decays over the following window.
      return s[o]! > 0 ? end + w.windowMs : s[o + 2]! > 0 ? end : 0;
    }
  }
}

/** Milliseconds after which the state equals a fresh one: a memory store may then drop it. */
export function idleMs(w: RateLimitWindow): number {
  return w.algorithm === 'token-bucket' ? Math.ceil((w.burst * w.windowMs) / w.limit) : 2 * w.windowMs;
}

/**
 * Gives `cost` back to a window brought to `now` (a request that should not have counted):
 * a token bucket gains tokens up to its burst, a window's current count drops, never below 0.
 */
export function give(s: number[], o: number, w: RateLimitWindow, cost: number): void {
  if (w.algorithm === 'token-bucket') {
    const v = s[o]! + cost;
    s[o] = Math.min(v, w.burst);
  } else {
    const v = s[o]! - cost;
    s[o] = Math.max(v, 0);
  }
}

/**
 * Block state (`block`), four numbers after the windows' state:
 *   [refusals counted, when the first of them came, blocked until, blocks so far]
 * The Redis script mirrors these functions operation for operation.
 */
export const BLOCK_SLOTS = 4;

export function blockInit(s: number[], o: number): void {
  s[o] = 0;
  s[o + 1] = 0;
  s[o + 2] = 0;
  s[o + 3] = 0;
}

/**
 * Brings block state to `now`: the milliseconds left of a block in force (nothing else
 * changes then), else 0, having forgotten refusals older than the window and a history of
 * blocks whose last ended `maxMs` ago.
 */
export function blockAdvance(s: number[], o: number, b: RateLimitBlock, now: number): number {
  const until = s[o + 2]!;
  if (until > now) return until - now;
  if (s[o + 3]! > 0 && now >= until + b.maxMs) s[o + 3] = 0;
  if (s[o]! > 0 && now >= s[o + 1]! + b.windowMs) s[o] = 0;
  return 0;
}

/** Counts a refusal: the length of the block it starts, else 0. */
export function blockRefused(s: number[], o: number, b: RateLimitBlock, now: number): number {
  if (s[o] === 0) s[o + 1] = now;
  s[o] = s[o]! + 1;
  if (s[o]! < b.after) return 0;
  const ms = blockLength(b, s[o + 3]!);
  s[o] = 0;
  s[o + 2] = now + ms;
  s[o + 3] = s[o + 3]! + 1;
  return ms;
}

/** The length of a key's next block after `blocks` earlier ones: `for × growth^blocks`, capped. */
export function blockLength(b: RateLimitBlock, blocks: number): number {
  // Multiplied out rather than Math.pow, so the Lua mirror computes the same double.
  let ms = b.forMs;
  for (let k = 0; k < blocks && ms < b.maxMs; k++) ms *= b.growth;
  return Math.min(ms, b.maxMs);
}

/** Until when the block state must be kept (0: it is as good as fresh now). */
export function blockKeepUntil(s: number[], o: number, b: RateLimitBlock): number {
  const a = s[o]! > 0 ? s[o + 1]! + b.windowMs : 0;
  const c = s[o + 3]! > 0 ? s[o + 2]! + b.maxMs : 0;
  return Math.max(a, c);
}

/**
 * A key's state as `get` reports it, from its stored numbers (left untouched): each window
 * brought to `now` as a decision for one more unit would see it, and the block's.
 */
export function stateOf(
  stored: readonly number[],
  windows: readonly RateLimitWindow[],
  block: RateLimitBlock | undefined,
  now: number,
): RateLimitKeyState {
  const s = stored.slice();
  const n = windows.length;
  const out: RateLimitKeyState = { windows: [] };
  let blocked = 0;
  if (block !== undefined && s.length >= n * SLOTS + BLOCK_SLOTS) {
    blocked = blockAdvance(s, n * SLOTS, block, now);
    out.block = { refusals: s[n * SLOTS]!, blocks: s[n * SLOTS + 3]!, blockedMs: blocked };
  }
  for (let i = 0; i < n; i++) {
    const w = windows[i]!;
    const o = i * SLOTS;
    advance(s, o, w, now);
    const left = blocked > 0 ? 0 : remaining(s, o, w, now);
    const resetMs = blocked > 0 ? blocked : left < 1 ? waitMs(s, o, w, now, 1) : fullResetMs(s, o, w, now);
    out.windows.push({ name: w.name, limit: w.limit, remaining: left, resetMs });
  }
  return out;
}

/**
 * Window `i`'s part of decision `d` from its state in `s` at `o`: what remains and when it
 * resets. A window that cannot take one more unit reports when it can, not when it is full
 * again; a refusing window's wait is the decision's `retryAfterMs` when it is the longest.
 * Every store reports through this, so their headers agree.
 */
export function reportWindow(
  d: RateLimitDecision,
  i: number,
  s: number[],
  o: number,
  w: RateLimitWindow,
  now: number,
  cost: number,
  refused: boolean,
): void {
  const left = remaining(s, o, w, now);
  d.remaining[i] = left;
  const reset = refused
    ? waitMs(s, o, w, now, cost)
    : left < 1
      ? waitMs(s, o, w, now, 1)
      : fullResetMs(s, o, w, now);
  d.resetMs[i] = reset;
  if (refused && reset > d.retryAfterMs) d.retryAfterMs = reset;
}
