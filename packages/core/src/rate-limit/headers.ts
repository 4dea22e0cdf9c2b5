import { ConfigError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { RateLimitDecision, RateLimitWindow } from './types.js';

/**
 * Which rate-limit headers a limiter sends:
 * - `'draft-10'`: `RateLimit-Policy` and `RateLimit` as Structured Field lists, one item per
 *   window (draft-ietf-httpapi-ratelimit-headers-10);
 * - `'draft-7'`: `RateLimit-Policy: 100;w=60` and `RateLimit: limit=100, remaining=99, reset=60`
 *   for the window closest to running out (draft 7, as express-rate-limit sends it);
 * - `'legacy'`: `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (the
 *   Unix time, in seconds, when that window resets), as express-rate-limit's `legacyHeaders`.
 * Every mode adds `Retry-After` to a refusal.
 */
export type RateLimitHeaderMode = 'draft-10' | 'draft-7' | 'legacy';

const MODES: readonly RateLimitHeaderMode[] = ['draft-10', 'draft-7', 'legacy'];

/** The `headers` option checked: `true` (or absent) is `'draft-10'`, `false` sends nothing. */
export function headerModeOption(value: unknown, path: string): RateLimitHeaderMode | false {
  if (value === undefined || value === true) return 'draft-10';
  if (value === false) return false;
  if (typeof value === 'string' && (MODES as readonly string[]).includes(value))
    return value as RateLimitHeaderMode;
  throw new ConfigError(path, value, "true, false, 'draft-10', 'draft-7' or 'legacy'");
}

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
 * The quota a window advertises, `q` units per `w` seconds. A token bucket whose `burst`
 * exceeds its `limit` advertises the bucket (`q` = burst) over the seconds it takes to
 * refill from empty, rounded up: its `remaining` can reach the burst, and a client must
 * never see `r` above `q`. Rounding `w` up understates the sustained rate rather than
 * overstating it. Every other window advertises `limit` per window.
 */
export function advertisedQuota(w: RateLimitWindow): { q: number; w: number } {
  if (w.algorithm === 'token-bucket' && w.burst > w.limit)
    return { q: w.burst, w: Math.max(1, Math.ceil((w.burst * w.windowMs) / w.limit / 1000)) };
  return { q: w.limit, w: Math.max(1, Math.ceil(w.windowMs / 1000)) };
}

/**
 * `RateLimit-Policy` per draft-ietf-httpapi-ratelimit-headers-10: a Structured Field list
 * with one item per window. Depends only on options, so it is built once per limiter.
 */
export function formatPolicyHeader(windows: readonly RateLimitWindow[]): string {
  let out = '';
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    const a = advertisedQuota(w);
    if (i > 0) out += ', ';
    out += `"${w.name}";q=${a.q};w=${a.w}`;
  }
  return out;
}

/**
 * `RateLimit` for one decision: remaining quota `r` and seconds `t` until the window next
 * admits more (for a token bucket, until its next unit is back; see the stores' `resetMs`).
 */
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

/** Where an admitted request's headers go (the adapter's call). */
export interface RateLimitHeaderSink {
  setHeader(name: string, value: string): void;
}

/** Every header an admitted request's rate-limit state may set, in lower case (any mode). */
export const RATE_LIMIT_HEADER_NAMES: readonly string[] = Object.freeze([
  'ratelimit-policy',
  'ratelimit',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
]);

/**
 * A limiter's headers in one mode. Everything that depends only on the options (the
 * policy header, each window's advertised quota) is built once, at construction; per
 * request only the figures are formatted. A `limit` function's windows get a formatter
 * of their own (built once per distinct set of limits by the limiter).
 */
export class RateLimitHeaders {
  /** `RateLimit-Policy` for the limiter's windows; undefined in `'legacy'` mode. */
  readonly policy: string | undefined;
  /** Each window's advertised `q` (see {@link advertisedQuota}). */
  private readonly quota: readonly number[];

  constructor(
    readonly mode: RateLimitHeaderMode,
    private readonly windows: readonly RateLimitWindow[],
  ) {
    this.quota = windows.map((w) => advertisedQuota(w).q);
    this.policy =
      mode === 'draft-10'
        ? formatPolicyHeader(windows)
        : mode === 'draft-7'
          ? draft7Policy(windows)
          : undefined;
  }

  /** Sets an admitted request's headers. `clock` is read in `'legacy'` mode only. */
  allowed(sink: RateLimitHeaderSink, d: RateLimitDecision, clock: Clock): void {
    switch (this.mode) {
      case 'draft-10':
        sink.setHeader('RateLimit-Policy', this.policy!);
        sink.setHeader('RateLimit', formatRateLimitHeader(this.windows, d));
        return;
      case 'draft-7':
        sink.setHeader('RateLimit-Policy', this.policy!);
        sink.setHeader('RateLimit', this.draft7(d, tightest(d)));
        return;
      default: {
        const i = tightest(d);
        sink.setHeader('X-RateLimit-Limit', String(this.quota[i]));
        sink.setHeader('X-RateLimit-Remaining', String(d.remaining[i] ?? 0));
        sink.setHeader('X-RateLimit-Reset', resetAt(d, i, clock.now()));
      }
    }
  }

  /** A refusal's headers in this mode (`Retry-After` is the refusal's own). */
  refused(d: RateLimitDecision, clock: Clock): Array<readonly [string, string]> {
    switch (this.mode) {
      case 'draft-10':
        return [
          ['RateLimit-Policy', this.policy!],
          ['RateLimit', formatRateLimitHeader(this.windows, d)],
        ];
      case 'draft-7':
        return [
          ['RateLimit-Policy', this.policy!],
          ['RateLimit', this.draft7(d, tightest(d))],
        ];
      default: {
        const i = tightest(d);
        return [
          ['X-RateLimit-Limit', String(this.quota[i])],
          ['X-RateLimit-Remaining', String(d.remaining[i] ?? 0)],
          ['X-RateLimit-Reset', resetAt(d, i, clock.now())],
        ];
      }
    }
  }

  private draft7(d: RateLimitDecision, i: number): string {
    return `limit=${this.quota[i]}, remaining=${d.remaining[i] ?? 0}, reset=${Math.ceil((d.resetMs[i] ?? 0) / 1000)}`;
  }
}

/** draft-7's `RateLimit-Policy`: `100;w=60`, one item per window. */
function draft7Policy(windows: readonly RateLimitWindow[]): string {
  let out = '';
  for (let i = 0; i < windows.length; i++) {
    const a = advertisedQuota(windows[i]!);
    out += `${i > 0 ? ', ' : ''}${a.q};w=${a.w}`;
  }
  return out;
}

/**
 * The window a single-quota header describes: a refusing window when refused (the one
 * that resets last), else the one with the least left (ties: the one that resets last).
 */
function tightest(d: RateLimitDecision): number {
  const v = d.violated;
  if (v.length > 0) {
    let best = v[0]!;
    for (let k = 1; k < v.length; k++) if ((d.resetMs[v[k]!] ?? 0) > (d.resetMs[best] ?? 0)) best = v[k]!;
    return best;
  }
  let best = 0;
  for (let i = 1; i < d.remaining.length; i++) {
    const r = d.remaining[i]!;
    const b = d.remaining[best]!;
    if (r < b || (r === b && (d.resetMs[i] ?? 0) > (d.resetMs[best] ?? 0))) best = i;
  }
  return best;
}

/** `X-RateLimit-Reset`: the Unix time in whole seconds, rounded up, as express-rate-limit sends it. */
function resetAt(d: RateLimitDecision, i: number, now: number): string {
  return String(Math.ceil((now + (d.resetMs[i] ?? 0)) / 1000));
}
