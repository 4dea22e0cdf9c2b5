import { ServerResponse } from 'node:http';
import type { WireAnswer } from '../guard/fallback.js';
import type { GuardCall } from '../guard/GuardCall.js';

/*
 * What a guard does to a Node response a framework's handler holds and the guard cannot
 * swap (Express's `res`): cut it off from the handler, write on it after, hold a failing
 * `end()` for the route's fallback, copy a good answer for a remembering one.
 */

function noop(): void {}
function returnThis(this: unknown): unknown {
  return this;
}

/**
 * Cuts a response off from its handler: writes become no-ops, `headersSent` reads false
 * so the framework and its error handlers take their ordinary paths without throwing, and the
 * handler's eventual `end()` (a send, or an error handler's reply) reports that it ended
 * (each call does; the guard's finish is idempotent).
 */
export function detachResponse(res: ServerResponse, onEnd: () => void): void {
  const r = res as unknown as Record<string, unknown>;
  r.setHeader = returnThis;
  r.appendHeader = returnThis;
  r.removeHeader = noop;
  r.writeHead = returnThis;
  r.flushHeaders = noop;
  r.write = (_chunk: unknown, enc?: unknown, cb?: unknown) => {
    const fn = typeof enc === 'function' ? enc : cb;
    if (typeof fn === 'function') queueMicrotask(fn as () => void);
    return true;
  };
  r.end = (chunk?: unknown, enc?: unknown, cb?: unknown) => {
    const fn = typeof chunk === 'function' ? chunk : typeof enc === 'function' ? enc : cb;
    if (typeof fn === 'function') queueMicrotask(fn as () => void);
    // Every call is reported: the receiver decides which end is the handler's.
    onEnd();
    return res;
  };
  Object.defineProperty(res, 'headersSent', { configurable: true, get: () => false });
}

const wire = ServerResponse.prototype;

/** Writes an answer on a response `detach()` has cut off, through Node's own methods. */
export function writeDetached(res: ServerResponse, a: WireAnswer): void {
  if (res.writableEnded || res.destroyed) return;
  for (const [name, value] of a.headers) wire.setHeader.call(res, name, value);
  wire.setHeader.call(res, 'Content-Length', Buffer.byteLength(a.body));
  // The late handler may still fail, and Express then destroys the socket: keep it to this answer.
  wire.setHeader.call(res, 'Connection', 'close');
  // Explicitly: end() would ask the detached writeHead for the headers.
  wire.writeHead.call(res, a.status);
  (wire.end as (chunk: string | Buffer) => void).call(res, a.body);
}

/**
 * Lets the route's fallback answer for a handler that fails: the first `end()` of a
 * response whose status is ≥ 500 while its headers are still unsent (a handler's own 500,
 * or the framework's error handler after a throw) ends the call and is held; the
 * fallback's answer replaces it, or, when the fallback gives none, the held `end()` goes
 * out as the handler meant it. The response does not show what the handler threw, so the
 * fallback's `error` is undefined here.
 */
export function watchForErrors(call: GuardCall, res: ServerResponse): void {
  const end = res.end;
  res.end = function heldEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
    res.end = end;
    if (res.statusCode >= 500 && !res.headersSent && call.isRunning) {
      call.finish(res.statusCode, undefined);
      const saved = res.getHeaders();
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      const replay = (): void => {
        for (const [name, value] of Object.entries(saved))
          if (value !== undefined) res.setHeader(name, value as string | string[]);
        (end as (...a: unknown[]) => unknown).apply(res, args);
      };
      if (call.handlerFailed(undefined, replay)) return res;
      replay();
      return res;
    }
    return (end as (...a: unknown[]) => ServerResponse).apply(res, args);
  } as ServerResponse['end'];
}

/**
 * Copies what the handler sends, up to `max` bytes, and hands a 2xx answer to the
 * route's remembering fallback when it ends. A larger answer is not copied further.
 */
export function captureAnswer(call: GuardCall, res: ServerResponse, max: number): void {
  const write = res.write;
  const end = res.end;
  const chunks: Buffer[] = [];
  let size = 0;
  const keep = (chunk: unknown, enc: unknown): void => {
    if (size > max || chunk == null || typeof chunk === 'function') return;
    const b =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof enc === 'string' ? (enc as BufferEncoding) : 'utf8')
        : chunk instanceof Uint8Array
          ? Buffer.from(chunk)
          : undefined;
    if (b === undefined) return;
    size += b.byteLength;
    if (size <= max) chunks.push(b);
  };
  res.write = function copyWrite(this: ServerResponse, ...args: unknown[]): boolean {
    keep(args[0], args[1]);
    return (write as (...a: unknown[]) => boolean).apply(res, args);
  } as ServerResponse['write'];
  res.end = function copyEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
    res.write = write;
    res.end = end;
    keep(args[0], args[1]);
    const status = res.statusCode;
    if (status >= 200 && status < 300 && size <= max && call.isRunning)
      call.recordAnswer(status, res.getHeaders(), Buffer.concat(chunks));
    return (end as (...a: unknown[]) => ServerResponse).apply(res, args);
  } as ServerResponse['end'];
}
