import { ConfigError } from '../errors.js';
import type { Duration } from '../util/duration.js';
import { checkKeys, expectObject, optDuration, optInt, optNumber } from '../util/validate.js';
import type { LoadSampler } from './sampler.js';

/**
 * The `overload` option of `breakwater()`: when the process counts as overloaded, and how
 * quickly shedding reacts. Off unless given; `{}` turns it on with the defaults below.
 */
export interface OverloadOptions {
  /**
   * Event-loop delay (the p99 over each sample window) past which the process is
   * overloaded. `false` ignores the delay. Default `'100ms'`.
   */
  maxEventLoopDelay?: Duration | false;
  /**
   * Event-loop utilisation (0 to 1, the share of a window the loop was busy) past which
   * the process is overloaded, e.g. 0.98. Default: not watched. Opt in with care: a loop
   * kept busy by clients retrying refusals at once reads close to 1 while it still answers
   * quickly, so utilisation alone can keep shedding after the real work has stopped.
   */
  maxEventLoopUtilization?: number | false;
  /** V8 heap in use, in bytes, past which the process is overloaded. Default: the heap is not watched. */
  maxHeapUsedBytes?: number;
  /** Time between samples (and the window each covers). Default `'500ms'`. */
  sampleInterval?: Duration;
  /**
   * Consecutive samples past a threshold before one more priority is shed. A sample past
   * twice a threshold escalates at once. Default 2.
   */
  escalateAfter?: number;
  /** Consecutive samples below `recoverBelow` of every threshold before one priority is admitted again. Default 4. */
  recoverAfter?: number;
  /**
   * The fraction of each threshold the load must fall below to count towards recovery;
   * between it and the threshold the level holds, so shedding does not flap. Default 0.8.
   */
  recoverBelow?: number;
  /** Where the load is read. Default: this process ({@link processSampler}). For tests. */
  sampler?: LoadSampler;
}

/** {@link OverloadOptions} checked, with defaults applied and durations in milliseconds. */
export interface OverloadSettings {
  /** Undefined: not watched. */
  maxEventLoopDelayMs: number | undefined;
  maxEventLoopUtilization: number | undefined;
  maxHeapUsedBytes: number | undefined;
  sampleIntervalMs: number;
  escalateAfter: number;
  recoverAfter: number;
  recoverBelow: number;
  sampler: LoadSampler | undefined;
}

const DEFAULT_MAX_DELAY_MS = 100; // 100ms
const DEFAULT_SAMPLE_INTERVAL_MS = 500; // 500ms
const DEFAULT_ESCALATE_AFTER = 2; // samples
const DEFAULT_RECOVER_AFTER = 4; // samples
const DEFAULT_RECOVER_BELOW = 0.8;

const KNOWN = [
  'maxEventLoopDelay',
  'maxEventLoopUtilization',
  'maxHeapUsedBytes',
  'sampleInterval',
  'escalateAfter',
  'recoverAfter',
  'recoverBelow',
  'sampler',
];

/** Checks `overload` options; throws a ConfigError naming the option path and the bad value. */
export function resolveOverloadOptions(raw: unknown, path = 'breakwater.overload'): OverloadSettings {
  const o = expectObject(raw, path);
  checkKeys(o, KNOWN, path);
  const delay =
    o.maxEventLoopDelay === false
      ? undefined
      : optDuration(o.maxEventLoopDelay, `${path}.maxEventLoopDelay`, DEFAULT_MAX_DELAY_MS)!;
  if (delay !== undefined && delay <= 0)
    throw new ConfigError(`${path}.maxEventLoopDelay`, o.maxEventLoopDelay, 'a duration greater than 0');
  let elu: number | undefined;
  if (o.maxEventLoopUtilization !== undefined && o.maxEventLoopUtilization !== false) {
    elu = optNumber(o.maxEventLoopUtilization, `${path}.maxEventLoopUtilization`, 0, 0, 1);
    if (elu === 0) throw new ConfigError(`${path}.maxEventLoopUtilization`, 0, 'a number above 0 up to 1');
  }
  const heap =
    o.maxHeapUsedBytes === undefined
      ? undefined
      : optInt(o.maxHeapUsedBytes, `${path}.maxHeapUsedBytes`, 0, 1);
  if (delay === undefined && elu === undefined && heap === undefined)
    throw new ConfigError(
      path,
      raw,
      'at least one threshold (maxEventLoopDelay, maxEventLoopUtilization, maxHeapUsedBytes)',
    );
  const interval = optDuration(o.sampleInterval, `${path}.sampleInterval`, DEFAULT_SAMPLE_INTERVAL_MS)!;
  if (interval < 1)
    throw new ConfigError(`${path}.sampleInterval`, o.sampleInterval, 'a duration of at least 1ms');
  const recoverBelow = optNumber(o.recoverBelow, `${path}.recoverBelow`, DEFAULT_RECOVER_BELOW, 0, 1);
  const sampler = o.sampler;
  if (
    sampler !== undefined &&
    (typeof sampler !== 'object' || sampler === null || typeof (sampler as LoadSampler).sample !== 'function')
  )
    throw new ConfigError(`${path}.sampler`, sampler, 'a LoadSampler with a sample() method');
  return {
    maxEventLoopDelayMs: delay,
    maxEventLoopUtilization: elu,
    maxHeapUsedBytes: heap,
    sampleIntervalMs: interval,
    escalateAfter: optInt(o.escalateAfter, `${path}.escalateAfter`, DEFAULT_ESCALATE_AFTER, 1, 1000),
    recoverAfter: optInt(o.recoverAfter, `${path}.recoverAfter`, DEFAULT_RECOVER_AFTER, 1, 1000),
    recoverBelow,
    sampler: sampler as LoadSampler | undefined,
  };
}
