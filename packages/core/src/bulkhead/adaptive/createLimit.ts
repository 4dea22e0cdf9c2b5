import { ConfigError } from '../../errors.js';
import { checkKeys, isPlainObject, optInt } from '../../util/validate.js';
import { AimdLimit, type AimdLimitOptions } from './AimdLimit.js';
import { bounds } from './bounds.js';
import { Gradient2Limit, type Gradient2LimitOptions } from './Gradient2Limit.js';
import type { LimitAlgorithm, LimitBounds } from './LimitAlgorithm.js';
import { VegasLimit, type VegasLimitOptions } from './VegasLimit.js';
import { WindowedLimit } from './WindowedLimit.js';

/** The built-in algorithms by name. */
export type LimiterName = 'gradient2' | 'aimd' | 'vegas';

/** Tuning every built-in algorithm takes. */
export interface WindowOption {
  /**
   * Calls aggregated into one sample (mean RTT, most in flight, any drop) before the limit
   * moves. Default 10 for `gradient2` and `vegas` (a stall is one sample, not a volley), 1
   * for `aimd` (each drop backs off, as in TCP).
   */
  window?: number;
}

/** A built-in algorithm with its tuning, e.g. `{ algorithm: 'aimd', backoffRatio: 0.8 }`. */
export type LimiterOptions =
  | ({ algorithm: 'gradient2' } & Omit<Gradient2LimitOptions, keyof LimitBounds> & WindowOption)
  | ({ algorithm: 'aimd' } & Omit<AimdLimitOptions, keyof LimitBounds> & WindowOption)
  | ({ algorithm: 'vegas' } & Omit<VegasLimitOptions, keyof LimitBounds | 'random'> & WindowOption);

/** Default `window` by algorithm. */
const DEFAULT_WINDOW: Record<LimiterName, number> = { gradient2: 10, aimd: 1, vegas: 10 };

/** The default algorithm: Netflix's recommended one, which needs no notion of a no-load RTT. */
export const DEFAULT_LIMITER: LimiterName = 'gradient2';

const TUNING: Record<LimiterName, readonly string[]> = {
  gradient2: ['tolerance', 'smoothing', 'longWindow', 'queueSize'],
  aimd: ['backoffRatio', 'timeout'],
  vegas: ['alpha', 'beta', 'smoothing', 'probeMultiplier'],
};

function isAlgorithm(v: unknown): v is LimitAlgorithm {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as LimitAlgorithm).update === 'function' &&
    typeof (v as LimitAlgorithm).limit === 'number'
  );
}

/**
 * The algorithm of an adaptive bulkhead from its `limiter` option: a name, a name with
 * tuning, or an algorithm of the caller's own. `path` names the bulkhead's options.
 */
export function createLimit(
  limiter: unknown,
  limits: LimitBounds,
  path: string,
): { algorithm: LimitAlgorithm; min: number; max: number } {
  const b = bounds(limits, path);
  if (isAlgorithm(limiter)) return { algorithm: limiter, min: b.min, max: b.max };
  let name: unknown = limiter ?? DEFAULT_LIMITER;
  let tuning: Record<string, unknown> = {};
  let window = DEFAULT_WINDOW[name as LimiterName] ?? 1;
  const lpath = `${path}.limiter`;
  if (isPlainObject(limiter)) {
    name = limiter.algorithm;
    if (typeof name !== 'string' || !Object.hasOwn(TUNING, name))
      throw new ConfigError(`${lpath}.algorithm`, name, "one of 'gradient2', 'aimd', 'vegas'");
    checkKeys(limiter, ['algorithm', 'window', ...TUNING[name as LimiterName]], lpath);
    const { algorithm: _, window: w, ...rest } = limiter;
    window = optInt(w, `${lpath}.window`, DEFAULT_WINDOW[name as LimiterName], 1, 10_000);
    tuning = rest;
  } else if (typeof name !== 'string' || !Object.hasOwn(TUNING, name))
    throw new ConfigError(
      lpath,
      limiter,
      "one of 'gradient2', 'aimd', 'vegas', { algorithm, ...tuning }, or a LimitAlgorithm",
    );
  const o = { ...tuning, ...b };
  const single =
    name === 'aimd'
      ? new AimdLimit(o, lpath)
      : name === 'vegas'
        ? new VegasLimit(o, lpath)
        : new Gradient2Limit(o, lpath);
  const algorithm = window > 1 ? new WindowedLimit(single, window) : single;
  return { algorithm, min: b.min, max: b.max };
}
