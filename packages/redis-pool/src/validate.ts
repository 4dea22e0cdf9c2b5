import { ConfigError, parseDuration } from '@breakwater/core';
import { validate } from '@breakwater/core/extend';

/**
 * Option checks, each throwing core's ConfigError with the option path and the bad value:
 * core's own, plus the two this package needs in another form.
 */
export const { isPlainObject, expectObject, checkKeys, optInt, optString } = validate;

/** A duration option in milliseconds, at least `min` (the bad value is named when it is smaller). */
export function optDuration(v: unknown, path: string, def: number, min = 0): number {
  if (v === undefined) return def;
  const ms = parseDuration(v, path);
  if (ms < min) throw new ConfigError(path, v, `a duration of at least ${min}ms`);
  return ms;
}

export function optBoolean(v: unknown, path: string, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new ConfigError(path, v, 'true or false');
  return v;
}
