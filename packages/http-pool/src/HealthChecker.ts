import type { Clock } from '@breakwater/core';
import { BackgroundCheck } from '@breakwater/core/extend';

/**
 * The pool's health-check schedule on core's {@link BackgroundCheck}: one round at a
 * time, the next `interval` (±10% jitter, drawn each round) after the previous one
 * ended, so a slow check never overlaps itself; the first round comes after a random
 * part of one interval, so pools started together spread apart. Timers are unref'd and
 * cleared on stop.
 */
export class HealthChecker {
  private readonly loop: BackgroundCheck;

  constructor(
    check: () => Promise<void>,
    private readonly intervalMs: number,
    clock: Clock,
    private readonly random: () => number,
  ) {
    this.loop = new BackgroundCheck(check, { intervalMs, jitter: 0.1, clock, random });
  }

  /** Starts the loop; the first check runs after a random part of one interval. */
  start(): void {
    if (!this.loop.isStarted) this.loop.start(this.random() * this.intervalMs);
  }

  /** Runs one check now (or joins the running one) and waits for it. */
  runNow(): Promise<void> {
    return this.loop.runNow();
  }

  /** Stops the loop and waits for a running check to end. Safe to call twice. */
  stop(): Promise<void> {
    return this.loop.stop();
  }
}
