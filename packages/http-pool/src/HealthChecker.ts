import type { Clock, TimerHandle } from '@breakwater/core';

/**
 * Runs `check` in the background, forever until `stop()`: one run at a time, the next
 * `interval` (±10% jitter) after the previous one ended, so a slow check never overlaps
 * itself. Timers are unref'd and cleared on stop.
 *
 * Each round sets a fresh timer instead of `timer.refresh()` (fastify/under-pressure's
 * way) because refresh cannot change the delay and the jitter must vary per round.
 */
export class HealthChecker {
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly check: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly clock: Clock,
    private readonly random: () => number,
  ) {}

  /** Starts the loop; the first check runs after a random part of one interval, to spread pools apart. */
  start(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.schedule(this.random() * this.intervalMs);
  }

  /** Runs one check now (if none is running) and waits for it. */
  runNow(): Promise<void> {
    if (this.running) return this.running;
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    return this.run();
  }

  /** Stops the loop and waits for a running check to end. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, ms);
    if (typeof this.timer === 'object') this.timer.unref?.();
  }

  private run(): Promise<void> {
    this.running = (async () => {
      try {
        await this.check();
      } catch {
        // A check reports its own failures; the loop must survive anything.
      }
      this.running = undefined;
      this.schedule(this.intervalMs * (0.9 + 0.2 * this.random()));
    })();
    return this.running;
  }
}
