import type { Counter, Registry } from 'prom-client';
import { promClient } from '../metrics/promClient.js';
import { sharedMetric } from '../metrics/sharedMetric.js';
import type { Disposable } from '../util/events.js';
import type { ChaosKind } from './Chaos.js';
import type { ChaosControl } from './ChaosControl.js';

// Symbol.for: two copies of Breakwater (an ESM and a CJS import) share one counter.
const kControls = Symbol.for('breakwater.chaosControls.v1');

/** Name of the chaos counter under `prefix`. */
export function chaosMetricNames(p: string): string[] {
  return [`${p}chaos_injected_total`];
}

/**
 * Counts `control`'s injections in `breakwater_chaos_injected_total{route, kind}` (kind:
 * latency, fault). Every route with a chaos policy has both series from the first scrape,
 * at zero, so rates have a series before the first injection.
 */
export function attachChaosMetrics(registry: Registry, prefix: string, control: ChaosControl): Disposable {
  let counter: Counter<'route' | 'kind'> | undefined;
  const controls = sharedMetric<Counter<'route' | 'kind'>, ChaosControl>(
    registry,
    chaosMetricNames(prefix)[0]!,
    kControls,
    (set) =>
      (counter = new (promClient().Counter)({
        name: chaosMetricNames(prefix)[0]!,
        help: 'Latency and faults injected by chaos, by route and kind (latency, fault)',
        labelNames: ['route', 'kind'],
        registers: [registry],
        collect() {
          for (const c of set)
            for (const s of c.list()) {
              this.labels({ route: s.route, kind: 'latency' }).inc(0);
              this.labels({ route: s.route, kind: 'fault' }).inc(0);
            }
        },
      })),
  );
  counter ??= registry.getSingleMetric(chaosMetricNames(prefix)[0]!) as Counter<'route' | 'kind'>;
  controls.add(control);
  const children = new Map<string, { inc(): void }>();
  const c = counter;
  const sub = control.onInjected(({ route, kind }) => {
    const key = `${kind} ${route}`;
    let child = children.get(key);
    if (child === undefined) {
      child = c.labels({ route, kind: kind satisfies ChaosKind });
      children.set(key, child);
    }
    child.inc();
  });
  return {
    dispose() {
      sub.dispose();
      controls.delete(control);
    },
  };
}
