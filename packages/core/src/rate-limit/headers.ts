import type { RateLimitDecision, RateLimitWindow } from './types.js';

/** Default policy name for a window: `per-second`, `per-minute`, … or `per-<n>s`. */
export function defaultWindowName(windowMs: number): string {
  switch (windowMs) {
    case 1000:
      return 'per-second';
    case 60_000:
      return 'per-minute';
    case 3_600_000:
      return 'per-hour';
    case 86_400_000:
      return 'per-day';
    default:
      return windowMs % 1000 === 0 ? `per-${windowMs / 1000}s` : `per-${windowMs}ms`;
  }
}

/**
 * `RateLimit-Policy` per draft-ietf-httpapi-ratelimit-headers-10: a Structured Field list
 * with one item per window. Depends only on options, so it is built once per limiter.
 */
export function formatPolicyHeader(windows: readonly RateLimitWindow[]): string {
  let out = '';
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    if (i > 0) out += ', ';
    out += `"${w.name}";q=${w.limit};w=${Math.max(1, Math.ceil(w.windowMs / 1000))}`;
  }
  return out;
}

/** `RateLimit` for one decision: remaining quota `r` and seconds `t` until it is restored. */
export function formatRateLimitHeader(windows: readonly RateLimitWindow[], d: RateLimitDecision): string {
  let out = '';
  for (let i = 0; i < windows.length; i++) {
    if (i > 0) out += ', ';
    out += `"${windows[i]!.name}";r=${d.remaining[i]};t=${Math.ceil((d.resetMs[i] ?? 0) / 1000)}`;
  }
  return out;
}

/** `Retry-After` in whole seconds, never earlier than any violated window's `t`. */
export function retryAfterSeconds(d: RateLimitDecision): number {
  let ms = d.retryAfterMs;
  for (const i of d.violated) ms = Math.max(ms, d.resetMs[i] ?? 0);
  return Math.max(1, Math.ceil(ms / 1000));
}
