import type { Readable } from 'node:stream';
import {
  type BreakwaterContext,
  ConfigError,
  type Duration,
  type FallbackReason,
  type FallbackResult,
} from '@breakwater/core';
import type { Dispatcher } from 'undici';
import type { HttpResponse } from './HttpResponse.js';
import type { CallPriority } from './pacing/priority.js';

/**
 * A request body: text or bytes (sent as they are, and replayable by retries), a stream
 * (a `Readable` or an async iterable of bytes: sent as it is read, chunked, and never
 * retried), or a plain value sent as JSON.
 */
export type RequestBody =
  | string
  | Uint8Array
  | Readable
  | AsyncIterable<Uint8Array>
  | Record<string, unknown>
  | unknown[]
  | null;

/** Query parameters; arrays repeat the name, `undefined` and `null` are left out. */
export type Query = Record<
  string,
  string | number | boolean | readonly (string | number | boolean)[] | null | undefined
>;

/** One outbound request. */
export interface HttpRequestOptions {
  /** Default `'GET'`. */
  method?: string;
  /** Starts with `/`; appended to the `baseUrl` path. */
  path: string;
  query?: Query;
  headers?: Record<string, string | string[] | undefined>;
  /**
   * A string or bytes as is; a `Readable` or async iterable streamed (an upload: read as it
   * is sent, so a call with one is never retried; a call refused before sending leaves it
   * unread, which lets a proxy still answer its client); an object or array as JSON (with
   * `content-type: application/json`).
   */
  body?: RequestBody;
  /**
   * `true`: resolve at the headers with `body` a Node `Readable` (`stream()` a web
   * ReadableStream), read with backpressure, not buffered and not capped unless this
   * request sets `maxResponseSize`. `timeout` then bounds the time to the headers, the
   * pool's `bodyTimeout` each silence between chunks. Read the body to its end or destroy
   * it: it holds its connection until then. Default false: the body is read in full.
   */
  stream?: boolean;
  /**
   * Largest response body in bytes; past it the call fails with `POOL_RESPONSE_TOO_LARGE`
   * as soon as the limit is crossed. Default: the pool's `maxResponseSize` (10 MiB), none with `stream: true`.
   */
  maxResponseSize?: number;
  /** Aborts the request (with the signal's reason). */
  signal?: AbortSignal;
  /**
   * Timeout of each attempt, queue wait included (with `stream: true`, up to the headers).
   * Default: the pool's `timeout`. Capped by the context's remaining budget.
   */
  timeout?: Duration;
  /**
   * The inbound request's context (`req.breakwater`, `ctx.state.breakwater`): its signal
   * aborts this call when the inbound request times out or its client leaves, its
   * remaining budget caps the timeout, and its correlation headers are forwarded.
   */
  context?: BreakwaterContext | undefined;
  /** Whether this call is safe to repeat, overriding the method's verdict (for retries). */
  idempotent?: boolean;
  /**
   * Order among calls waiting for a pacing token (`pace`): `critical` (0) first, then
   * `normal` (1), then `sheddable` (2). Default: the inbound request's priority from
   * `context`, else `normal`. Ignored by a pool without `pace`.
   */
  priority?: CallPriority;
  /** This call's fallback, in place of the pool's (`false`: none for this call). See `HttpPoolOptions.fallback`. */
  fallback?: HttpFallback | false;
}

/** Whether a body is a stream (a Readable, or any async iterable) rather than bytes or a value. */
export function isStreamBody(b: unknown): b is Readable | AsyncIterable<Uint8Array> {
  return (
    typeof b === 'object' &&
    b !== null &&
    typeof (b as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

/** A request's per-call options for the shorthands (`get`, `post`, ...). */
export type HttpCallOptions = Omit<HttpRequestOptions, 'method' | 'path' | 'body'>;

function appendQuery(path: string, query: Query): string {
  let qs = '';
  for (const k of Object.keys(query)) {
    const v = query[k];
    if (v === undefined || v === null) continue;
    const name = encodeURIComponent(k);
    if (Array.isArray(v)) {
      for (const item of v) qs += `${qs ? '&' : ''}${name}=${encodeURIComponent(String(item))}`;
    } else qs += `${qs ? '&' : ''}${name}=${encodeURIComponent(String(v))}`;
  }
  if (!qs) return path;
  return path + (path.includes('?') ? '&' : '?') + qs;
}

/**
 * Turns a request into undici dispatch options (its `origin` is set per attempt):
 * path and query, default and forwarded headers, and a JSON body when given a value
 * (bytes and streams go as they are).
 */
export function buildDispatch(
  opts: HttpRequestOptions,
  basePath: string,
  defaults: Readonly<Record<string, string>> | undefined,
  forward: readonly string[],
  headersTimeout: number,
  bodyTimeout: number,
): Dispatcher.DispatchOptions {
  const p = opts.path;
  if (typeof p !== 'string' || p.charCodeAt(0) !== 47 /* '/' */)
    throw new ConfigError('request.path', p, "a path starting with '/'");
  let path = basePath ? basePath + p : p;
  if (opts.query !== undefined) path = appendQuery(path, opts.query);

  let headers: Record<string, string | string[]> | undefined = defaults ? { ...defaults } : undefined;
  const own = opts.headers;
  if (own !== undefined) {
    for (const k of Object.keys(own)) {
      const v = own[k];
      if (v !== undefined) (headers ??= {})[k.toLowerCase()] = v;
    }
  }
  const ctx = opts.context;
  if (ctx !== undefined) {
    for (let i = 0; i < forward.length; i++) {
      const name = forward[i]!;
      if (headers?.[name] !== undefined) continue;
      const v = ctx.header(name);
      if (v !== undefined) (headers ??= {})[name] = v;
    }
  }
  let body: Dispatcher.DispatchOptions['body'];
  const b = opts.body;
  if (b === undefined || b === null || typeof b === 'string' || b instanceof Uint8Array) body = b;
  // undici sends a Readable as it is and any other async iterable chunk by chunk.
  else if (isStreamBody(b)) body = b as Readable;
  else {
    body = JSON.stringify(b);
    if (headers?.['content-type'] === undefined) (headers ??= {})['content-type'] = 'application/json';
  }
  return {
    origin: '',
    path,
    method: (opts.method ?? 'GET') as Dispatcher.HttpMethod,
    headers,
    body,
    headersTimeout,
    bodyTimeout,
  };
}

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
