import type { Gauge, Registry } from 'prom-client';
import { promClient } from '../metrics/promClient.js';
import { sharedMetric } from '../metrics/sharedMetric.js';
import type { Disposable } from '../util/events.js';
import type { RateLimiter } from './RateLimiter.js';

// Symbol.for: two copies of Breakwater (an ESM and a CJS import) share one gauge.
const kSources = Symbol.for('breakwater.storeFallback.v1');

/** Name of the store-fallback gauge under `prefix`. */
export function storeFallbackMetricNames(p: string): string[] {
  return [`${p}rate_limit_store_fallback`];
}

/** What the gauge reads of one instance at scrape time: its routes' guards. */
export interface StoreFallbackSource {
  readonly guards: Iterable<{ readonly limiter?: RateLimiter<any> | undefined }>;
}

/**
 * `breakwater_rate_limit_store_fallback{limiter}`: 1 while a limiter's decisions come from
 * its `onStoreError` fallback because its store is failing, 0 while the store decides.
 * Only limiters with a store given in the options (shared, possibly remote) have a series;
 * one on its own memory store has no fallback to report. Read at scrape time.
 */
export function attachStoreFallbackMetrics(
  registry: Registry,
  prefix: string,
  source: StoreFallbackSource,
): Disposable {
  const name = storeFallbackMetricNames(prefix)[0]!;
  const sources = sharedMetric<Gauge<'limiter'>, StoreFallbackSource>(
    registry,
    name,
    kSources,
    (set) =>
      new (promClient().Gauge)({
        name,
        help: "Whether a rate limiter's decisions come from its onStoreError fallback (1) or its store (0)",
        labelNames: ['limiter'],
        registers: [registry],
        collect() {
          this.reset();
          for (const s of set)
            for (const g of s.guards) {
              const l = g.limiter;
              if (l?.sharedStore) this.set({ limiter: l.name }, l.usingFallback ? 1 : 0);
            }
        },
      }),
  );
  sources.add(source);
  return {
    dispose() {
      sources.delete(source);
    },
  };
}
