import { ConfigError } from '../errors.js';
import { type Clock, systemClock, type TimerHandle } from './clock.js';

/** Options of a {@link BackgroundCheck}. */
export interface BackgroundCheckOptions {
  /** Milliseconds from the end of one run to the start of the next. */
  intervalMs: number;
  /**
   * Spread of each wait as a fraction of `intervalMs`: a wait is drawn from
   * `intervalMs × [1 − jitter, 1 + jitter]`, so instances started together drift apart.
   * Default 0 (every wait is `intervalMs`, and the timer is refreshed in place).
   */
  jitter?: number;
  /** Where timers are set. Default: the system clock (timers unref'd). */
  clock?: Clock;
  /** Source of the jitter, in [0, 1). Default `Math.random`. */
  random?: () => number;
}

const done: Promise<void> = Promise.resolve();

/**
 * Runs a check in the background until `stop()`: one timer, armed again only once the
 * check has ended (a returned promise is awaited), so a slow check never overlaps
 * itself and the gap between runs is at least the interval. The timer is unref'd, so a
 * check never keeps the process alive, and it is refreshed in place when the wait does
 * not change (fastify/under-pressure's way); a jittered wait needs a new timer each
 * round, since a refresh keeps the old delay.
 *
 * A check that throws or rejects does not stop the loop: a check reports its own
 * failures. A synchronous check re-arms synchronously, so step-by-step fake clocks see
 * every run. `start()` after `stop()` starts again.
 *
 * ```ts
 * const loop = new BackgroundCheck(() => this.probe(), { intervalMs: 10_000, jitter: 0.1 });
 * loop.start();
 * await loop.stop(); // on close: no new run, and the running one has ended
 * ```
 */
export class BackgroundCheck {
  readonly intervalMs: number;
  readonly jitter: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  /** The last timer set; kept after it fired so that it can be refreshed in place. */
  private timer: TimerHandle | undefined;
  private timerMs = 0;
  private armed = false;
  private started = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly check: () => unknown,
    options: BackgroundCheckOptions,
    path = 'backgroundCheck',
  ) {
    const { intervalMs, jitter = 0, clock = systemClock, random = Math.random } = options;
    if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs <= 0)
      throw new ConfigError(`${path}.intervalMs`, intervalMs, 'a positive number of milliseconds');
    if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1))
      throw new ConfigError(`${path}.jitter`, jitter, 'a fraction between 0 and 1');
    this.intervalMs = intervalMs;
    this.jitter = jitter;
    this.clock = clock;
    this.random = random;
  }

  /** Whether the loop is started (a run is due or under way). */
  get isStarted(): boolean {
    return this.started;
  }

  /** Whether a run is under way. */
  get isRunning(): boolean {
    return this.running !== undefined;
  }

  /**
   * Starts the loop: the first run after `firstDelayMs` (default: one interval), or, if
   * a run is under way, one interval after it ends. No-op while started.
   */
  start(firstDelayMs: number = this.intervalMs): void {
    if (this.started) return;
    this.started = true;
    if (this.running === undefined) this.arm(Math.max(0, firstDelayMs));
  }

  /**
   * Runs the check now, or joins the run under way; resolves when it ends (never
   * rejects). While started, the next run is timed from the end of this one.
   */
  runNow(): Promise<void> {
    if (this.running !== undefined) return this.running;
    this.disarm();
    return this.run();
  }

  /**
   * Clears the timer: no run starts after this, not even once a run under way ends.
   * Resolves when that run has ended. Safe to call twice.
   */
  stop(): Promise<void> {
    this.started = false;
    this.disarm();
    return this.running ?? done;
  }

  private run(): Promise<void> {
    let settle!: () => void;
    const running = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.running = running;
    const end = (): void => {
      this.running = undefined;
      settle();
      if (this.started) this.arm(this.nextDelay());
    };
    let r: unknown;
    try {
      r = this.check();
    } catch {
      end();
      return running;
    }
    if (typeof (r as PromiseLike<unknown> | undefined)?.then === 'function')
      (r as PromiseLike<unknown>).then(end, end);
    else end();
    return running;
  }

  private readonly fire = (): void => {
    this.armed = false;
    if (this.started && this.running === undefined) void this.run();
  };

  private nextDelay(): number {
    const j = this.jitter;
    return j === 0 ? this.intervalMs : this.intervalMs * (1 - j + 2 * j * this.random());
  }

  private arm(ms: number): void {
    const t = this.timer;
    if (!this.armed && ms === this.timerMs && typeof t === 'object' && typeof t.refresh === 'function') {
      // Node re-arms a fired timer in place, with the delay it was set with.
      t.refresh();
    } else {
      this.disarm();
      const h = this.clock.setTimeout(this.fire, ms);
      if (typeof h === 'object') h.unref?.();
      this.timer = h;
      this.timerMs = ms;
    }
    this.armed = true;
  }

  private disarm(): void {
    if (this.timer === undefined) return;
    if (this.armed) this.clock.clearTimeout(this.timer);
    // A cleared timer cannot be refreshed back to life: the next arm sets a new one.
    this.timer = undefined;
    this.armed = false;
  }
}
