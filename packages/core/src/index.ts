/**
 * @breakwater/core: framework-neutral resilience policies (timeout, rate limit, circuit
 * breaker, bulkhead, retry), `compose()`, their errors, options and events, and the pool
 * manager. This is what applications write against; `@breakwater/core/adapter` is for
 * framework adapter authors and `@breakwater/core/extend` for store and pool authors.
 * @packageDocumentation
 */

export type { BreakwaterOptions } from './Breakwater.js';
export { BreakerFleet, type BreakerFleetOptions, type FleetOpenEvent } from './breaker/BreakerFleet.js';
export type { BreakerRegistry } from './breaker/BreakerRegistry.js';
export {
  type BreakerFailure,
  type BreakerStats,
  type CallResult,
  CircuitBreaker,
  type CircuitState,
  type StateChange,
} from './breaker/CircuitBreaker.js';
export type { CallOutcome, CircuitBreakerOptions } from './breaker/options.js';
export { AimdLimit, type AimdLimitOptions } from './bulkhead/adaptive/AimdLimit.js';
export { createLimit, type LimiterName, type LimiterOptions } from './bulkhead/adaptive/createLimit.js';
export { Gradient2Limit, type Gradient2LimitOptions } from './bulkhead/adaptive/Gradient2Limit.js';
export type { LimitAlgorithm, LimitBounds } from './bulkhead/adaptive/LimitAlgorithm.js';
export { VegasLimit, type VegasLimitOptions } from './bulkhead/adaptive/VegasLimit.js';
export { Bulkhead, type BulkheadOptions, type BulkheadStats } from './bulkhead/Bulkhead.js';
export type { ChaosKind, ChaosState } from './chaos/Chaos.js';
export type { ChaosControl, ChaosInjection } from './chaos/ChaosControl.js';
export { ChaosFaultError, isChaosFaultError } from './chaos/ChaosFaultError.js';
export type { ChaosFaultOptions, ChaosLatencyOptions, ChaosOptions } from './chaos/options.js';
export {
  type ComposedContext,
  type ComposedExecuteOptions,
  type ComposedFallback,
  type ComposedFallbackContext,
  type ComposedFallbackEvent,
  type ComposedFallbackReason,
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
  isRateLimiterClosedError,
  isRateLimitQueueFullError,
  isRateLimitWaitTimeoutError,
  isTimeoutError,
  OverloadedError,
  RateLimitError,
  RateLimitedError,
  RateLimiterClosedError,
  RateLimitQueueFullError,
  RateLimitWaitTimeoutError,
  TimeoutError,
} from './errors.js';
export {
  FALLBACK_HEADER,
  type Fallback,
  type FallbackAnswer,
  type FallbackContext,
  type FallbackEvent,
  type FallbackReason,
  type FallbackResult,
} from './guard/fallback.js';
export { type BreakwaterContext, ClientClosedError } from './guard/GuardCall.js';
export type { RoutePolicy, StreamTimeout } from './guard/policy.js';
export { Priority, type PriorityName } from './guard/priority.js';
export {
  type PolicyRefusal,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
  type Refusal,
  type RefusalReason,
  type RejectionEvent,
  type RejectionReason,
} from './guard/problem.js';
export type { RouteLimits } from './guard/RouteLimits.js';
export type { ReconfigureOptions, ReconfigureResult } from './guard/reload.js';
export { HEALTH_CONTENT_TYPE } from './health/HealthRegistry.js';
export type {
  BreakerCheckEntry,
  BulkheadCheckEntry,
  HealthCheck,
  HealthCheckEntry,
  HealthCheckOptions,
  HealthCheckResult,
  HealthKind,
  HealthOptions,
  HealthReport,
  HealthStatus,
  PoolCheckEntry,
  RateLimitStoreCheckEntry,
} from './health/types.js';
export type { BreakwaterAdapter, HealthEndpoints } from './kit/BreakwaterAdapter.js';
export type { LogEvent } from './log/BreakwaterLog.js';
export type { Logger, LogLevel } from './log/Logger.js';
export { metricNames } from './metrics/MetricSet.js';
export { isMetricsConflictError, MetricsConflictError } from './metrics/MetricsConflictError.js';
export type { ShedLevel, ShedLevelChange } from './overload/LoadShedder.js';
export type { OverloadOptions } from './overload/options.js';
export type { LoadSample, LoadSampler } from './overload/sampler.js';
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
export type { Pool, PoolHealth, PoolStats } from './pools/types.js';
export type { AcquireOptions } from './rate-limit/AcquireQueue.js';
export type { RateLimitHeaderMode } from './rate-limit/headers.js';
export { MemoryStore, type MemoryStoreOptions } from './rate-limit/MemoryStore.js';
export {
  type RateLimitEvent,
  RateLimiter,
  type RateLimiterSettings,
  type RateLimitKey,
  type RateLimitMisconfiguration,
  type RateLimitOptions,
  type StoreFallbackEvent,
} from './rate-limit/RateLimiter.js';
export type {
  RateLimitAlgorithm,
  RateLimitBlock,
  RateLimitDecision,
  RateLimitKeyState,
  RateLimitStore,
} from './rate-limit/types.js';
export type { RetryOptions } from './retry/options.js';
export { Retry, type RetryCall, type RetryEvent, type RetryGiveUpReason } from './retry/Retry.js';
export { RetryBudget, type RetryBudgetOptions, type RetryBudgetStats } from './retry/RetryBudget.js';
export {
  type StaleEntry,
  type StaleIfErrorFallback,
  type StaleIfErrorOptions,
  type StaleStore,
  staleIfError,
} from './stale/staleIfError.js';
export {
  AdaptiveTimeout,
  type AdaptiveTimeoutOptions,
  type AdaptiveTimeoutStats,
} from './timeout/adaptive/AdaptiveTimeout.js';
export { Timeout, type TimeoutContext, type TimeoutOptions } from './timeout/Timeout.js';
export type { Clock, TimerHandle } from './util/clock.js';
export { type Duration, parseDuration } from './util/duration.js';
export type { Disposable, Event } from './util/events.js';
