/**
 * @breakwater/http-pool: an outbound HTTP pool on undici (7 or 8) with bounded connections
 * and queue, health checks, size-capped or streamed bodies both ways, an optional circuit
 * breaker and retry, and the inbound request's deadline and correlation headers carried into every call; optional outbound pacing that
 * listens to the upstream's rate-limit headers, 429s and `Retry-After`.
 * @packageDocumentation
 */
export {
  isPoolBodyTimeoutError,
  isPoolResponseTooLargeError,
  PoolBodyTimeoutError,
  PoolResponseTooLargeError,
} from './errors.js';
export { HttpPool, type HttpPoolStats, type RequestOutcome } from './HttpPool.js';
export { HttpResponse, type ResponseHeaders } from './HttpResponse.js';
export type { HealthCheckOptions, HttpPoolOptions, PassiveHealthOptions } from './options.js';
export { isPoolPaceTimeoutError, PoolPaceTimeoutError } from './pacing/errors.js';
export type { PaceOptions } from './pacing/options.js';
export type { PaceChangeReason } from './pacing/PaceAdapter.js';
export { type PaceChange, Pacer } from './pacing/Pacer.js';
export { emptySignal, type RateLimitSignal, readRateLimitSignal } from './pacing/parseRateLimitHeaders.js';
export type { CallPriority } from './pacing/priority.js';
export type {
  HttpCallOptions,
  HttpFallback,
  HttpFallbackAnswer,
  HttpFallbackContext,
  HttpFallbackEvent,
  HttpFallbackReason,
  HttpRequestOptions,
  Query,
  RequestBody,
} from './request.js';
