/**
 * @breakwater/core: framework-neutral resilience policies (timeout, rate limit, circuit
 * breaker, bulkhead), the request guard the adapters share, and the pool manager.
 * @packageDocumentation
 */

export type { BreakwaterAdapter, HealthEndpoints } from './adapter.js';
export { type AdminAction, AdminApi, type AdminRequest, type AdminSnapshot } from './admin/AdminApi.js';
export type { EndpointAnswer } from './admin/answer.js';
export { MAX_ADMIN_BODY_BYTES, readBody } from './admin/readBody.js';
export { BreakwaterCore, type BreakwaterOptions, type RejectionEvent } from './Breakwater.js';
export type { BreakerCoordinator } from './breaker/BreakerCoordinator.js';
export { BreakerFleet, type BreakerFleetOptions, type FleetOpenEvent } from './breaker/BreakerFleet.js';
export { BreakerRegistry } from './breaker/BreakerRegistry.js';
export {
  type BreakerStats,
  type CallResult,
  CircuitBreaker,
  type CircuitState,
  REJECTED,
  type StateChange,
} from './breaker/CircuitBreaker.js';
export type { CallOutcome, CircuitBreakerOptions } from './breaker/options.js';
export { AimdLimit, type AimdLimitOptions } from './bulkhead/adaptive/AimdLimit.js';
export { createLimit, type LimiterName, type LimiterOptions } from './bulkhead/adaptive/createLimit.js';
export { Gradient2Limit, type Gradient2LimitOptions } from './bulkhead/adaptive/Gradient2Limit.js';
export {
  type LimitAlgorithm,
  type LimitBounds,
  outcomeOf,
  SampleOutcome,
} from './bulkhead/adaptive/LimitAlgorithm.js';
export { VegasLimit, type VegasLimitOptions } from './bulkhead/adaptive/VegasLimit.js';
export {
  Bulkhead,
  type BulkheadOptions,
  type BulkheadStats,
  type BulkheadWaiter,
} from './bulkhead/Bulkhead.js';
export { BulkheadRegistry } from './bulkhead/BulkheadRegistry.js';
export { Chaos, type ChaosKind, type ChaosState } from './chaos/Chaos.js';
export { ChaosControl, type ChaosHost, type ChaosInjection } from './chaos/ChaosControl.js';
export { ChaosFaultError, isChaosFaultError } from './chaos/ChaosFaultError.js';
export type { ChaosFaultOptions, ChaosLatencyOptions, ChaosOptions } from './chaos/options.js';
export {
  type ComposedContext,
  type ComposedExecuteOptions,
  type ComposedPolicies,
  ComposedPolicy,
  type ComposedWork,
  compose,
} from './compose/ComposedPolicy.js';
export {
  BreakwaterError,
  type BreakwaterErrorCode,
  BulkheadRejectedError,
  CircuitOpenError,
  ConfigError,
  isBreakwaterError,
  isBulkheadRejectedError,
  isCircuitOpenError,
  isConfigError,
  isOverloadedError,
  isRateLimitedError,
  isTimeoutError,
  OverloadedError,
  RateLimitedError,
  TimeoutError,
} from './errors.js';
export { type BreakwaterContext, ClientClosedError, GuardCall, Phase } from './guard/GuardCall.js';
export { hasProtection, mergePolicy, type RoutePolicy } from './guard/policy.js';
export { Priority, type PriorityName } from './guard/priority.js';
export {
  type PolicyRefusal,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
  type Refusal,
  type RefusalReason,
  type RejectionReason,
} from './guard/problem.js';
export { type GuardHooks, RouteGuard } from './guard/RouteGuard.js';
export { type ResolvedRoute, RouteGuardCache } from './guard/RouteGuardCache.js';
export type { ReconfigureOptions, ReconfigureResult } from './guard/reload.js';
export { HEALTH_CONTENT_TYPE, HealthRegistry, type HealthSources } from './health/HealthRegistry.js';
export type {
  HealthCheck,
  HealthCheckEntry,
  HealthCheckOptions,
  HealthCheckResult,
  HealthKind,
  HealthOptions,
  HealthReport,
  HealthStatus,
} from './health/types.js';
export { BreakwaterMetrics, type MetricsOptions } from './metrics/BreakwaterMetrics.js';
export { type MetricsAnswer, prefersOpenMetrics, renderMetrics } from './metrics/exposition.js';
export { BREAKER_STATE_VALUE, MetricSet, type MetricsSource, metricNames } from './metrics/MetricSet.js';
export { isMetricsConflictError, MetricsConflictError } from './metrics/MetricsConflictError.js';
export { RouteSeries, UNMATCHED_ROUTE } from './metrics/RouteSeries.js';
export { LoadMonitor, type LoadMonitorOptions } from './overload/LoadMonitor.js';
export { LoadShedder, type ShedLevel, type ShedLevelChange } from './overload/LoadShedder.js';
export { OverloadControl } from './overload/OverloadControl.js';
export { attachOverloadMetrics, overloadMetricNames } from './overload/OverloadMetrics.js';
export { type OverloadOptions, type OverloadSettings, resolveOverloadOptions } from './overload/options.js';
export {
  type LoadSample,
  type LoadSampler,
  type ProcessSamplerOptions,
  processSampler,
} from './overload/sampler.js';
export {
  isPoolClosedError,
  isPoolExistsError,
  isPoolNotFoundError,
  isPoolQueueFullError,
  isPoolQueueTimeoutError,
  isPoolUnhealthyError,
  PoolClosedError,
  PoolExistsError,
  PoolNotFoundError,
  PoolQueueFullError,
  PoolQueueTimeoutError,
  PoolUnhealthyError,
} from './pools/errors.js';
export { PoolManager, type PoolManagerOptions } from './pools/PoolManager.js';
export type { Pool, PoolEvents, PoolHealth, PoolHealthCheckEvent, PoolStats } from './pools/types.js';
export * as rateLimitAlgorithms from './rate-limit/algorithms.js';
export { clientIpKey } from './rate-limit/client-ip.js';
export { formatPolicyHeader, formatRateLimitHeader, retryAfterSeconds } from './rate-limit/headers.js';
export { MemoryStore, type MemoryStoreOptions } from './rate-limit/MemoryStore.js';
export {
  type RateLimitEvent,
  RateLimiter,
  type RateLimiterSettings,
  type RateLimitKey,
  type RateLimitOptions,
} from './rate-limit/RateLimiter.js';
export type {
  RateLimitAlgorithm,
  RateLimitDecision,
  RateLimitStore,
  RateLimitWindow,
} from './rate-limit/types.js';
export {
  CONNECTION_ERROR_CODES,
  DEFAULT_RETRY_STATUSES,
  errorCode,
  IDEMPOTENT_METHODS,
  isConnectionError,
} from './retry/classify.js';
export type { RetryOptions } from './retry/options.js';
export { Retry, type RetryCall, type RetryEvent, type RetryGiveUpReason } from './retry/Retry.js';
export { RetryBudget, type RetryBudgetOptions, type RetryBudgetStats } from './retry/RetryBudget.js';
export { parseRetryAfter } from './retry/retryAfter.js';
export {
  AdaptiveTimeout,
  type AdaptiveTimeoutOptions,
  type AdaptiveTimeoutStats,
} from './timeout/adaptive/AdaptiveTimeout.js';
export { LatencySketch, type LatencySketchSettings } from './timeout/adaptive/LatencySketch.js';
export { DeadlineList, type DeadlineNode } from './timeout/DeadlineList.js';
export { Timeout, type TimeoutContext, type TimeoutOptions } from './timeout/Timeout.js';
export { type Clock, systemClock, type TimerHandle } from './util/clock.js';
export { type Duration, parseDuration } from './util/duration.js';
export { type Disposable, Emitter, type Event } from './util/events.js';
export { promiseFor, type Settles } from './util/promiseFor.js';
export { sameOptions } from './util/sameOptions.js';
export { neverAbortedSignal } from './util/signal.js';
/** Option checks that name the option path and the bad value, for pool and store authors. */
export * as validate from './util/validate.js';
