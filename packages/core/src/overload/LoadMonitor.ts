import { BackgroundCheck } from '../util/BackgroundCheck.js';
import type { Clock } from '../util/clock.js';
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
 * Samples the load on one {@link BackgroundCheck} timer (unref'd), re-armed after each
 * sample so samples never overlap, and announces each sample. The timer's own lateness
 * counts as event-loop delay too: a loop blocked for a whole window delays the timer
 * even when the delay histogram had no chance to probe.
 */
export class LoadMonitor {
  private readonly loop: BackgroundCheck;
  private expectedAt = 0;
  private running = false;
  private readonly samples = new Emitter<LoadSample>();
  /** Fires with each sample. */
  readonly onSample: Event<LoadSample> = this.samples.event;

  constructor(private readonly options: LoadMonitorOptions) {
    const { clock, intervalMs } = options;
    this.loop = new BackgroundCheck(this.tick, { intervalMs, clock });
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Starts sampling. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.options.sampler.start?.();
    this.expectedAt = this.options.clock.now() + this.options.intervalMs;
    this.loop.start();
  }

  /** Stops sampling and clears the timer. Idempotent. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    void this.loop.stop();
    this.options.sampler.stop?.();
  }

  /** Synchronous, so the loop re-arms as it returns: the next tick is due one interval from now. */
  private readonly tick = (): void => {
    const { clock, intervalMs, sampler } = this.options;
    const late = clock.now() - this.expectedAt;
    try {
      let sample = sampler.sample();
      if (late > sample.eventLoopDelayMs) sample = { ...sample, eventLoopDelayMs: late };
      this.samples.fire(sample);
    } finally {
      // A broken sampler or listener skips this sample; the loop goes on (it swallows the error).
      this.expectedAt = clock.now() + intervalMs;
    }
  };
}
