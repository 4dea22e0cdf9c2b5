import { ConfigError } from '../errors.js';
import { parseDuration } from './duration.js';

/** Validation helpers: each throws a ConfigError naming the option path and the bad value. */
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
  min = 0,
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

export function reqInt(v: unknown, path: string, min = 0): number {
  if (v === undefined) throw new ConfigError(path, v, `an integer >= ${min}`);
  return optInt(v, path, 0, min);
}

export function optNumber(v: unknown, path: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ConfigError(path, v, `a number from ${min} to ${max}`);
  }
  return v;
}

export function optDuration(v: unknown, path: string, def: number | undefined): number | undefined {
  return v === undefined ? def : parseDuration(v, path);
}

export function optOneOf<T extends string>(v: unknown, path: string, values: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new ConfigError(path, v, `one of ${values.map((x) => `'${x}'`).join(', ')}`);
  }
  return v as T;
}

export function optFunction<F>(v: unknown, path: string): F | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'function') throw new ConfigError(path, v, 'a function');
  return v as F;
}

export function optString(v: unknown, path: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(path, v, 'a non-empty string');
  return v;
}
