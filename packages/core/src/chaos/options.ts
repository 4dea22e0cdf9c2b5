import { ConfigError } from '../errors.js';
import type { Duration } from '../util/duration.js';
import {
  checkKeys,
  expectObject,
  isPlainObject,
  optDuration,
  optFunction,
  optInt,
  optNumber,
} from '../util/validate.js';

/** Injected latency: `rate` of the calls wait `ms` before their handler runs. */
export interface ChaosLatencyOptions {
  /** Fraction of calls delayed, 0..1. */
  rate: number;
  /** The delay. */
  ms: Duration;
}

/** Injected faults: `rate` of the calls are answered with `status` instead of running their handler. */
export interface ChaosFaultOptions {
  /** Fraction of calls failed, 0..1. */
  rate: number;
  /** Status of the answer, 400..599. Default 500. */
  status?: number;
  /**
   * Body of the answer: a string (sent as `text/plain`) or an object (sent as JSON).
   * Default: an `application/problem+json` body with `code: 'CHAOS_FAULT'`.
   */
  body?: string | Record<string, unknown>;
}

/**
 * A route's chaos policy, for rehearsing failure: injected latency and faults at the
 * handler's position (inside the breaker, bulkhead and timeout, so the route's own policies
 * react to them as to real ones). Off until enabled (`enabled: true`, or at run time with
 * `bw.chaos.enable(route)`).
 */
export interface ChaosOptions<Req = any> {
  /** Whether injection is on from the start. Default false. */
  enabled?: boolean;
  latency?: ChaosLatencyOptions | false;
  fault?: ChaosFaultOptions | false;
  /** Only requests this returns true for are candidates (a throwing predicate means no). Default: all. */
  when?: (req: Req) => boolean;
  /** Source of randomness in [0, 1), for tests. Default `Math.random`. */
  random?: () => number;
}

/** Chaos options after validation. */
export interface ChaosSettings {
  enabled: boolean;
  latencyRate: number;
  latencyMs: number;
  faultRate: number;
  faultStatus: number;
  faultBody: string | Record<string, unknown> | undefined;
  when: ((req: any) => boolean) | undefined;
  random: () => number;
}

const KNOWN = ['enabled', 'latency', 'fault', 'when', 'random'];
const DEFAULT_FAULT_STATUS = 500;

/** Validates chaos options, over `base` when given (run-time overrides keep what they do not name). */
export function checkChaosOptions(raw: unknown, path: string, base?: ChaosSettings): ChaosSettings {
  const o = expectObject(raw, path);
  checkKeys(o, KNOWN, path);
  if (o.enabled !== undefined && typeof o.enabled !== 'boolean')
    throw new ConfigError(`${path}.enabled`, o.enabled, 'a boolean');
  const out: ChaosSettings = base
    ? { ...base }
    : {
        enabled: false,
        latencyRate: 0,
        latencyMs: 0,
        faultRate: 0,
        faultStatus: DEFAULT_FAULT_STATUS,
        faultBody: undefined,
        when: undefined,
        random: Math.random,
      };
  if (o.enabled !== undefined) out.enabled = o.enabled as boolean;
  if (o.latency === false) out.latencyRate = 0;
  else if (o.latency !== undefined) {
    const l = expectObject(o.latency, `${path}.latency`);
    checkKeys(l, ['rate', 'ms'], `${path}.latency`);
    out.latencyRate = reqRate(l.rate, `${path}.latency.rate`);
    if (l.ms === undefined) throw new ConfigError(`${path}.latency.ms`, undefined, "a duration like '200ms'");
    out.latencyMs = optDuration(l.ms, `${path}.latency.ms`, 0)!;
  }
  if (o.fault === false) out.faultRate = 0;
  else if (o.fault !== undefined) {
    const f = expectObject(o.fault, `${path}.fault`);
    checkKeys(f, ['rate', 'status', 'body'], `${path}.fault`);
    out.faultRate = reqRate(f.rate, `${path}.fault.rate`);
    out.faultStatus = optInt(f.status, `${path}.fault.status`, DEFAULT_FAULT_STATUS, 400, 599);
    if (f.body !== undefined && typeof f.body !== 'string' && !isPlainObject(f.body))
      throw new ConfigError(`${path}.fault.body`, f.body, 'a string or an object');
    out.faultBody = f.body as ChaosSettings['faultBody'];
  }
  if (o.when !== undefined) out.when = optFunction(o.when, `${path}.when`);
  if (o.random !== undefined) out.random = optFunction<() => number>(o.random, `${path}.random`)!;
  return out;
}

function reqRate(v: unknown, path: string): number {
  if (v === undefined) throw new ConfigError(path, v, 'a number from 0 to 1');
  return optNumber(v, path, 0, 0, 1);
}
