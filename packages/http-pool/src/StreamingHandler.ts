import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { announcedTooLarge, type BodyRules, bodyError } from './bodyRules.js';
import { PoolResponseTooLargeError } from './errors.js';
import type { ResponseHeaders } from './HttpResponse.js';

function ignore(): void {}

/** The reason a request is aborted with when its reader destroys the body without one. */
export class BodyDestroyedError extends Error {
  readonly code = 'POOL_BODY_DESTROYED';
  constructor() {
    super('The response body was destroyed before its end');
    this.name = 'BodyDestroyedError';
  }
}

/** What a {@link StreamingHandler} reports to its attempt. */
export interface StreamingSink {
  /** The headers arrived: the body streams from now on. */
  headers(status: number, headers: ResponseHeaders, body: Readable): void;
  /**
   * The request is over and its connection free: `error` undefined when the body ended,
   * else why not. `byReader`: the reader destroyed the body (or the attempt gave up)
   * before its end, which is no fault of the upstream.
   */
  end(error: unknown, byReader: boolean): void;
}

/**
 * The response body of a streamed request: a Readable fed by undici with backpressure
 * (the request pauses while the reader's buffer is full). Destroying it aborts the
 * request, which frees its connection.
 */
class ResponseBody extends Readable {
  constructor(private readonly handler: StreamingHandler) {
    // undici reads the socket in chunks of up to 64 KiB: hold about one.
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(): void {
    this.handler.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.handler.abort(error ?? new BodyDestroyedError());
    callback(error);
  }
}

/**
 * An undici dispatch handler that hands the body over as a Readable as soon as the
 * headers arrive: nothing is buffered beyond the Readable's high-water mark. A body over
 * `rules.limit` (-1: none) errors with `POOL_RESPONSE_TOO_LARGE` as soon as it crosses it
 * (before the headers are handed over when `content-length` says so); undici's body
 * timeout runs between chunks while the reader keeps up, and is held while it pauses.
 */
export class StreamingHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private abortReason: unknown;
  private body: ResponseBody | undefined;
  private length = 0;
  private finished = false;

  constructor(
    private readonly rules: BodyRules,
    private readonly sink: StreamingSink,
  ) {}

  /** Aborts the request (destroying its socket if it is under way); the body errors with `reason`. */
  abort(reason: unknown): void {
    if (this.finished || this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason as Error);
  }

  /** The reader wants more. */
  resume(): void {
    const c = this.controller;
    if (c?.paused && !this.finished) c.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason !== undefined) controller.abort(this.abortReason as Error);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (this.abortReason !== undefined) return;
    const refused = announcedTooLarge(this.rules, statusCode, headers);
    if (refused !== undefined) {
      this.abort(refused);
      return;
    }
    const body = new ResponseBody(this);
    // The body may fail before its reader has it (or without one ever listening): one
    // listener keeps that from crashing the process; readers still see the error, as
    // `pipeline` and `for await` do.
    body.on('error', ignore);
    this.body = body;
    this.sink.headers(statusCode, headers as ResponseHeaders, body);
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.abortReason !== undefined) return;
    const limit = this.rules.limit;
    this.length += chunk.length;
    if (limit >= 0 && this.length > limit) {
      this.abort(new PoolResponseTooLargeError(this.rules.pool, limit));
      return;
    }
    if (!this.body!.push(chunk)) c.pause();
  }

  onResponseEnd(): void {
    if (this.finished) return;
    this.finished = true;
    this.body!.push(null);
    this.sink.end(undefined, false);
  }

  onResponseError(_c: Dispatcher.DispatchController, error: Error): void {
    if (this.finished) return;
    this.finished = true;
    const reason = this.abortReason;
    const e = reason ?? bodyError(this.rules, error);
    const byReader = reason !== undefined && !(reason instanceof PoolResponseTooLargeError);
    const body = this.body;
    // A reader that destroyed the body knows already; anyone else learns it from the body.
    if (body !== undefined && !body.destroyed) body.destroy(e as Error);
    this.sink.end(e, byReader);
  }
}
