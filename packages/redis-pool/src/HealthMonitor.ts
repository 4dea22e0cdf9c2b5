import type { PoolHealth } from '@breakwater/core';
import type { PoolHealthCheckEvent } from '@breakwater/core/extend';
import { BackgroundCheck } from '@breakwater/core/extend';
import type { ResolvedHealthCheck } from './options.js';

/** One probe: did every PING answer in time, and how long the slowest took. */
export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
  /** A failure that marks the pool unhealthy at once, thresholds aside (a Cluster that cannot serve every slot). */
  decisive?: boolean;
}

/**
 * Runs a probe in the background (core's {@link BackgroundCheck}) and turns results
 * into healthy/unhealthy with thresholds. The next check is timed from the end of the
 * previous one (the timer is refreshed only after the awaited probe), so checks never
 * overlap however slow Redis is; a live `check()` while one runs shares it. The period
 * is jittered once per monitor, so many instances started together drift apart. The
 * timer is unref'd.
 */
export class HealthMonitor {
  private healthy = true;
  private failures = 0;
  private successes = 0;
  private last: (ProbeResult & { time: string }) | undefined;
  private readonly loop: BackgroundCheck;

  constructor(
    private readonly probe: () => Promise<ProbeResult>,
    private readonly options: ResolvedHealthCheck,
    private readonly onResult: (e: PoolHealthCheckEvent, healthyNow: boolean, changed: boolean) => void,
  ) {
    const j = options.jitter;
    // Jittered once, not per round: a fixed period lets the loop refresh one timer in place.
    const periodMs = Math.max(1, Math.round(options.intervalMs * (1 + j * (2 * Math.random() - 1))));
    this.loop = new BackgroundCheck(() => this.runProbe(), { intervalMs: periodMs });
  }

  /** Healthy by the thresholds (true until `unhealthyThreshold` checks in a row fail). */
  get isHealthy(): boolean {
    return this.healthy;
  }

  /** True once a check has completed. */
  get hasResult(): boolean {
    return this.last !== undefined;
  }

  /** Runs the first check now; later ones follow every period after the previous ends. */
  start(): void {
    this.loop.start();
    void this.loop.runNow();
  }

  /** Stops the checks: none starts after this. */
  stop(): void {
    void this.loop.stop();
  }

  /** Runs a check now, or joins the one in flight. Never rejects. */
  check(): Promise<void> {
    return this.loop.runNow();
  }

  /** The latest observation in health+json terms: pass, warn (failing below the threshold) or fail. */
  report(): PoolHealth {
    const l = this.last;
    const time = l?.time ?? new Date().toISOString();
    const status = !this.healthy ? 'fail' : l !== undefined && !l.ok ? 'warn' : 'pass';
    const out: PoolHealth = { status, time };
    if (l !== undefined) out.latencyMs = l.latencyMs;
    if (l?.error !== undefined) out.output = l.error;
    return out;
  }

  private async runProbe(): Promise<void> {
    let r: ProbeResult;
    try {
      r = await this.probe();
    } catch (e) {
      r = { ok: false, latencyMs: 0, error: e instanceof Error ? e.message : String(e) };
    }
    this.last = { ...r, time: new Date().toISOString() };
    const was = this.healthy;
    if (r.ok) {
      this.failures = 0;
      this.successes++;
      if (!this.healthy && this.successes >= this.options.healthyThreshold) this.healthy = true;
    } else {
      this.successes = 0;
      this.failures++;
      if (this.healthy && (r.decisive === true || this.failures >= this.options.unhealthyThreshold))
        this.healthy = false;
    }
    this.onResult({ ok: r.ok, durationMs: r.latencyMs }, this.healthy, was !== this.healthy);
  }
}
