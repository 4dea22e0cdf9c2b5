import { AdminApi } from '../admin/AdminApi.js';
import { BreakwaterCore, type BreakwaterOptions } from '../Breakwater.js';
import { ConfigError } from '../errors.js';
import type { RoutePolicy } from '../guard/policy.js';
import { PROBLEM_CONTENT_TYPE } from '../guard/problem.js';
import { RouteLimits } from '../guard/RouteLimits.js';
import type { ReconfigureOptions } from '../guard/reload.js';
import { HealthRegistry } from '../health/HealthRegistry.js';
import type { HealthCheck, HealthCheckOptions, HealthKind } from '../health/types.js';
import type { AdapterIO, Endpoint } from './AdapterIO.js';
import type { BreakwaterAdapter, HealthEndpoints } from './BreakwaterAdapter.js';

/**
 * Assembles the `breakwater()` object every adapter returns from the adapter's
 * {@link AdapterIO}: the same options, validation, endpoints and lifecycle in every
 * framework, so an adapter holds only its framework's I/O.
 *
 * ```ts
 * export function breakwater(options = {}) {
 *   return createBreakwater(options, { middleware, route, endpoint });
 * }
 * ```
 */
export function createBreakwater<Handler, Policy extends RoutePolicy<any, any>>(
  options: BreakwaterOptions<Policy>,
  io: AdapterIO<Handler>,
): BreakwaterAdapter<Handler, Policy> {
  const core = new BreakwaterCore(options as BreakwaterOptions);

  const metricsEndpoint: Endpoint = async (req) => {
    const a = await core.metrics!.render(req.accept);
    return { status: 200, headers: [['Content-Type', a.contentType]], body: a.body };
  };

  const health = Object.assign(
    function health(kind?: HealthKind): Handler {
      const k = HealthRegistry.checkKind(kind);
      return io.endpoint(() => core.health.answer(k));
    },
    {
      register: (name: string, check: HealthCheck, opts?: HealthCheckOptions) =>
        core.health.register(name, check, opts),
    },
  ) as HealthEndpoints<Handler>;

  let adminApi: AdminApi | undefined;

  // Metrics off for want of prom-client, not by `metrics: false`: the endpoint says why.
  const noPromClient = core.metrics === undefined && options.metrics !== false;

  return {
    core,
    pools: core.pools,
    breakers: core.breakers,
    chaos: core.chaos,
    limits: new RouteLimits(core),
    middleware: () => io.middleware(core),
    route: (policy?: Policy) => io.route(core.routeGuards((policy ?? {}) as RoutePolicy)),
    metrics() {
      if (noPromClient) return io.endpoint(noMetricsEndpoint);
      if (core.metrics === undefined)
        throw new ConfigError('breakwater.metrics', false, 'metrics on to mount metrics()');
      return io.endpoint(metricsEndpoint);
    },
    health,
    admin() {
      const api = (adminApi ??= new AdminApi(core));
      return io.endpoint((req) => api.handle(req));
    },
    reconfigure: (o) => core.reconfigure(o as ReconfigureOptions),
    close: () => core.close(),
  };
}

/**
 * The metrics endpoint of an instance without prom-client. 501 rather than a mount-time
 * error: an app that mounts `metrics()` runs (and serves everything else) without the
 * optional peer, and a scraper sees a lasting "not implemented", not an outage to retry.
 */
const NO_METRICS_ANSWER = {
  status: 501,
  headers: [['Content-Type', PROBLEM_CONTENT_TYPE]] as const,
  body: JSON.stringify({
    type: 'about:blank',
    title: 'Not Implemented',
    status: 501,
    detail: 'Metrics are off: prom-client is not installed (npm install prom-client turns them on).',
    code: 'METRICS_UNAVAILABLE',
  }),
};

const noMetricsEndpoint: Endpoint = async () => NO_METRICS_ANSWER;
