import type { RateLimitWindow } from './types.js';

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

/** Milliseconds until the window's quota is fully restored. */
export function fullResetMs(s: number[], o: number, w: RateLimitWindow, now: number): number {
  switch (w.algorithm) {
    case 'token-bucket':
      return Math.ceil(((w.burst - s[o]!) * w.windowMs) / w.limit);
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
