import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { announcedTooLarge, type BodyRules, bodyError } from './bodyRules.js';
import { PoolResponseTooLargeError } from './errors.js';
import type { ResponseHeaders } from './HttpResponse.js';

const EMPTY = Buffer.alloc(0);

/**
 * An undici dispatch handler that reads the whole response into memory and reports it
 * once: `done(error)` or `done(undefined, status, headers, body)`. `abort(reason)` works
 * at any time, even before undici hands over the request's controller. A body over
 * `rules.limit` is refused with `POOL_RESPONSE_TOO_LARGE` the moment it crosses the limit
 * (at the headers when `content-length` says so), and the request is aborted.
 *
 * Using `dispatch` rather than `request()` skips undici's stream wrapper: the pool reads
 * every body anyway, and this is the hot path.
 */
export class BufferingHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private abortReason: unknown;
  private status = 0;
  private headers: ResponseHeaders = {};
  private chunks: Buffer[] | undefined;
  private first: Buffer | undefined;
  private length = 0;
  private finished = false;

  constructor(
    private readonly rules: BodyRules,
    private readonly done: (
      error: unknown,
      status?: number,
      headers?: ResponseHeaders,
      body?: Buffer,
    ) => void,
  ) {}

  /** Aborts the request (destroying its socket if it is under way). */
  abort(reason: unknown): void {
    if (this.finished || this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason as Error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason !== undefined) controller.abort(this.abortReason as Error);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.status = statusCode;
    this.headers = headers as ResponseHeaders;
    const refused = announcedTooLarge(this.rules, statusCode, headers);
    if (refused !== undefined) this.abort(refused);
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.abortReason !== undefined) return;
    const limit = this.rules.limit;
    if (limit >= 0 && this.length + chunk.length > limit) {
      // Drop what was read: the caller gets the refusal, not a truncated body.
      this.first = undefined;
      this.chunks = undefined;
      this.abort(new PoolResponseTooLargeError(this.rules.pool, limit));
      return;
    }
    if (this.first === undefined) this.first = chunk;
    else (this.chunks ??= [this.first]).push(chunk);
    this.length += chunk.length;
  }

  onResponseEnd(): void {
    if (this.finished) return;
    this.finished = true;
    const body = this.chunks !== undefined ? Buffer.concat(this.chunks, this.length) : (this.first ?? EMPTY);
    this.done(undefined, this.status, this.headers, body);
  }

  onResponseError(_c: Dispatcher.DispatchController, error: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.first = undefined;
    this.chunks = undefined;
    this.done(this.abortReason ?? bodyError(this.rules, error));
  }
}
