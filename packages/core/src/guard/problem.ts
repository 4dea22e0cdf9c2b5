import {
  type BreakwaterError,
  BulkheadRejectedError,
  CircuitOpenError,
  OverloadedError,
  RateLimitError,
  RateLimitedError,
  TimeoutError,
} from '../errors.js';

/** Why a policy refused a request; the `reason` label of `breakwater_rejections_total`. */
export type RejectionReason = 'rate_limited' | 'circuit_open' | 'bulkhead_full' | 'timeout' | 'overloaded';

/** A rejection, as announced to metrics. */
export interface RejectionEvent {
  route: string;
  reason: RejectionReason;
}

/** An RFC 9457 problem details object, as Breakwater sends it. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  'violated-policies'?: string[];
  [member: string]: unknown;
}

/**
 * What a {@link Refusal} answers for: a policy's refusal, or `'chaos_fault'`, a failure
 * injected by chaos testing (counted by chaos's own metric, not as a rejection).
 */
export type RefusalReason = RejectionReason | 'chaos_fault';

/** A refusal, ready to be sent: status, headers, and a problem+json body. */
export interface Refusal<Reason extends RefusalReason = RefusalReason> {
  reason: Reason;
  status: number;
  /** Header name/value pairs to send, `Content-Type` included. */
  headers: ReadonlyArray<readonly [string, string]>;
  problem: ProblemDetails;
  /** `problem` serialised. */
  body: string;
  /** The matching typed error, for `onReject` handlers that prefer one. */
  error: BreakwaterError;
}

/** A policy's refusal: one counted in `breakwater_rejections_total`. */
export type PolicyRefusal = Refusal<RejectionReason>;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
const QUOTA_EXCEEDED = 'https://iana.org/assignments/http-problem-types#quota-exceeded';
const REDUCED_CAPACITY = 'https://iana.org/assignments/http-problem-types#temporary-reduced-capacity';

function make(
  reason: RejectionReason,
  status: number,
  problem: ProblemDetails,
  error: BreakwaterError,
  extra: Array<readonly [string, string]>,
): PolicyRefusal {
  const body = JSON.stringify(problem);
  return {
    reason,
    status,
    headers: [['Content-Type', PROBLEM_CONTENT_TYPE], ...extra],
    problem,
    body,
    error,
  };
}

/** `retryAfterHeader`: false for a limit with `headers: false`, which sends no rate-limit headers at all. */
export function rateLimitedRefusal(
  retryAfterSec: number,
  violated: string[],
  extra: Array<readonly [string, string]>,
  retryAfterHeader = true,
): PolicyRefusal {
  return make(
    'rate_limited',
    429,
    {
      type: QUOTA_EXCEEDED,
      title: 'Too Many Requests',
      status: 429,
      detail: `Request quota exceeded; retry after ${retryAfterSec} second${retryAfterSec === 1 ? '' : 's'}.`,
      code: 'RATE_LIMITED',
      'violated-policies': violated,
    },
    new RateLimitedError(retryAfterSec * 1000),
    retryAfterHeader ? [['Retry-After', String(retryAfterSec)], ...extra] : extra,
  );
}

/**
 * The rate limit that applies could not be had (a `limit` function threw, rejected or
 * answered no valid limit): refused rather than admitted without a limit. Counted as
 * `rate_limited`.
 */
export function rateLimitErrorRefusal(limiter: string): PolicyRefusal {
  return make(
    'rate_limited',
    503,
    {
      type: REDUCED_CAPACITY,
      title: 'Service Unavailable',
      status: 503,
      detail: 'The rate limit for this request could not be determined.',
      code: 'RATE_LIMIT_ERROR',
    },
    new RateLimitError(limiter),
    [],
  );
}

export function circuitOpenRefusal(breaker: string, retryAfterMs: number): PolicyRefusal {
  const sec = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return make(
    'circuit_open',
    503,
    {
      type: REDUCED_CAPACITY,
      title: 'Service Unavailable',
      status: 503,
      detail: 'The service is temporarily failing fast after repeated errors.',
      code: 'CIRCUIT_OPEN',
    },
    new CircuitOpenError(breaker, retryAfterMs),
    [['Retry-After', String(sec)]],
  );
}

export function bulkheadRefusal(
  bulkhead: string,
  why: 'full' | 'queue_timeout',
  retryAfterSec: number,
): PolicyRefusal {
  return make(
    'bulkhead_full',
    503,
    {
      type: REDUCED_CAPACITY,
      title: 'Service Unavailable',
      status: 503,
      detail:
        why === 'full'
          ? 'Too many concurrent requests; try again shortly.'
          : 'The request waited too long for capacity.',
      code: 'BULKHEAD_FULL',
    },
    new BulkheadRejectedError(bulkhead, why, retryAfterSec * 1000),
    [['Retry-After', String(retryAfterSec)]],
  );
}

export function timeoutRefusal(timeoutMs: number, status: 503 | 504): PolicyRefusal {
  return make(
    'timeout',
    status,
    {
      type: REDUCED_CAPACITY,
      title: status === 504 ? 'Gateway Timeout' : 'Service Unavailable',
      status,
      detail: `The request did not complete within ${timeoutMs}ms.`,
      code: 'TIMEOUT',
    },
    new TimeoutError(timeoutMs),
    [],
  );
}

/** Load shedding refused a request of a shed priority (`level` 1: sheddable, 2: normal too). */
export function overloadedRefusal(level: number, retryAfterSec: number): PolicyRefusal {
  return make(
    'overloaded',
    503,
    {
      type: REDUCED_CAPACITY,
      title: 'Service Unavailable',
      status: 503,
      detail: 'The server is overloaded and is shedding lower-priority requests; retry later.',
      code: 'OVERLOADED',
    },
    new OverloadedError(level, retryAfterSec * 1000),
    [['Retry-After', String(retryAfterSec)]],
  );
}
