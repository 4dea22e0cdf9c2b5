import type { Gauge, Registry } from 'prom-client';
import { MetricsConflictError } from '../metrics/MetricsConflictError.js';
import { promClient } from '../metrics/promClient.js';
import type { Disposable } from '../util/events.js';
import type { LoadShedder } from './LoadShedder.js';

// Symbol.for: two copies of Breakwater (an ESM and a CJS import) share one set of shedders.
const kShedders = Symbol.for('breakwater.overloadShedders.v1');

type Tagged = Gauge & { [kShedders]?: Set<LoadShedder> };

/** Names of the overload gauges under `prefix`; registered only by instances with `overload` on. */
export function overloadMetricNames(p: string): string[] {
  return [`${p}overload_level`, `${p}event_loop_delay_p99_seconds`, `${p}event_loop_utilization_ratio`];
}

const HELP = [
  'Load-shedding level: 0 nothing shed, 1 sheddable routes shed, 2 sheddable and normal routes shed',
  "Event-loop delay p99 over the load monitor's latest sample window, in seconds",
  "Share of the load monitor's latest sample window the event loop was busy (0 to 1)",
];

/**
 * Registers (once per registry and prefix) the gauges of load shedding and adds
 * `shedder` to what they report at scrape time: the highest level of any attached
 * instance, and the process's latest readings. Registered lazily, so instances without
 * `overload` add no series. The returned Disposable detaches the shedder.
 */
export function attachOverloadMetrics(registry: Registry, prefix: string, shedder: LoadShedder): Disposable {
  const names = overloadMetricNames(prefix);
  const existing = names.map((n) => registry.getSingleMetric(n) as Tagged | undefined);
  let shedders = existing[0]?.[kShedders];
  if (shedders === undefined || existing.some((g) => g?.[kShedders] !== shedders)) {
    for (let i = 0; i < names.length; i++)
      if (existing[i] !== undefined) throw new MetricsConflictError(names[i]!);
    const set = new Set<LoadShedder>();
    shedders = set;
    const read: Array<(s: LoadShedder) => number | undefined> = [
      (s) => s.level,
      (s) => (s.lastSample === undefined ? undefined : s.lastSample.eventLoopDelayMs / 1000),
      (s) => s.lastSample?.eventLoopUtilization,
    ];
    names.forEach((name, i) => {
      const g = new (promClient().Gauge)({
        name,
        help: HELP[i]!,
        registers: [registry],
        collect() {
          let v: number | undefined;
          for (const s of set) {
            const x = read[i]!(s);
            if (x !== undefined && (v === undefined || x > v)) v = x;
          }
          this.set(v ?? 0);
        },
      }) as Tagged;
      Object.defineProperty(g, kShedders, { value: set, enumerable: false });
    });
  }
  const set = shedders;
  set.add(shedder);
  return { dispose: () => set.delete(shedder) };
}
