import { AdminApi } from '../admin/AdminApi.js';
import { BreakwaterCore, type BreakwaterOptions } from '../Breakwater.js';
import { ConfigError } from '../errors.js';
import type { RoutePolicy } from '../guard/policy.js';
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

  return {
    core,
    pools: core.pools,
    breakers: core.breakers,
    chaos: core.chaos,
    middleware: () => io.middleware(core),
    route: (policy?: Policy) => io.route(core.routeGuards((policy ?? {}) as RoutePolicy)),
    metrics() {
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
