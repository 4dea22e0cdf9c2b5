import { ConfigError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { checkKeys, expectObject, optDuration, optFunction, optInt, optNumber } from '../util/validate.js';
import type { Fleet } from './Fleet.js';

/** What a finished call looked like, for the failure predicate. */
export interface CallOutcome {
  /** The thrown error, if the call threw. */
  error?: unknown;
  /** The HTTP status, where there is one (inbound response, outbound pool response). */
  status?: number;
  /** True when the call ran out of time. */
  timedOut?: boolean;
  /** The call's result, when it returned one. */
  result?: unknown;
  durationMs: number;
}

/** Options of a {@link CircuitBreaker}. Defaults follow resilience4j's. */
export interface CircuitBreakerOptions {
  /** Trip when this share of calls in the window failed (0..1). Default 0.5. */
  failureRateThreshold?: number;
  /** Trip after this many failures in a row, whatever the rate and minimumCalls. Default: off. */
  consecutiveFailures?: number;
  /** Calls in the window before a rate is judged. Default 10. */
  minimumCalls?: number;
  /** Sliding window. Default `{ kind: 'count', size: 100 }`. */
  window?: { kind: 'count'; size: number } | { kind: 'time'; size: Duration };
  /** A call at least this slow counts as slow. Default: off. */
  slowCallDuration?: Duration;
  /** Trip when this share of calls was slow (0..1). Default 1 (only when every call is slow). */
  slowCallRateThreshold?: number;
  /** How long the breaker stays open before a probe. Default `'30s'`. */
  openFor?: Duration;
  /** When set, `openFor` doubles on each re-trip from half-open, up to this. */
  openForMax?: Duration;
  /** Probes admitted at once while half-open. Default 1. */
  halfOpenMaxCalls?: number;
  /** Successful probes that close the breaker. Default 1. */
  successThreshold?: number;
  /** What counts as a failure. Default: a thrown error, a timeout, or a status >= 500. */
  isFailure?: (outcome: CallOutcome) => boolean;
  /**
   * Fleet-aware: this breaker reports its own trips to the fleet and also opens when a
   * quorum of instances reports it open. It joins when registered (breakwater's `breakers`,
   * a route's own breaker) or by `fleet.attach(breaker)`. Default: local state only.
   */
  fleet?: Fleet;
  /** Clock for tests. */
  clock?: Clock;
}

export interface ResolvedBreakerOptions {
  failureRateThreshold: number;
  consecutiveFailures: number;
  minimumCalls: number;
  window: { kind: 'count'; size: number } | { kind: 'time'; sizeMs: number };
  slowCallDurationMs: number;
  slowCallRateThreshold: number;
  openForMs: number;
  openForMaxMs: number;
  halfOpenMaxCalls: number;
  successThreshold: number;
  isFailure: ((outcome: CallOutcome) => boolean) | undefined;
  fleet: Fleet | undefined;
}

const KNOWN = [
  'failureRateThreshold',
  'consecutiveFailures',
  'minimumCalls',
  'window',
  'slowCallDuration',
  'slowCallRateThreshold',
  'openFor',
  'openForMax',
  'halfOpenMaxCalls',
  'successThreshold',
  'isFailure',
  'fleet',
  'clock',
];

export function resolveBreakerOptions(raw: unknown, path: string): ResolvedBreakerOptions {
  const o = expectObject(raw ?? {}, path);
  checkKeys(o, KNOWN, path);
  let window: ResolvedBreakerOptions['window'] = { kind: 'count', size: 100 };
  if (o.window !== undefined) {
    const w = expectObject(o.window, `${path}.window`);
    if (w.kind === 'count')
      window = { kind: 'count', size: optInt(w.size, `${path}.window.size`, 100, 1, 1_000_000) };
    else if (w.kind === 'time') {
      const sizeMs = parseDuration(w.size, `${path}.window.size`);
      if (sizeMs < 10) throw new ConfigError(`${path}.window.size`, w.size, 'a duration of at least 10ms');
      window = { kind: 'time', sizeMs };
    } else throw new ConfigError(`${path}.window.kind`, w.kind, "'count' or 'time'");
  }
  const openForMs = optDuration(o.openFor, `${path}.openFor`, 30_000)!;
  const openForMaxMs = optDuration(o.openForMax, `${path}.openForMax`, openForMs)!;
  if (openForMaxMs < openForMs)
    throw new ConfigError(`${path}.openForMax`, o.openForMax, `a duration >= openFor (${openForMs}ms)`);
  return {
    failureRateThreshold: optNumber(o.failureRateThreshold, `${path}.failureRateThreshold`, 0.5, 0, 1),
    consecutiveFailures: optInt(o.consecutiveFailures, `${path}.consecutiveFailures`, 0, 1),
    minimumCalls: optInt(o.minimumCalls, `${path}.minimumCalls`, 10, 1),
    window,
    slowCallDurationMs: optDuration(
      o.slowCallDuration,
      `${path}.slowCallDuration`,
      Number.POSITIVE_INFINITY,
    )!,
    slowCallRateThreshold: optNumber(o.slowCallRateThreshold, `${path}.slowCallRateThreshold`, 1, 0, 1),
    openForMs,
    openForMaxMs,
    halfOpenMaxCalls: optInt(o.halfOpenMaxCalls, `${path}.halfOpenMaxCalls`, 1, 1),
    successThreshold: optInt(o.successThreshold, `${path}.successThreshold`, 1, 1),
    isFailure: optFunction(o.isFailure, `${path}.isFailure`),
    fleet: checkFleet(o.fleet, `${path}.fleet`),
  };
}

function checkFleet(v: unknown, path: string): Fleet | undefined {
  if (v === undefined) return undefined;
  const f = v as Partial<Fleet> | null;
  if (typeof f !== 'object' || f === null || typeof f.attach !== 'function' || typeof f.detach !== 'function')
    throw new ConfigError(path, v, 'a BreakerFleet');
  return v as Fleet;
}
