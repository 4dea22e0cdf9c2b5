import type { Readable } from 'node:stream';
import {
  type CircuitBreaker,
  CircuitOpenError,
  type Clock,
  TimeoutError,
  type TimerHandle,
} from '@breakwater/core';
import { REJECTED } from '@breakwater/core/extend';
import type { Dispatcher } from 'undici';
import { BufferingHandler } from './BufferingHandler.js';
import type { BodyRules } from './bodyRules.js';
import { isPoolResponseTooLargeError } from './errors.js';
import { HttpResponse, type ResponseHeaders } from './HttpResponse.js';
import type { Origin } from './Origin.js';
import { StreamingHandler, type StreamingSink } from './StreamingHandler.js';
import type { Waiter } from './WaitQueue.js';

/** What an {@link Attempt} needs of its pool. */
export interface AttemptHost {
  readonly clock: Clock;
  readonly breaker: CircuitBreaker | undefined;
  /** Dispatches the attempt now (`attempt.dispatch(origin)`), queues it, or throws a refusal. */
  acquire(attempt: Attempt): void;
  /** Takes a queued attempt out of the queue. */
  dequeue(attempt: Attempt): void;
  /**
   * The request has ended on `origin` and its connection is free. `failed`: true for an
   * upstream failure (an error, a status >= 500), undefined when the caller gave up first.
   */
  finished(origin: Origin, failed: boolean | undefined, error: unknown): void;
}

/** A response as an attempt settles with it: buffered, or streaming its body. */
export type AttemptResponse = HttpResponse<Buffer> | HttpResponse<Readable>;

/**
 * One try of one request: breaker ticket, wait for a connection, dispatch, timeout. The
 * caller learns the outcome once through `settle`; the pool learns separately, through
 * `host.finished`, when the connection is really free again (an aborted request settles
 * at once, its connection a moment later).
 *
 * A streamed attempt (`stream`) settles at the headers, and its timeout stops there: from
 * then on the body's own rules apply (the body timeout between chunks, the size limit).
 * It ends, for the pool and the breaker, when the body ends or is destroyed.
 */
export class Attempt implements Waiter, StreamingSink {
  qPrev: Waiter | null = null;
  qNext: Waiter | null = null;
  queued = false;
  /** When the attempt joined the queue (for the acquire-wait histogram). */
  queuedAt = 0;
  /** The queue-wait timer, owned by the pool. */
  queueTimer: TimerHandle | undefined;
  private settled = false;
  private gaveUp = false;
  private timer: TimerHandle | undefined;
  private handler: BufferingHandler | StreamingHandler | undefined;
  private origin: Origin | undefined;
  private ticket = REJECTED;
  private startedAt = 0;
  /** A streamed attempt's response, once its headers came (for the breaker's verdict at its end). */
  private streamed: HttpResponse<Readable> | undefined;
  /** How long a streamed attempt took to its headers (what the breaker judges as its duration). */
  private headersMs = 0;
  /** A streamed attempt's end, once it came, and who waits for it. */
  private ending: { error: unknown; byReader: boolean } | undefined;
  private onEnded: ((error: unknown, byReader: boolean) => void) | undefined;
  /** The pool's breaker, unless the inbound route already holds a ticket of the same one. */
  private readonly breaker: CircuitBreaker | undefined;

  constructor(
    private readonly host: AttemptHost,
    private readonly request: Dispatcher.DispatchOptions,
    private readonly timeoutMs: number,
    private readonly settle: (error: unknown, response?: AttemptResponse) => void,
    private readonly rules: BodyRules,
    private readonly stream: boolean,
    routeBreaker?: CircuitBreaker,
  ) {
    // A route and its pool sharing one breaker would count each failure twice, and the
    // route's half-open probe would find the pool's call refused: the route's call counts.
    this.breaker = host.breaker === routeBreaker ? undefined : host.breaker;
  }

  start(): void {
    const h = this.host;
    const breaker = this.breaker;
    if (breaker !== undefined) {
      this.ticket = breaker.acquire();
      if (this.ticket === REJECTED) {
        this.settled = true;
        this.settle(new CircuitOpenError(breaker.name, breaker.retryAfterMs()));
        return;
      }
      this.startedAt = h.clock.now();
    }
    this.timer = h.clock.setTimeout(this.onTimeout, this.timeoutMs);
    try {
      h.acquire(this);
    } catch (e) {
      this.giveUp(e, false);
    }
  }

  /** Sends the request to `origin`; the pool has counted it in `origin.inFlight`. */
  dispatch(origin: Origin): void {
    this.origin = origin;
    this.handler = this.stream
      ? new StreamingHandler(this.rules, this)
      : new BufferingHandler(this.rules, this.onDone);
    this.request.origin = origin.url;
    origin.dispatcher.dispatch(this.request, this.handler);
  }

  /** Ends the attempt now with `reason` (a refusal, the caller's abort, or a timeout). */
  giveUp(reason: unknown, timedOut: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.gaveUp = true;
    this.host.clock.clearTimeout(this.timer!);
    const breaker = this.breaker;
    if (breaker !== undefined) {
      // A timeout is the upstream's fault; a refusal or the caller leaving is not.
      if (timedOut) breaker.record(this.ticket, true, this.host.clock.now() - this.startedAt, 'TIMEOUT');
      else breaker.release(this.ticket);
    }
    if (this.queued) this.host.dequeue(this);
    this.handler?.abort(reason);
    this.settle(reason);
  }

  private readonly onTimeout = (): void => {
    this.giveUp(new TimeoutError(this.timeoutMs), true);
  };

  private readonly onDone = (
    error: unknown,
    status?: number,
    headers?: ResponseHeaders,
    body?: Buffer,
  ): void => {
    const origin = this.origin!;
    // Too large a body is the caller's limit, not the upstream failing: neither health nor the breaker count it.
    const tooLarge = isPoolResponseTooLargeError(error);
    const failed = this.gaveUp || tooLarge ? undefined : error !== undefined || status! >= 500;
    this.host.finished(origin, failed, error);
    if (this.settled) return;
    this.settled = true;
    const h = this.host;
    h.clock.clearTimeout(this.timer!);
    const breaker = this.breaker;
    if (error !== undefined) {
      if (breaker !== undefined) {
        if (tooLarge) breaker.release(this.ticket);
        else {
          const d = h.clock.now() - this.startedAt;
          breaker.record(this.ticket, breaker.judge(undefined, error, d), d);
        }
      }
      this.settle(error);
      return;
    }
    const response = new HttpResponse(status!, headers!, body!, origin.url);
    if (breaker !== undefined) {
      const d = h.clock.now() - this.startedAt;
      breaker.record(this.ticket, breaker.judge(status, undefined, d, response), d);
    }
    this.settle(undefined, response);
  };

  // --- StreamingSink: a streamed attempt's headers and end ---------------------------

  /** @internal */
  headers(status: number, headers: ResponseHeaders, body: Readable): void {
    if (this.settled) {
      // Gave up in the same turn: the handler is aborted already.
      body.destroy();
      return;
    }
    this.settled = true;
    const h = this.host;
    h.clock.clearTimeout(this.timer!);
    this.headersMs = h.clock.now() - this.startedAt;
    const response = new HttpResponse(status, headers, body, this.origin!.url);
    this.streamed = response;
    this.settle(undefined, response);
  }

  /**
   * Calls `fn` once a streamed attempt's body has ended (at once if it has): `error`
   * undefined when it ended whole, `byReader` when the reader destroyed it first.
   */
  whenEnded(fn: (error: unknown, byReader: boolean) => void): void {
    const e = this.ending;
    if (e !== undefined) fn(e.error, e.byReader);
    else this.onEnded = fn;
  }

  /** @internal */
  end(error: unknown, byReader: boolean): void {
    const response = this.streamed;
    if (response === undefined) {
      // Ended before the headers: as a buffered attempt would.
      this.onDone(error);
      return;
    }
    this.ending = { error, byReader };
    const status = response.status;
    const tooLarge = isPoolResponseTooLargeError(error);
    // The reader leaving early says nothing about the upstream beyond its status.
    const upstreamError = error !== undefined && !byReader && !tooLarge ? error : undefined;
    const failed = tooLarge ? undefined : upstreamError !== undefined || status >= 500;
    this.host.finished(this.origin!, failed, upstreamError);
    const breaker = this.breaker;
    if (breaker !== undefined) {
      if (tooLarge) breaker.release(this.ticket);
      else {
        // Judged on the time to the headers: a long download is not a slow call.
        const d = this.headersMs;
        breaker.record(
          this.ticket,
          upstreamError !== undefined
            ? breaker.judge(undefined, upstreamError, d)
            : breaker.judge(status, undefined, d, response),
          d,
        );
      }
    }
    this.onEnded?.(error, byReader);
  }
}
