import type { AdminRequest } from '../admin/AdminApi.js';
import type { EndpointAnswer } from '../admin/answer.js';
import type { RouteGuard } from '../guard/RouteGuard.js';
import type { RouteGuardCache } from '../guard/RouteGuardCache.js';
import type { BreakwaterMetrics } from '../metrics/BreakwaterMetrics.js';

/** What an endpoint (metrics, health, admin) reads of a request. */
export interface EndpointRequest extends AdminRequest {
  /** The `Accept` header, for content negotiation (the metrics exposition format). */
  accept?: string | undefined;
}

/** A framework-neutral endpoint: an adapter serves it and copies the answer onto its response. */
export type Endpoint = (req: EndpointRequest) => Promise<EndpointAnswer>;

/** What the app-level middleware needs of the instance. */
export interface MiddlewareHost {
  /** Request metrics; undefined with `metrics: false` or without prom-client. */
  readonly metrics: BreakwaterMetrics | undefined;
  /** Read per request: `reconfigure()` may add or drop the `routes` table. */
  readonly hasRouteTable: boolean;
  /** The guard of the `routes` entry matching the request, unless a `route()` took it over. */
  entryGuard(method: string, path: string): RouteGuard | undefined;
}

/**
 * The framework half of an adapter: how its handlers look. Core assembles the whole
 * `breakwater()` object (see `createBreakwater`) from these three; the request's own I/O
 * (client address, headers, answering, the handler's end) is the adapter's `GuardCall`
 * subclass.
 */
export interface AdapterIO<Handler> {
  /** The app-level middleware: request metrics for every request, and `routes` entries. */
  middleware(host: MiddlewareHost): Handler;
  /**
   * A route-level middleware: resolves the matched route's guard from `guards` (by the
   * framework's route and method, asking for the pattern on a route's first request) and
   * guards the request, unless the app middleware already has.
   */
  route(guards: RouteGuardCache): Handler;
  /** A handler serving a core endpoint; its failures go to the framework's error path. */
  endpoint(serve: Endpoint): Handler;
}
