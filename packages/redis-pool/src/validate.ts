import { ConfigError, parseDuration } from '@breakwater/core';

/**
 * Small option checks, each throwing core's ConfigError with the option path and the bad
 * value. (Core keeps its own helpers internal, so this package has these few.)
 */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function expectObject(v: unknown, path: string): Record<string, unknown> {
  if (!isPlainObject(v)) throw new ConfigError(path, v, 'an object');
  return v;
}

export function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k))
      throw new ConfigError(`${path}.${k}`, obj[k], `one of the known options (${allowed.join(', ')})`);
  }
}

export function optInt(
  v: unknown,
  path: string,
  def: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(
      path,
      v,
      max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`,
    );
  }
  return v;
}

/** A duration option in milliseconds, at least `min` (the bad value is named when it is smaller). */
export function optDuration(v: unknown, path: string, def: number, min = 0): number {
  if (v === undefined) return def;
  const ms = parseDuration(v, path);
  if (ms < min) throw new ConfigError(path, v, `a duration of at least ${min}ms`);
  return ms;
}

export function optString(v: unknown, path: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(path, v, 'a non-empty string');
  return v;
}

export function optBoolean(v: unknown, path: string, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new ConfigError(path, v, 'true or false');
  return v;
}
