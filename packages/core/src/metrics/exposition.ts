import type { Registry } from 'prom-client';
import { promClient } from './promClient.js';

/** What a metrics endpoint answers. */
export interface MetricsAnswer {
  contentType: string;
  body: string;
}

const OPENMETRICS = 'application/openmetrics-text';

/**
 * Whether an `Accept` header prefers OpenMetrics over the Prometheus text format (by
 * q-value; on a tie OpenMetrics wins, as Prometheus lists it first when it asks for it).
 */
export function prefersOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined || !accept.includes(OPENMETRICS)) return false;
  let om = -1;
  let text = -1;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.split(';');
    const t = type!.trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=');
      if (k?.trim() === 'q') q = Number(v) || 0;
    }
    if (t === OPENMETRICS) om = Math.max(om, q);
    else if (t === 'text/plain' || t === '*/*') text = Math.max(text, q);
  }
  return om > 0 && om >= text;
}

/**
 * Renders the registry as the scraper asked. prom-client renders one format per registry
 * and, asked for OpenMetrics, renames counters in place; so a text registry is rendered
 * as OpenMetrics through a scratch registry that reads each metric without touching it.
 */
export async function renderMetrics(registry: Registry, accept: string | undefined): Promise<MetricsAnswer> {
  const { Registry } = promClient();
  const wantOpenMetrics = prefersOpenMetrics(accept);
  const native: string = registry.contentType;
  // A registry set to OpenMetrics answers in it whatever was asked: scrapers accept both.
  if (!wantOpenMetrics || native === Registry.OPENMETRICS_CONTENT_TYPE)
    return { contentType: native, body: await registry.metrics() };
  const scratch = new (
    Registry as unknown as new (
      contentType: string,
    ) => Registry & { getMetricsAsString(m: { get(): Promise<unknown> }): Promise<string> }
  )(Registry.OPENMETRICS_CONTENT_TYPE);
  const defaults = (registry as unknown as { _defaultLabels?: Record<string, string> })._defaultLabels;
  if (defaults) scratch.setDefaultLabels(defaults);
  const parts = await Promise.all(
    (registry.getMetricsAsArray() as unknown as Array<{ get(): Promise<unknown> }>).map((metric) =>
      scratch.getMetricsAsString({
        get: async () => {
          const data = (await metric.get()) as { name: string; type: string };
          // OpenMetrics names a counter without `_total` and adds it to the sample.
          return data.type === 'counter' ? { ...data, name: data.name.replace(/_total$/, '') } : data;
        },
      }),
    ),
  );
  return { contentType: Registry.OPENMETRICS_CONTENT_TYPE, body: `${parts.join('\n')}\n# EOF\n` };
}
