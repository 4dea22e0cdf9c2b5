import { Readable } from 'node:stream';
import { ConfigError, isConfigError } from '@breakwater/core';
import { HttpResponse, type ResponseHeaders } from './HttpResponse.js';
import type { HttpFallback, HttpFallbackAnswer, HttpFallbackReason, HttpRequestOptions } from './request.js';

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
