import { ConfigError } from '../errors.js';

/**
 * A logger in pino's shape: each method takes an object of fields and a message. pino,
 * bunyan-style loggers and `console` fit. Breakwater logs events (a breaker's transition,
 * a bulkhead filling up, a store failing over), once per event and never per request.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The levels Breakwater logs at. */
export type LogLevel = keyof Logger;

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Checks `breakwater({ logger })`: undefined (no logging) or an object with the four methods. */
export function checkLogger(value: unknown, path = 'breakwater.logger'): Logger | undefined {
  if (value === undefined) return undefined;
  const missing =
    typeof value === 'object' || typeof value === 'function'
      ? LEVELS.filter((l) => typeof (value as Record<string, unknown> | null)?.[l] !== 'function')
      : LEVELS;
  if (value === null || missing.length > 0)
    throw new ConfigError(
      path,
      value,
      `a logger with debug, info, warn and error methods taking (obj, msg), like pino or console${
        value !== null && typeof value === 'object' ? ` (missing ${missing.join(', ')})` : ''
      }`,
    );
  return value as Logger;
}
