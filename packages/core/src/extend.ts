/**
 * @breakwater/core/extend: what a rate-limit store, pool or policy author builds on:
 * the store and pool contracts, the clock, events, option checks and the small parts
 * the built-in pools and stores share.
 * @packageDocumentation
 */

export type { BreakerCoordinator } from './breaker/BreakerCoordinator.js';
export { BreakerRegistry } from './breaker/BreakerRegistry.js';
export { REJECTED } from './breaker/CircuitBreaker.js';
export { outcomeOf, SampleOutcome } from './bulkhead/adaptive/LimitAlgorithm.js';
export type { BulkheadWaiter } from './bulkhead/Bulkhead.js';
export { BulkheadRegistry } from './bulkhead/BulkheadRegistry.js';
export { Chaos } from './chaos/Chaos.js';
export { ChaosControl, type ChaosHost } from './chaos/ChaosControl.js';
export { BREAKER_STATE_VALUE, MetricSet, type MetricsSource } from './metrics/MetricSet.js';
export { LoadMonitor, type LoadMonitorOptions } from './overload/LoadMonitor.js';
export { LoadShedder } from './overload/LoadShedder.js';
export { OverloadControl } from './overload/OverloadControl.js';
export { attachOverloadMetrics, overloadMetricNames } from './overload/OverloadMetrics.js';
export { type OverloadSettings, resolveOverloadOptions } from './overload/options.js';
export { type ProcessSamplerOptions, processSampler } from './overload/sampler.js';
export { PoolLifecycle, type PoolLifecycleHooks, type PoolState } from './pools/PoolLifecycle.js';
export type { PoolEvents, PoolHealthCheckEvent } from './pools/types.js';
export * as rateLimitAlgorithms from './rate-limit/algorithms.js';
export { clientIpKey } from './rate-limit/client-ip.js';
export { formatPolicyHeader, formatRateLimitHeader, retryAfterSeconds } from './rate-limit/headers.js';
export type { RateLimitBlock, RateLimitKeyState, RateLimitWindow } from './rate-limit/types.js';
export {
  CONNECTION_ERROR_CODES,
  DEFAULT_RETRY_STATUSES,
  errorCode,
  IDEMPOTENT_METHODS,
  isConnectionError,
} from './retry/classify.js';
export { parseRetryAfter } from './retry/retryAfter.js';
export { LatencySketch, type LatencySketchSettings } from './timeout/adaptive/LatencySketch.js';
export { DeadlineList, type DeadlineNode } from './timeout/DeadlineList.js';
export { BackgroundCheck, type BackgroundCheckOptions } from './util/BackgroundCheck.js';
export { systemClock } from './util/clock.js';
export { Emitter } from './util/events.js';
export { promiseFor, type Settles } from './util/promiseFor.js';
export { sameOptions } from './util/sameOptions.js';
export { neverAbortedSignal } from './util/signal.js';
/** Option checks that name the option path and the bad value. */
export * as validate from './util/validate.js';
