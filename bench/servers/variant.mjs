/**
 * What the `breakwater` variant of both bench servers turns on, framework-neutral:
 * `breakwater` is every policy; `breakwater:metrics,limit,breaker,bulkhead,timeout`
 * a subset (for profiling). Every policy on refuses nothing: limits far above what a
 * benchmark can reach.
 */
import { Registry } from 'prom-client';

export const LIMIT = 1_000_000_000;

/** `{ options, route }`: for `breakwater(options)` and `bw.route(route)`. */
export function breakwaterVariant(variant) {
  const on = new Set(
    variant === 'breakwater'
      ? ['metrics', 'limit', 'breaker', 'bulkhead', 'timeout']
      : variant.slice('breakwater:'.length).split(','),
  );
  return {
    options: { registry: new Registry(), metrics: on.has('metrics') },
    route: {
      timeout: on.has('timeout') ? '10s' : false,
      rateLimit: on.has('limit')
        ? { limit: LIMIT, window: '1s' }
        : on.has('limit-no-headers')
          ? { limit: LIMIT, window: '1s', headers: false }
          : false,
      circuitBreaker: on.has('breaker') ? { failureRateThreshold: 0.5 } : false,
      bulkhead: on.has('bulkhead') ? { maxConcurrent: 1000 } : false,
    },
  };
}
