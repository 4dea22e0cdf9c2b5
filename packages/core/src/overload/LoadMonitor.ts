import type { Clock, TimerHandle } from '../util/clock.js';
import { Emitter, type Event } from '../util/events.js';
import type { LoadSample, LoadSampler } from './sampler.js';

/** Options of a {@link LoadMonitor}. */
export interface LoadMonitorOptions {
  sampler: LoadSampler;
  clock: Clock;
  /** Milliseconds between samples. */
  intervalMs: number;
}

/**
 * Samples the load on one timer (unref'd by the system clock), re-armed after each
 * sample so samples never overlap, and announces each sample. The timer's own lateness
 * counts as event-loop delay too: a loop blocked for a whole window delays the timer
 * even when the delay histogram had no chance to probe.
 */
export class LoadMonitor {
  private timer: TimerHandle | undefined;
  private expectedAt = 0;
  private running = false;
  private readonly samples = new Emitter<LoadSample>();
  /** Fires with each sample. */
  readonly onSample: Event<LoadSample> = this.samples.event;

  constructor(private readonly options: LoadMonitorOptions) {}

  get isRunning(): boolean {
    return this.running;
  }

  /** Starts sampling. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.options.sampler.start?.();
    this.arm();
  }

  /** Stops sampling and clears the timer. Idempotent. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.options.sampler.stop?.();
  }

  private arm(): void {
    const { clock, intervalMs } = this.options;
    this.expectedAt = clock.now() + intervalMs;
    const t = this.timer;
    // Node's timers re-arm in place; other clocks (fakes) get a new timer.
    if (t !== undefined && typeof t === 'object' && typeof t.refresh === 'function') t.refresh();
    else this.timer = clock.setTimeout(this.tick, intervalMs);
  }

  private readonly tick = (): void => {
    if (!this.running) return;
    const late = this.options.clock.now() - this.expectedAt;
    let sample: LoadSample;
    try {
      sample = this.options.sampler.sample();
    } catch {
      // A broken sampler must not stop the monitor, nor crash the process from a timer.
      this.arm();
      return;
    }
    if (late > sample.eventLoopDelayMs) sample = { ...sample, eventLoopDelayMs: late };
    try {
      this.samples.fire(sample);
    } finally {
      if (this.running) this.arm();
    }
  };
}
