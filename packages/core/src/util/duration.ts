import { ConfigError } from '../errors.js';

/** A duration: milliseconds as a number, or a string such as `'250ms'`, `'2s'`, `'1m'`, `'1h'`. */
export type Duration = number | `${number}${DurationUnit}` | string;
type DurationUnit = 'ms' | 's' | 'm' | 'h';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a {@link Duration} into milliseconds. Accepts a finite non-negative number, or a
 * decimal number followed by `ms`, `s`, `m` or `h` (`'1.5s'`). Anything else throws a
 * {@link ConfigError} that names `path` and the bad value.
 */
export function parseDuration(value: unknown, path = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
    throw new ConfigError(path, value, 'a non-negative finite number of milliseconds');
  }
  if (typeof value === 'string' && value.length > 0 && value.length <= 32) {
    let i = 0;
    const len = value.length;
    // Scanned by hand: option parsing is cold, but a regex here would accept odd forms like '1e3s'.
    while (i < len && ((value.charCodeAt(i) >= 48 && value.charCodeAt(i) <= 57) || value[i] === '.')) i++;
    const num = value.slice(0, i);
    const unit = value.slice(i);
    const factor = UNIT_MS[unit];
    if (num.length > 0 && num !== '.' && num.indexOf('.') === num.lastIndexOf('.') && factor !== undefined) {
      const ms = Number(num) * factor;
      if (Number.isFinite(ms)) return ms;
    }
  }
  throw new ConfigError(path, value, "a duration like 250, '250ms', '2s', '1m' or '1h'");
}
