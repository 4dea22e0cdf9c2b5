import type { Registry } from 'prom-client';
import { MetricsConflictError } from './MetricsConflictError.js';

/**
 * A metric registered once per registry (and name) and shared by every Breakwater
 * instance attached to it, each adding itself to the metric's set of sources: the way
 * features outside {@link MetricSet} add metrics without crashing on "already registered".
 * A metric of that name that is not one of ours is a {@link MetricsConflictError}.
 */
export function sharedMetric<M extends object, S>(
  registry: Registry,
  name: string,
  tag: symbol,
  create: (sources: Set<S>) => M,
): Set<S> {
  const existing = registry.getSingleMetric(name) as (M & Record<symbol, Set<S> | undefined>) | undefined;
  if (existing !== undefined) {
    const sources = existing[tag];
    if (sources === undefined) throw new MetricsConflictError(name);
    return sources;
  }
  const sources = new Set<S>();
  const m = create(sources);
  Object.defineProperty(m, tag, { value: sources, enumerable: false });
  return sources;
}
