import type { Registry } from 'prom-client';

/** One label set of a {@link RequestHistogram}: plain counts, bumped without a lookup. */
export class HistogramChild {
  /** Per-bucket counts (not cumulative); the last slot is `+Inf`. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    /** `method`, `route`, `status_code`: the label set, as exposed. */
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one value, in seconds. */
  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

interface ExposedValue {
  labels: Record<string, string | number>;
  sharedLabels?: Readonly<Record<string, string>>;
  value: number;
  metricName: string;
  /** Always null on buckets (no exemplars), as prom-client reports it. */
  exemplar?: null;
}

/**
 * The request-duration histogram, exposed through a prom-client `Registry` like any
 * prom-client Histogram (same text, OpenMetrics and JSON output), but recorded in plain
 * counters per label set. prom-client's `child.observe()` hashes the label set on every
 * call (about half a microsecond); this histogram runs on every request, so its children
 * are resolved once and cached by the route series, and recording is a bucket scan and
 * three additions.
 */
export class RequestHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly children = new Map<string, HistogramChild>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    // prom-client registers any object with this shape (its Registry only calls get()).
    registry.registerMetric(this as never);
  }

  /** The child of one label set, created on first use (callers cache it). */
  child(method: string, route: string, status: string): HistogramChild {
    const key = `${method}\u0000${route}\u0000${status}`;
    let c = this.children.get(key);
    if (c === undefined) {
      c = new HistogramChild(this.bounds, { method, route, status_code: status });
      this.children.set(key, c);
    }
    return c;
  }

  /** prom-client's metric shape, label sets as `sharedLabels` (what `Registry.metrics()` reads). */
  getForPromString(): {
    name: string;
    help: string;
    type: string;
    values: ExposedValue[];
    aggregator: string;
  } {
    const values: ExposedValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const c of this.children.values()) {
      if (c.count === 0) continue;
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += c.counts[i]!;
        values.push({
          labels: { le: this.bounds[i]! },
          sharedLabels: c.labels,
          value: acc,
          metricName: bucketName,
          exemplar: null,
        });
      }
      values.push({
        labels: { le: '+Inf' },
        sharedLabels: c.labels,
        value: c.count,
        metricName: bucketName,
        exemplar: null,
      });
      values.push({ labels: {}, sharedLabels: c.labels, value: c.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: c.labels, value: c.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** As prom-client's `Histogram.get()`: label sets merged into each value's labels. */
  async get(): Promise<ReturnType<RequestHistogram['getForPromString']>> {
    const data = this.getForPromString();
    for (const v of data.values) {
      v.labels = { ...v.labels, ...v.sharedLabels };
      delete v.sharedLabels;
    }
    return data;
  }

  /** Zeroes every series (`registry.resetMetrics()`); cached children stay valid. */
  reset(): void {
    for (const c of this.children.values()) {
      c.counts.fill(0);
      c.sum = 0;
      c.count = 0;
    }
  }
}
