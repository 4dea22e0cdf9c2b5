import { ConfigError } from '../../errors.js';
import { optInt } from '../../util/validate.js';
import {
  clamp,
  DEFAULT_INITIAL_LIMIT,
  DEFAULT_MAX_LIMIT,
  DEFAULT_MIN_LIMIT,
  type LimitBounds,
} from './LimitAlgorithm.js';

/** `min`, `max` and `initial` checked and defaulted: min ≤ initial ≤ max. */
export function bounds(o: LimitBounds, path: string): Required<LimitBounds> {
  const min = optInt(o.min, `${path}.min`, DEFAULT_MIN_LIMIT, 1);
  const max = optInt(o.max, `${path}.max`, Math.max(min, DEFAULT_MAX_LIMIT), 1);
  if (max < min) throw new ConfigError(`${path}.max`, max, `an integer >= min (${min})`);
  const initial = optInt(o.initial, `${path}.initial`, clamp(DEFAULT_INITIAL_LIMIT, min, max), 1);
  if (initial < min || initial > max)
    throw new ConfigError(`${path}.initial`, initial, `an integer from min (${min}) to max (${max})`);
  return { min, max, initial };
}
