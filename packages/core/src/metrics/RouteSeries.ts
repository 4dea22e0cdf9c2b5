import type { HistogramChild, RequestHistogram } from './RequestHistogram.js';

/** Label value of `route` for requests no route matched: they all share it. */
export const UNMATCHED_ROUTE = '<unmatched>';

/**
 * The request-duration series of one route: histogram children cached by method and
 * status code, so recording a request builds no label object and no string.
 */
export class RouteSeries {
  private readonly byMethod = new Map<string, Map<number, HistogramChild>>();

  constructor(
    private readonly histogram: RequestHistogram,
    /** The `route` label value. */
    readonly route: string,
  ) {}

  /** Records one request that took `ms` milliseconds. */
  observe(method: string, status: number, ms: number): void {
    let byStatus = this.byMethod.get(method);
    if (byStatus === undefined) this.byMethod.set(method, (byStatus = new Map()));
    let child = byStatus.get(status);
    if (child === undefined) {
      child = this.histogram.child(method, this.route, String(status));
      byStatus.set(status, child);
    }
    child.observe(ms / 1000);
  }
}
