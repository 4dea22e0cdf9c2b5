import { ServerResponse } from 'node:http';
import type { GuardCall } from '../guard/GuardCall.js';
import { type StreamSink, StreamWatch } from '../guard/StreamWatch.js';

const wire = ServerResponse.prototype;

/** Body bytes of a `write()`/`end()` chunk (0 for a callback or nothing). */
function chunkBytes(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string')
    return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  return chunk instanceof Uint8Array ? chunk.byteLength : 0;
}

/**
 * Watches a Node response for a streaming route (an engine with `stream`): its headers
 * going out, each write, and how it closes, reported to a {@link StreamWatch} that core
 * keeps. Adapters call it before the handler runs, on routes whose timeout has
 * `firstByte` or `idle` only (other routes pay nothing), and implement `sink.cutStream()`
 * (usually `detach` + {@link endStream}).
 */
export function watchResponse(call: GuardCall, res: ServerResponse, sink: StreamSink): StreamWatch {
  const w = new StreamWatch(call, sink);
  const writeHead = res.writeHead;
  const write = res.write;
  const end = res.end;
  const destroy = res.destroy;
  // Every way headers go out (write, end, flushHeaders) passes through writeHead.
  res.writeHead = function streamWriteHead(this: ServerResponse, ...args: unknown[]) {
    w.headers();
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
  res.write = function streamWrite(this: ServerResponse, chunk: unknown, enc?: unknown, cb?: unknown) {
    const ok = (write as (...a: unknown[]) => boolean).call(this, chunk, enc, cb);
    w.wrote(chunkBytes(chunk, enc));
    return ok;
  } as ServerResponse['write'];
  res.end = function streamEnd(this: ServerResponse, chunk?: unknown, enc?: unknown, cb?: unknown) {
    const r = (end as (...a: unknown[]) => ServerResponse).call(this, chunk, enc, cb);
    w.wrote(chunkBytes(chunk, enc));
    return r;
  } as ServerResponse['end'];
  // A response destroyed before it finished (a failing pipeline, the handler giving up) failed.
  res.destroy = function streamDestroy(this: ServerResponse, error?: Error) {
    const failed = !this.writableFinished;
    const r = destroy.call(this, error);
    // After: the signal's listeners run now, and must find the response gone (not end it whole).
    if (failed) w.failed(error);
    return r;
  } as ServerResponse['destroy'];
  // Before the adapter's own listener: the stream's end is the call's, and the slot goes now.
  res.prependListener('close', () => {
    if (res.writableFinished) w.completed(res.statusCode);
    else w.gone();
  });
  return w;
}

/**
 * Ends a streaming response that core cut off, cleanly: the body is terminated (a chunked
 * one with its last chunk, so the client keeps every complete event it got) through Node's
 * own `end`, whatever the framework patched, and the connection closes after it. An SSE
 * client then reconnects on a fresh connection; a client of a body with a `Content-Length`
 * sees it cut short instead of waiting for bytes that will not come.
 */
export function endStream(res: ServerResponse): void {
  if (res.writableEnded || res.destroyed) return;
  const socket = res.socket;
  (wire.end as (this: ServerResponse) => void).call(res);
  // After the last chunk, which end() has queued on the socket.
  socket?.end();
  // The handler may still write: dropped (callbacks called), never a write-after-end error.
  const r = res as unknown as Record<string, unknown>;
  r.write = dropWrite;
  r.end = function droppedEnd(this: ServerResponse, ...args: unknown[]) {
    dropWrite(...args);
    return this;
  };
}

function dropWrite(...args: unknown[]): boolean {
  const fn = args.find((a) => typeof a === 'function');
  if (fn !== undefined) queueMicrotask(fn as () => void);
  return true;
}

/** True for a body to stream: a Node stream, a web `ReadableStream` or an async iterable (not text or bytes). */
export function isStreamBody(body: unknown): boolean {
  if (body === null || typeof body !== 'object') return false;
  if (body instanceof Uint8Array) return false;
  return (
    typeof (body as { pipe?: unknown }).pipe === 'function' ||
    typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

/**
 * Writes a streamed body to `res` (its status and headers already set on it): each chunk
 * as it comes, waiting for `drain` when the socket is full. It stops when the response
 * ends or closes under it (an idle cut, the client leaving), destroying a Node stream or
 * returning an iterator so its source stops; a source that fails destroys the response
 * (the stream's `error`). Never rejects.
 */
export function pumpBody(res: ServerResponse, body: unknown): void {
  const source = body as AsyncIterable<unknown> & { destroy?: (e?: Error) => void };
  const it = source[Symbol.asyncIterator]();
  const stop = (): void => {
    if (typeof source.destroy === 'function') source.destroy();
    else it.return?.()?.then(undefined, ignore);
  };
  res.once('close', stop);
  const over = (): boolean => res.writableEnded || res.destroyed;
  (async () => {
    let exhausted = false;
    try {
      for (;;) {
        const { done, value } = await it.next();
        if (done) exhausted = true;
        if (done || over()) break;
        const chunk = typeof value === 'string' || value instanceof Uint8Array ? value : String(value);
        if (!res.write(chunk)) await drained(res);
      }
      if (!over()) res.end();
    } catch (err) {
      exhausted = true;
      // On a later turn: what was written before the failure reaches the client first.
      if (!over()) setImmediate(failed, res, err);
    } finally {
      res.off('close', stop);
      // Cut off before its end: the source must stop too.
      if (!exhausted) stop();
    }
  })().then(undefined, ignore);
}

/** The body's source failed: the response is cut short (no terminating chunk), an `error` end. */
function failed(res: ServerResponse, err: unknown): void {
  if (!res.writableEnded && !res.destroyed) res.destroy(err instanceof Error ? err : new Error(String(err)));
}

/** Resolves on `drain`, or when the response closes first. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function ignore(): void {}
