/**
 * @breakwater/core/adapter: what a framework adapter is built from. An adapter implements
 * {@link AdapterIO} (its handlers) and a {@link GuardCall} subclass (one request's I/O);
 * `createBreakwater()` assembles the rest.
 * @packageDocumentation
 */

export { type AdminAction, AdminApi, type AdminRequest, type AdminSnapshot } from './admin/AdminApi.js';
export type { EndpointAnswer } from './admin/answer.js';
export { MAX_ADMIN_BODY_BYTES, readBody } from './admin/readBody.js';
export { BreakwaterCore } from './Breakwater.js';
export type { ChaosCall } from './chaos/Chaos.js';
export { type DeadlineStart, Engine, type EngineSteps } from './engine/Engine.js';
export { EngineCall } from './engine/EngineCall.js';
export type { CallInterceptor, InterceptedCall } from './engine/interceptor.js';
export { Phase, Refused } from './engine/phase.js';
export { type StreamEnd, StreamStats } from './engine/StreamStats.js';
export type { AnswerRecorder, RecordedAnswer } from './guard/fallback.js';
export { RouteFallback, toWire, type WireAnswer } from './guard/fallback.js';
export { type CallGuard, GuardCall } from './guard/GuardCall.js';
export { hasProtection, mergePolicy } from './guard/policy.js';
export { type GuardHooks, type GuardPolicies, RouteGuard } from './guard/RouteGuard.js';
export { type GuardResolver, type ResolvedRoute, RouteGuardCache } from './guard/RouteGuardCache.js';
export { RouteRegistry } from './guard/RouteRegistry.js';
export { type StreamSink, StreamWatch } from './guard/StreamWatch.js';
export { HealthRegistry, type HealthSources } from './health/HealthRegistry.js';
export type { AdapterIO, Endpoint, EndpointRequest, MiddlewareHost } from './kit/AdapterIO.js';
export { createBreakwater } from './kit/createBreakwater.js';
export { HeldResponseCall } from './kit/HeldResponseCall.js';
export { CLOSE_WATCHED, NodeCall, sinkResponse } from './kit/NodeCall.js';
export { onQueuedRequestGone, recordResponse, writeAnswer } from './kit/nodeHttp.js';
export { endStream, isStreamBody, pumpBody, watchResponse } from './kit/nodeStream.js';
export { proxySettings } from './kit/proxySettings.js';
export { isResponse, ResponseCall, toResponse } from './kit/ResponseCall.js';
export { recordPayload, recordsAnswer, recordWebResponse } from './kit/recordAnswer.js';
export { guardByPattern, guardsByPolicy, measureResponse, runNext } from './kit/requests.js';
export type { BreakwaterMetrics, MetricsOptions } from './metrics/BreakwaterMetrics.js';
export { type MetricsAnswer, prefersOpenMetrics, renderMetrics } from './metrics/exposition.js';
export type { MetricsHost } from './metrics/MetricsHost.js';
export { type RouteSeries, UNMATCHED_ROUTE } from './metrics/RouteSeries.js';
export type { ProxySetting, ProxyTrust } from './rate-limit/client-ip.js';
export { RATE_LIMIT_HEADER_NAMES } from './rate-limit/headers.js';
export { promiseFor, type Settles } from './util/promiseFor.js';
