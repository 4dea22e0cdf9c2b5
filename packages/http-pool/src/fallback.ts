import { Readable } from 'node:stream';
import { ConfigError, type FallbackReason, type FallbackResult, isConfigError } from '@breakwater/core';
import { HttpResponse, type ResponseHeaders } from './HttpResponse.js';
import type { HttpRequestOptions } from './request.js';

/**
 * Why a pool's fallback is asked for a response: `circuit_open` (the pool's breaker),
 * `bulkhead_full` (its queue full, or the wait for a connection too long), `rate_limited`
 * (the wait for a pacing token too long), `timeout`, or `'error'`: anything else the call
 * would throw (the upstream down or reset, a body too large, no healthy origin, …).
 */
export type HttpFallbackReason = Exclude<FallbackReason, 'overloaded'>;

/** What a pool's fallback is told about the call it answers for. */
export interface HttpFallbackContext {
  reason: HttpFallbackReason;
  /** What the call would have thrown. */
  error: unknown;
  /** The pool's name. */
  pool: string;
  /** The request as the caller gave it (method defaulted). */
  method: string;
  path: string;
  request: HttpRequestOptions;
  /** The caller's signal (`signal`, else the context's), if any. */
  signal: AbortSignal | undefined;
}

/**
 * A fallback's answer, as `HttpResponse` fields: `status` (default 200), `headers` (names
 * taken in lower case), `body` a string or bytes as they are, any other value as JSON
 * (with `content-type: application/json`); no body: empty.
 */
export interface HttpFallbackAnswer {
  status?: number;
  headers?: Record<string, string | string[]>;
  body?: string | Uint8Array | object | null;
}

/**
 * A pool's fallback: a response in place of the call's error. It may answer with an
 * {@link HttpFallbackAnswer}, or with an `HttpResponse` (another pool's, say), returned
 * as it is. `undefined`, a throw or a rejection declines: the call throws its own error.
 */
export type HttpFallback = (
  ctx: HttpFallbackContext,
) =>
  | HttpFallbackAnswer
  | HttpResponse<any>
  | undefined
  | PromiseLike<HttpFallbackAnswer | HttpResponse<any> | undefined>;

/** A pool's fallback attempt, as `HttpPool.onFallback` announces it. */
export interface HttpFallbackEvent {
  reason: HttpFallbackReason;
  /** `served`: the call answered with the fallback's response; `failed`: it declined or threw. */
  result: FallbackResult;
  error: unknown;
}

/** The header a fallback's response carries, with the reason as its value (lower case, as every response header). */
export const FALLBACK_HEADER = 'breakwater-fallback';

/** The `origin` of a response a fallback made. */
export const FALLBACK_ORIGIN = 'fallback';

/** A call's error, as a fallback reason. */
export function reasonOf(e: unknown): HttpFallbackReason {
  switch ((e as { code?: unknown } | null | undefined)?.code) {
    case 'CIRCUIT_OPEN':
      return 'circuit_open';
    case 'POOL_QUEUE_FULL':
    case 'POOL_QUEUE_TIMEOUT':
      return 'bulkhead_full';
    case 'POOL_PACE_TIMEOUT':
      return 'rate_limited';
    case 'TIMEOUT':
    case 'POOL_BODY_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'timeout';
    default:
      return 'error';
  }
}

/** Whether the fallback may answer for `e`: not for the caller's own abort, nor a mistake in the call. */
export function coversError(e: unknown, opts: HttpRequestOptions): boolean {
  if (isConfigError(e)) return false;
  const s1 = opts.signal;
  if (s1?.aborted && s1.reason === e) return false;
  const s2 = opts.context?.signal;
  if (s2?.aborted && s2.reason === e) return false;
  return true;
}

/** A per-request `fallback`: a function, `false` (none for this call) or absent (the pool's). */
export function checkFallback(v: unknown, path: string): HttpFallback | false | undefined {
  if (v === undefined || v === false || typeof v === 'function') return v as HttpFallback | false | undefined;
  throw new ConfigError(path, v, 'a function, or false');
}

/** The fallback's answer as a response; `undefined` when it declined or gave something unusable. */
export function toResponse(
  a: unknown,
  reason: HttpFallbackReason,
  stream: boolean,
): HttpResponse<Buffer> | HttpResponse<Readable> | undefined {
  if (a instanceof HttpResponse) return a;
  if (a === null || typeof a !== 'object') return undefined;
  const { status = 200, headers, body } = a as HttpFallbackAnswer;
  if (!Number.isInteger(status) || status < 100 || status > 599) return undefined;
  const out: ResponseHeaders = {};
  if (headers !== undefined) {
    if (headers === null || typeof headers !== 'object') return undefined;
    for (const [k, v] of Object.entries(headers)) {
      if (typeof v !== 'string' && !(Array.isArray(v) && v.every((x) => typeof x === 'string')))
        return undefined;
      out[k.toLowerCase()] = v;
    }
  }
  let bytes: Buffer;
  if (body === undefined || body === null) bytes = Buffer.alloc(0);
  else if (typeof body === 'string') bytes = Buffer.from(body);
  else if (body instanceof Uint8Array) bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  else {
    let json: string | undefined;
    try {
      json = JSON.stringify(body);
    } catch {
      return undefined;
    }
    if (json === undefined) return undefined;
    bytes = Buffer.from(json);
    out['content-type'] ??= 'application/json';
  }
  out['content-length'] = String(bytes.length);
  out[FALLBACK_HEADER] = reason;
  return stream
    ? new HttpResponse<Readable>(
        status,
        out,
        Readable.from(bytes.length > 0 ? [bytes] : [], { objectMode: false }),
        FALLBACK_ORIGIN,
      )
    : new HttpResponse(status, out, bytes, FALLBACK_ORIGIN);
}
