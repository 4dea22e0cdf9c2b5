/** Thresholds an {@link OriginHealth} applies. */
export interface HealthThresholds {
  /** Failed probes in a row that mark the origin down (active checks). */
  unhealthyThreshold: number;
  /** Passed probes in a row that mark it up again. */
  healthyThreshold: number;
  /** Failed requests in a row that mark it down (passive); 0 disables passive health. */
  passiveFailures: number;
  /** Without active checks: how long a passive ejection lasts. */
  cooldownMs: number;
  /** Whether active checks run (then only they bring an origin back). */
  active: boolean;
}

/**
 * The health of one origin, from active probes and passive observation of traffic. Starts
 * healthy. Active probes move it with their thresholds; passive failures can only take it
 * out. Without active checks a passive ejection ends after `cooldownMs`.
 */
export class OriginHealth {
  private up = true;
  private probeFails = 0;
  private probeOks = 0;
  private trafficFails = 0;
  private ejectedUntil = 0;
  /** Why the origin is down (last failure), for health output. */
  lastError: string | undefined;
  /** Latency of the last probe, in milliseconds. */
  lastProbeMs: number | undefined;

  constructor(
    private readonly t: HealthThresholds,
    private readonly onChange: (healthy: boolean) => void,
  ) {}

  /** Whether the origin is in rotation at `now`. */
  healthy(now: number): boolean {
    if (!this.up && !this.t.active && now >= this.ejectedUntil) {
      this.trafficFails = 0;
      this.set(true);
    }
    return this.up;
  }

  /** Records an active probe's result. */
  probe(ok: boolean, latencyMs: number, error?: string): void {
    this.lastProbeMs = latencyMs;
    if (ok) {
      this.probeFails = 0;
      this.probeOks++;
      if (!this.up && this.probeOks >= this.t.healthyThreshold) {
        this.trafficFails = 0;
        this.set(true);
      }
    } else {
      this.probeOks = 0;
      this.probeFails++;
      this.lastError = error;
      if (this.up && this.probeFails >= this.t.unhealthyThreshold) this.set(false);
    }
  }

  /** Records a request's result: `ok` false for a connection error or a status >= 500. */
  traffic(ok: boolean, now: number, error?: string): void {
    if (this.t.passiveFailures === 0) return;
    if (ok) {
      this.trafficFails = 0;
      return;
    }
    this.trafficFails++;
    if (this.up && this.trafficFails >= this.t.passiveFailures) {
      this.lastError = error;
      this.ejectedUntil = now + this.t.cooldownMs;
      // Active checks must now see healthyThreshold passes in a row to bring it back.
      this.probeOks = 0;
      this.set(false);
    }
  }

  private set(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    if (up) this.lastError = undefined;
    this.onChange(up);
  }
}
