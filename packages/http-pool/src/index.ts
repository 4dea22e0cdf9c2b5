/**
 * @breakwater/http-pool: an outbound HTTP pool on undici 7 with bounded connections and
 * queue, health checks, an optional circuit breaker and retry, and the inbound request's
 * deadline and correlation headers carried into every call.
 * @packageDocumentation
 */
export { HttpPool, type HttpPoolStats, type RequestOutcome } from './HttpPool.js';
export { HttpResponse, type ResponseHeaders } from './HttpResponse.js';
export type { HealthCheckOptions, HttpPoolOptions, PassiveHealthOptions } from './options.js';
export type { HttpCallOptions, HttpRequestOptions, Query, RequestBody } from './request.js';
