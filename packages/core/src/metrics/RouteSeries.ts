import type { Histogram } from 'prom-client';

/** Label value of `route` for requests no route matched: they all share it. */
export const UNMATCHED_ROUTE = '<unmatched>';

type Child = ReturnType<Histogram<'method' | 'route' | 'status_code'>['labels']>;

/**
 * The request-duration series of one route: prom-client children cached by method and
 * status code, so recording a request builds no label object and no string.
 */
export class RouteSeries {
  private readonly byMethod = new Map<string, Map<number, Child>>();

  constructor(
    private readonly histogram: Histogram<'method' | 'route' | 'status_code'>,
    /** The `route` label value. */
    readonly route: string,
  ) {}

  /** Records one request that took `ms` milliseconds. */
  observe(method: string, status: number, ms: number): void {
    let byStatus = this.byMethod.get(method);
    if (byStatus === undefined) this.byMethod.set(method, (byStatus = new Map()));
    let child = byStatus.get(status);
    if (child === undefined) {
      child = this.histogram.labels({ method, route: this.route, status_code: String(status) });
      byStatus.set(status, child);
    }
    child.observe(ms / 1000);
  }
}
