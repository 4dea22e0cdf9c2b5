import type { Gauge, Registry } from 'prom-client';
import type { RouteGuard } from '../../guard/RouteGuard.js';
import { promClient } from '../../metrics/promClient.js';
import { sharedMetric } from '../../metrics/sharedMetric.js';
import type { Disposable } from '../../util/events.js';

// Symbol.for: two copies of Breakwater (an ESM and a CJS import) share one gauge.
const kSources = Symbol.for('breakwater.timeoutSources.v1');

/** Where the gauge finds guards: a Breakwater instance. */
export interface TimeoutSource {
  readonly guards: readonly RouteGuard[];
}

/** Name of the timeout gauge under `prefix`. */
export function timeoutMetricNames(p: string): string[] {
  return [`${p}timeout_seconds`];
}

/**
 * `breakwater_timeout_seconds{route}`: each route's deadline now, read at scrape time:
 * an adaptive timeout's current value, a fixed timeout's constant.
 */
export function attachTimeoutMetrics(registry: Registry, prefix: string, source: TimeoutSource): Disposable {
  const name = timeoutMetricNames(prefix)[0]!;
  const sources = sharedMetric<Gauge<'route'>, TimeoutSource>(
    registry,
    name,
    kSources,
    (set) =>
      new (promClient().Gauge)({
        name,
        help: "The route's timeout now, in seconds (an adaptive timeout's current deadline)",
        labelNames: ['route'],
        registers: [registry],
        collect() {
          this.reset();
          for (const s of set)
            for (const g of s.guards) {
              const ms = g.currentTimeoutMs();
              if (ms !== undefined) this.set({ route: g.name }, ms / 1000);
            }
        },
      }),
  );
  sources.add(source);
  return { dispose: () => sources.delete(source) };
}
