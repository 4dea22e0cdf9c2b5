import type { Clock } from '@breakwater/core';
import { errorCode } from '@breakwater/core/extend';
import { Client, type Dispatcher, Pool } from 'undici';
import { OriginHealth } from './OriginHealth.js';
import type { ResolvedHealthCheck, ResolvedHttpPoolOptions } from './options.js';

/** undici's pool numbers, zero for a dispatcher that has none. */
export interface DispatcherStats {
  connected: number;
  free: number;
  queued: number;
  running: number;
}

/**
 * One upstream origin: an undici `Pool` for traffic, a `Client` of its own for health
 * probes (so probes never queue behind traffic), its health and its in-flight count.
 */
export class Origin {
  readonly dispatcher: Dispatcher;
  readonly health: OriginHealth;
  /** Attempts dispatched here and not yet finished. The pool keeps it <= `connections`. */
  inFlight = 0;
  private probeClient: Client | undefined;

  constructor(
    readonly url: string,
    private readonly o: ResolvedHttpPoolOptions,
    onHealthChange: (origin: Origin, healthy: boolean) => void,
  ) {
    const options: Pool.Options = {
      connections: o.connections,
      pipelining: 1,
      connectTimeout: o.connectTimeoutMs,
      headersTimeout: o.headersTimeoutMs,
      bodyTimeout: o.bodyTimeoutMs,
      keepAliveTimeout: o.keepAliveTimeoutMs,
      keepAliveMaxTimeout: o.keepAliveMaxTimeoutMs,
      // The pool enforces the limit itself, per request (typed error, none for streams).
      maxResponseSize: -1,
    };
    this.dispatcher = o.factory ? o.factory(url, options) : new Pool(url, options);
    const hc = o.healthCheck;
    this.health = new OriginHealth(
      {
        unhealthyThreshold: hc?.unhealthyThreshold ?? 1,
        healthyThreshold: hc?.healthyThreshold ?? 1,
        passiveFailures: o.passive?.consecutiveFailures ?? 0,
        cooldownMs: o.passive?.cooldownMs ?? 0,
        active: hc !== undefined,
      },
      (healthy) => onHealthChange(this, healthy),
    );
  }

  /** undici's live numbers for this origin's pool. */
  stats(): DispatcherStats {
    const s = (this.dispatcher as Partial<Pool>).stats;
    return s
      ? { connected: s.connected, free: s.free, queued: s.queued, running: s.running }
      : { connected: 0, free: 0, queued: 0, running: 0 };
  }

  /** Sends one probe and records it. Resolves with its result; never rejects. */
  async probe(hc: ResolvedHealthCheck, clock: Clock): Promise<{ ok: boolean; durationMs: number }> {
    this.probeClient ??= new Client(this.url, {
      pipelining: 1,
      connectTimeout: hc.timeoutMs,
      headersTimeout: hc.timeoutMs,
      bodyTimeout: hc.timeoutMs,
      keepAliveTimeout: this.o.keepAliveTimeoutMs,
    });
    const start = clock.now();
    const ac = new AbortController();
    const timer = clock.setTimeout(
      () => ac.abort(new Error(`probe timed out after ${hc.timeoutMs}ms`)),
      hc.timeoutMs,
    );
    let ok = false;
    let error: string | undefined;
    try {
      const res = await this.probeClient.request({ method: hc.method, path: hc.path, signal: ac.signal });
      await res.body.dump();
      ok = hc.isHealthy(res.statusCode);
      if (!ok) error = `probe answered ${res.statusCode}`;
    } catch (e) {
      error = errorCode(e) ?? (e instanceof Error ? e.message : String(e));
    } finally {
      clock.clearTimeout(timer);
    }
    const durationMs = clock.now() - start;
    this.health.probe(ok, durationMs, error);
    return { ok, durationMs };
  }

  /** Closes gracefully: undici lets running requests finish. */
  async close(): Promise<void> {
    await Promise.all([this.dispatcher.close(), this.probeClient?.close()]);
  }

  /** Closes now, failing whatever is running. */
  async destroy(): Promise<void> {
    await Promise.all([this.dispatcher.destroy(), this.probeClient?.destroy()]);
  }
}
