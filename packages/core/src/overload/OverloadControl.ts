import type { HealthCheckResult } from '../health/types.js';
import type { Clock } from '../util/clock.js';
import type { Disposable } from '../util/events.js';
import { LoadMonitor } from './LoadMonitor.js';
import { LoadShedder } from './LoadShedder.js';
import { type OverloadOptions, type OverloadSettings, resolveOverloadOptions } from './options.js';
import { processSampler } from './sampler.js';

/** What the detailed health report says per level. */
const HEALTH_OUTPUT = [
  '',
  'overloaded: shedding sheddable routes',
  'overloaded: shedding sheddable and normal routes',
];

/**
 * The `overload` option of one Breakwater instance: a {@link LoadMonitor} feeding a
 * {@link LoadShedder}. Built (and validated) in the constructor, sampling only from
 * `start()`, so an instance whose construction fails leaves no timer behind.
 */
export class OverloadControl {
  readonly settings: OverloadSettings;
  readonly shedder: LoadShedder;
  readonly monitor: LoadMonitor;
  private readonly sub: Disposable;

  constructor(options: OverloadOptions, clock: Clock, path = 'breakwater.overload') {
    const s = resolveOverloadOptions(options, path);
    this.settings = s;
    this.shedder = new LoadShedder(s);
    const sampler =
      s.sampler ??
      processSampler({
        // Several probes per window, so one window's p99 rests on more than one reading.
        resolutionMs: Math.min(10, Math.max(1, s.sampleIntervalMs / 10)),
        heap: s.maxHeapUsedBytes !== undefined,
      });
    this.monitor = new LoadMonitor({ sampler, clock, intervalMs: s.sampleIntervalMs });
    this.sub = this.monitor.onSample((sample) => this.shedder.observe(sample));
  }

  /** Starts sampling. Idempotent. */
  start(): void {
    this.monitor.start();
  }

  /** Stops sampling for good. Idempotent. */
  close(): void {
    this.monitor.stop();
    this.sub.dispose();
  }

  /** The `overload` entry of the detailed health report: `warn` while anything is shed. */
  health(): HealthCheckResult {
    const level = this.shedder.level;
    return level === 0
      ? { status: 'pass', observedValue: 0, observedUnit: 'shed level' }
      : { status: 'warn', observedValue: level, observedUnit: 'shed level', output: HEALTH_OUTPUT[level] };
  }
}
