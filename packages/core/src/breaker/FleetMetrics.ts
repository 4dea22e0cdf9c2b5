import type { Counter, Registry } from 'prom-client';
import { promClient } from '../metrics/promClient.js';
import { sharedMetric } from '../metrics/sharedMetric.js';
import type { Disposable } from '../util/events.js';
import type { BreakerRegistry } from './BreakerRegistry.js';
import type { Fleet } from './Fleet.js';

// Symbol.for: two copies of Breakwater (an ESM and a CJS import) share the counters.
const kOpens = Symbol.for('breakwater.fleetOpens.v1');
const kErrors = Symbol.for('breakwater.fleetErrors.v1');

/** Names of the fleet counters under `prefix`. */
export function fleetMetricNames(p: string): string[] {
  return [`${p}circuit_breaker_fleet_opens_total`, `${p}circuit_breaker_fleet_errors_total`];
}

/** The counter of `name`, registered once per registry and shared by every instance on it. */
function counter<L extends string>(
  registry: Registry,
  name: string,
  tag: symbol,
  help: string,
  labelNames: L[],
): Counter<L> {
  let c: Counter<L> | undefined;
  sharedMetric<Counter<L>, never>(
    registry,
    name,
    tag,
    () => (c = new (promClient().Counter)({ name, help, labelNames, registers: [registry] })),
  );
  return c ?? (registry.getSingleMetric(name) as Counter<L>);
}

/**
 * Counts, for the breakers of `breakers` that belong to a fleet, the opens the
 * fleet decided (`breakwater_circuit_breaker_fleet_opens_total{breaker}`: a quorum of other
 * instances saw the dependency fail) and the failed exchanges with the coordinator
 * (`breakwater_circuit_breaker_fleet_errors_total`: the fleet ran on local state meanwhile).
 * A fleet shared by several breakers is listened to once.
 */
export function attachFleetMetrics(
  registry: Registry,
  prefix: string,
  breakers: BreakerRegistry,
): Disposable {
  const [opensName, errorsName] = fleetMetricNames(prefix) as [string, string];
  let opens: Counter<'breaker'> | undefined;
  let errors: Counter<never> | undefined;
  const subs: Disposable[] = [];
  const fleets = new Set<Fleet>();
  const watch = (fleet: Fleet | undefined): void => {
    if (fleet === undefined || fleets.has(fleet)) return;
    fleets.add(fleet);
    // Registered on first use: an instance without fleets adds no series.
    opens ??= counter(
      registry,
      opensName,
      kOpens,
      'Breakers opened by their fleet (a quorum of instances reported the dependency failing)',
      ['breaker'],
    );
    errors ??= counter(
      registry,
      errorsName,
      kErrors,
      'Failed exchanges with the breaker fleet coordinator (the breakers ran on local state)',
      [],
    );
    const o = opens;
    const e = errors;
    subs.push(
      // The fleet may serve other instances' breakers too: count this instance's own.
      fleet.onOpen((ev) => {
        if (breakers.get(ev.breaker)?.options.fleet === fleet) o.inc({ breaker: ev.breaker });
      }),
      fleet.onError(() => e.inc()),
    );
  };
  for (const b of breakers) watch(b.options.fleet);
  subs.push(breakers.onAdd((b) => watch(b.options.fleet)));
  return {
    dispose() {
      for (const s of subs) s.dispose();
    },
  };
}
