import { parseRetryAfter } from '@breakwater/core/extend';

/**
 * What an upstream said about its limits in one response, in the units the pacer uses.
 * -1 marks a figure the response did not give. Filled in place (one object per pacer),
 * so reading a response's headers allocates nothing.
 */
export interface RateLimitSignal {
  /** Sustained rate the upstream's policies allow: the smallest `q / w`, in calls per ms. */
  policyPerMs: number;
  /** Remaining quota spread over its reset: the smallest `r / t` among non-empty quotas, in calls per ms. */
  spreadPerMs: number;
  /** An exhausted quota (`r=0`): milliseconds until the longest such quota resets. */
  exhaustedMs: number;
  /** `Retry-After`, in milliseconds from now. */
  retryAfterMs: number;
}

/** A signal with every figure absent. */
export function emptySignal(): RateLimitSignal {
  return { policyPerMs: -1, spreadPerMs: -1, exhaustedMs: -1, retryAfterMs: -1 };
}

// A hand-written reader for the few Structured Field lists (RFC 9651) the draft uses: the
// pacer reads headers on every response, where a regex or a general parser would cost
// more than the call it paces. Module state is safe: parsing never yields.
let src = '';
let pos = 0;
/** The current member's bare item as a number (NaN when it is a string or token) and its r, t, q, w. */
let bare = Number.NaN;
let pr = -1;
let pt = -1;
let pq = -1;
let pw = -1;

const isDigit = (c: number) => c >= 48 && c <= 57;

function ows(): void {
  while (pos < src.length) {
    const c = src.charCodeAt(pos);
    if (c !== 32 && c !== 9) return;
    pos++;
  }
}

/** Reads a decimal (the draft's integers; decimals tolerated) digit by digit; NaN when there is none. */
function num(): number {
  const start = pos;
  const negative = src.charCodeAt(pos) === 45; /* - */
  if (negative) pos++;
  let v = 0;
  let digits = 0;
  for (let c = src.charCodeAt(pos); isDigit(c); c = src.charCodeAt(++pos)) {
    v = v * 10 + (c - 48);
    digits++;
  }
  if (src.charCodeAt(pos) === 46 /* . */) {
    let scale = 0.1;
    for (let c = src.charCodeAt(++pos); isDigit(c); c = src.charCodeAt(++pos)) {
      v += (c - 48) * scale;
      scale /= 10;
      digits++;
    }
  }
  if (digits === 0) {
    pos = start;
    return Number.NaN;
  }
  return negative ? -v : v;
}

/** Skips a bare item that is not a number: string, token, byte sequence or boolean. */
function skipItem(): boolean {
  const c = src.charCodeAt(pos);
  if (c === 34 /* " */) {
    for (pos++; pos < src.length; pos++) {
      const d = src.charCodeAt(pos);
      if (d === 92 /* \ */) pos++;
      else if (d === 34) {
        pos++;
        return true;
      }
    }
    return false;
  }
  if (c === 58 /* : */) {
    const end = src.indexOf(':', pos + 1);
    if (end < 0) return false;
    pos = end + 1;
    return true;
  }
  if (c === 63 /* ? */) {
    pos += 2;
    return true;
  }
  const start = pos;
  while (pos < src.length) {
    const d = src.charCodeAt(pos);
    if (d === 59 /* ; */ || d === 44 /* , */ || d === 32 || d === 9) break;
    pos++;
  }
  return pos > start;
}

/** Reads one list member and its parameters into `bare`, `pr`, `pt`, `pq`, `pw`. */
function member(): boolean {
  bare = Number.NaN;
  pr = pt = pq = pw = -1;
  const c = src.charCodeAt(pos);
  if (isDigit(c) || c === 45) bare = num();
  else if (!skipItem()) return false;
  while (src.charCodeAt(pos) === 59 /* ; */) {
    pos++;
    ows();
    const keyStart = pos;
    while (pos < src.length) {
      const d = src.charCodeAt(pos);
      if (d === 61 /* = */ || d === 59 || d === 44 || d === 32 || d === 9) break;
      pos++;
    }
    const keyLen = pos - keyStart;
    const k = keyLen === 1 ? src.charCodeAt(keyStart) : 0;
    if (src.charCodeAt(pos) !== 61) continue; // a parameter without value is `true`: none we read
    pos++;
    const d = src.charCodeAt(pos);
    if (isDigit(d) || d === 45) {
      const v = num();
      if (k === 114 /* r */) pr = v;
      else if (k === 116 /* t */) pt = v;
      else if (k === 113 /* q */) pq = v;
      else if (k === 119 /* w */) pw = v;
    } else if (!skipItem()) return false;
  }
  return true;
}

/** Moves past the comma to the next member; false at the end (or on a syntax error). */
function next(): boolean {
  ows();
  if (pos >= src.length || src.charCodeAt(pos) !== 44 /* , */) return false;
  pos++;
  ows();
  return pos < src.length;
}

function text(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** `RateLimit: "burst";r=0;t=42, "daily";r=900;t=3600` into `out.spreadPerMs` / `out.exhaustedMs`. */
function readRateLimit(v: string, out: RateLimitSignal): void {
  src = v;
  pos = 0;
  ows();
  do {
    if (!member()) break;
    if (pr >= 0 && pt >= 0) quota(pr, pt, out);
  } while (next());
  src = '';
}

/** `RateLimit-Policy: "burst";q=100;w=60` (or an earlier draft's `100;w=60`) into `out.policyPerMs`. */
function readPolicy(v: string, out: RateLimitSignal): void {
  src = v;
  pos = 0;
  ows();
  do {
    if (!member()) break;
    const q = pq >= 0 ? pq : bare >= 0 ? bare : -1;
    if (q >= 0 && pw > 0) {
      const perMs = q / (pw * 1000);
      if (out.policyPerMs < 0 || perMs < out.policyPerMs) out.policyPerMs = perMs;
    }
  } while (next());
  src = '';
}

/** One quota: `r` calls left, restored in `t` seconds. */
function quota(r: number, t: number, out: RateLimitSignal): void {
  if (r <= 0) {
    const ms = t * 1000;
    if (ms > out.exhaustedMs) out.exhaustedMs = ms;
  } else if (t > 0) {
    // t = 0: the quota is restored now, so it asks for no particular pace.
    const perMs = r / (t * 1000);
    if (out.spreadPerMs < 0 || perMs < out.spreadPerMs) out.spreadPerMs = perMs;
  }
}

/** A legacy `X-RateLimit-Reset`: delta seconds, or epoch seconds (GitHub's style) when that large. */
function resetSeconds(v: string | undefined, now: number): number {
  if (v === undefined) return -1;
  src = v.trim();
  pos = 0;
  const n = num();
  src = '';
  if (!(n >= 0)) return -1;
  return n > 1e9 ? Math.max(0, n - now / 1000) : n;
}

function int(v: string | undefined): number {
  if (v === undefined) return -1;
  src = v.trim();
  pos = 0;
  const n = num();
  src = '';
  return n >= 0 ? n : -1;
}

/**
 * Reads what a response says about the upstream's limits into `out` (reset first):
 * draft-ietf-httpapi-ratelimit-headers-10 `RateLimit` and `RateLimit-Policy` (Structured
 * Field lists, one item per quota), the earlier drafts' `RateLimit-Remaining/Reset`, the
 * common legacy `X-RateLimit-Remaining/Reset`, and `Retry-After` (seconds or an HTTP date).
 * Returns whether any of them was there. Malformed values are ignored, never thrown.
 */
export function readRateLimitSignal(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  now: number,
  out: RateLimitSignal,
): boolean {
  out.policyPerMs = out.spreadPerMs = out.exhaustedMs = out.retryAfterMs = -1;
  let found = false;
  const rl = text(headers.ratelimit);
  if (rl !== undefined) {
    readRateLimit(rl, out);
    found = true;
  } else {
    const remaining = headers['x-ratelimit-remaining'] ?? headers['ratelimit-remaining'];
    if (remaining !== undefined) {
      const r = int(text(remaining));
      const t = resetSeconds(text(headers['x-ratelimit-reset'] ?? headers['ratelimit-reset']), now);
      if (r >= 0 && t >= 0) quota(r, t, out);
      found = true;
    }
  }
  const policy = text(headers['ratelimit-policy']);
  if (policy !== undefined) {
    readPolicy(policy, out);
    found = true;
  }
  const ra = headers['retry-after'];
  if (ra !== undefined) {
    const ms = parseRetryAfter(ra, now);
    if (ms !== undefined) {
      out.retryAfterMs = ms;
      found = true;
    }
  }
  return found;
}
