import { ConfigError, type Duration, parseDuration } from '@breakwater/core';

/**
 * Outbound pacing (`HttpPool` option `pace`): a token bucket in front of the upstream.
 * A call without a token waits for one (up to `maxWait`, served by priority) instead of
 * failing; with `adaptive`, the upstream's own word — `RateLimit` / `RateLimit-Policy`
 * headers, 429s and `Retry-After` — lowers the pace and calm restores it.
 *
 * ```ts
 * new HttpPool({ name: 'partner', baseUrl, pace: { rate: 50, burst: 10, maxWait: '2s' } })
 * ```
 */
export interface PaceOptions {
  /** Calls per `per` at most (the configured, highest pace). Required. */
  rate: number;
  /** Period of `rate` and `minRate`. Default `'1s'`. */
  per?: Duration;
  /** Calls that may leave at once after a quiet spell (bucket capacity). Default: a tenth of `rate`, at least 1. */
  burst?: number;
  /** Longest wait for a token; a call that would wait longer is refused at once (`POOL_PACE_TIMEOUT`). Default: the pool's `queueTimeout`. */
  maxWait?: Duration;
  /** Follow the upstream's signals (rate-limit headers, 429, `Retry-After`). Default true; false paces at `rate` always. */
  adaptive?: boolean;
  /** Floor of the adapted pace, per `per` (pauses the upstream asks for still apply). Default `rate / 100`. */
  minRate?: number;
  /** Calm needed before the pace climbs back one step (a tenth of `rate`), and between steps. Default `'1s'`. */
  restoreAfter?: Duration;
  /**
   * Longest pause an upstream's `Retry-After` or exhausted quota can impose; a longer one is
   * cut to this (an upstream that says "come back tomorrow" is still tried within it).
   * Default `'1m'`.
   */
  maxPause?: Duration;
}

/** {@link PaceOptions} checked, in tokens per millisecond and milliseconds. */
export interface ResolvedPaceOptions {
  ratePerMs: number;
  minPerMs: number;
  burst: number;
  maxWaitMs: number;
  adaptive: boolean;
  restoreAfterMs: number;
  maxPauseMs: number;
}

const KNOWN = ['rate', 'per', 'burst', 'maxWait', 'adaptive', 'minRate', 'restoreAfter', 'maxPause'];

function positive(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(path, v, 'a number > 0');
  return v;
}

/** Checks `pace` up front, naming the option path and the bad value. */
export function resolvePaceOptions(
  raw: unknown,
  path: string,
  defaultMaxWaitMs: number,
): ResolvedPaceOptions {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(path, raw, 'an object like { rate: 50, maxWait: "2s" }');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!KNOWN.includes(k))
      throw new ConfigError(`${path}.${k}`, o[k], `one of the known options (${KNOWN.join(', ')})`);
  const rate = positive(o.rate, `${path}.rate`);
  const perMs = o.per === undefined ? 1_000 : parseDuration(o.per, `${path}.per`); // 1s
  if (perMs <= 0) throw new ConfigError(`${path}.per`, o.per, 'a duration > 0');
  let burst = Math.max(1, Math.floor(rate / 10));
  if (o.burst !== undefined) {
    if (typeof o.burst !== 'number' || !Number.isInteger(o.burst) || o.burst < 1)
      throw new ConfigError(`${path}.burst`, o.burst, 'an integer >= 1');
    burst = o.burst;
  }
  const maxWaitMs = o.maxWait === undefined ? defaultMaxWaitMs : parseDuration(o.maxWait, `${path}.maxWait`);
  if (o.adaptive !== undefined && typeof o.adaptive !== 'boolean')
    throw new ConfigError(`${path}.adaptive`, o.adaptive, 'true or false');
  let minRate = rate / 100;
  if (o.minRate !== undefined) {
    minRate = positive(o.minRate, `${path}.minRate`);
    if (minRate > rate) throw new ConfigError(`${path}.minRate`, o.minRate, `a number <= rate (${rate})`);
  }
  const restoreAfterMs =
    o.restoreAfter === undefined ? 1_000 : parseDuration(o.restoreAfter, `${path}.restoreAfter`); // 1s
  if (restoreAfterMs <= 0) throw new ConfigError(`${path}.restoreAfter`, o.restoreAfter, 'a duration > 0');
  const maxPauseMs = o.maxPause === undefined ? 60_000 : parseDuration(o.maxPause, `${path}.maxPause`); // 1m
  if (maxPauseMs <= 0) throw new ConfigError(`${path}.maxPause`, o.maxPause, 'a duration > 0');
  return {
    ratePerMs: rate / perMs,
    minPerMs: minRate / perMs,
    burst,
    maxWaitMs,
    adaptive: (o.adaptive as boolean | undefined) ?? true,
    restoreAfterMs,
    maxPauseMs,
  };
}
