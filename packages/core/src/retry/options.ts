import { ConfigError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { Duration } from '../util/duration.js';
import { checkKeys, expectObject, optDuration, optFunction, optInt, optNumber } from '../util/validate.js';
import { DEFAULT_RETRY_STATUSES } from './classify.js';
import { RetryBudget, type RetryBudgetOptions } from './RetryBudget.js';

/** Options of a {@link Retry} policy. */
export interface RetryOptions {
  /** Attempts in all, the first one included. Default 3. */
  attempts?: number;
  /** Ceiling of the first backoff; each later one multiplies it by `factor`. Default `'100ms'`. */
  baseDelay?: Duration;
  /** Cap on any one backoff. Default `'5s'`. */
  maxDelay?: Duration;
  /** Growth of the backoff ceiling per retry. Default 2. */
  factor?: number;
  /** Response statuses that are retried. Default `[429, 502, 503, 504]`. */
  statuses?: readonly number[];
  /** Whether a thrown error is retried. Default: connection errors (by `code`). */
  retryOnError?: (error: unknown) => boolean;
  /** Retry non-idempotent methods (POST, PATCH, ...) too. Default false. */
  retryNonIdempotent?: boolean;
  /** Wait as long as a retried response's `Retry-After` asks. Default true. */
  respectRetryAfter?: boolean;
  /** A `Retry-After` longer than this ends the retries instead. Default `'30s'`. */
  maxRetryAfter?: Duration;
  /**
   * Retry budget: a shared {@link RetryBudget}, options for a new one, or `false` for
   * none. Default: a budget with default options (20% of the calls of the last 10 s).
   */
  budget?: RetryBudget | RetryBudgetOptions | false;
  /** Clock for tests. */
  clock?: Clock;
  /** Source of randomness in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
}

export interface ResolvedRetryOptions {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  factor: number;
  statuses: ReadonlySet<number>;
  retryOnError: ((error: unknown) => boolean) | undefined;
  retryNonIdempotent: boolean;
  respectRetryAfter: boolean;
  maxRetryAfterMs: number;
  budget: RetryBudget | undefined;
}

const KNOWN = [
  'attempts',
  'baseDelay',
  'maxDelay',
  'factor',
  'statuses',
  'retryOnError',
  'retryNonIdempotent',
  'respectRetryAfter',
  'maxRetryAfter',
  'budget',
  'clock',
  'random',
];

function optBool(v: unknown, path: string, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new ConfigError(path, v, 'true or false');
  return v;
}

export function resolveRetryOptions(raw: unknown, path: string): ResolvedRetryOptions {
  const o = expectObject(raw ?? {}, path);
  checkKeys(o, KNOWN, path);
  const baseDelayMs = optDuration(o.baseDelay, `${path}.baseDelay`, 100)!;
  const maxDelayMs = optDuration(o.maxDelay, `${path}.maxDelay`, 5_000)!;
  if (maxDelayMs < baseDelayMs)
    throw new ConfigError(`${path}.maxDelay`, o.maxDelay, `a duration >= baseDelay (${baseDelayMs}ms)`);
  let statuses: ReadonlySet<number> = new Set(DEFAULT_RETRY_STATUSES);
  if (o.statuses !== undefined) {
    if (
      !Array.isArray(o.statuses) ||
      !o.statuses.every((s) => Number.isInteger(s) && (s as number) >= 100 && (s as number) <= 599)
    )
      throw new ConfigError(`${path}.statuses`, o.statuses, 'an array of HTTP statuses (100-599)');
    statuses = new Set(o.statuses as number[]);
  }
  let budget: RetryBudget | undefined;
  if (o.budget instanceof RetryBudget) budget = o.budget;
  else if (o.budget !== false) {
    const bo = (o.budget ?? {}) as RetryBudgetOptions;
    const clock = o.clock as Clock | undefined;
    budget = new RetryBudget(clock && bo.clock === undefined ? { ...bo, clock } : bo, `${path}.budget`);
  }
  return {
    attempts: optInt(o.attempts, `${path}.attempts`, 3, 1, 100),
    baseDelayMs,
    maxDelayMs,
    factor: optNumber(o.factor, `${path}.factor`, 2, 1, 100),
    statuses,
    retryOnError: optFunction(o.retryOnError, `${path}.retryOnError`),
    retryNonIdempotent: optBool(o.retryNonIdempotent, `${path}.retryNonIdempotent`, false),
    respectRetryAfter: optBool(o.respectRetryAfter, `${path}.respectRetryAfter`, true),
    maxRetryAfterMs: optDuration(o.maxRetryAfter, `${path}.maxRetryAfter`, 30_000)!,
    budget,
  };
}
