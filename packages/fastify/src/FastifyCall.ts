import type { ServerResponse } from 'node:http';
import type { Refusal } from '@breakwater/core';
import {
  endStream,
  NodeCall,
  RATE_LIMIT_HEADER_NAMES,
  type RouteGuard,
  type StreamSink,
  sinkResponse,
  type WireAnswer,
  watchResponse,
} from '@breakwater/core/adapter';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

/** Fastify `onReject`: render the refusal yourself with `reply` (it runs in an `onRequest` hook). */
export type FastifyOnReject = (refusal: Refusal, request: FastifyRequest, reply: FastifyReply) => unknown;

function noop(): void {}

/** What an `onSend` hook calls to go on, with the payload to send. */
export type OnSendDone = (err: Error | null, payload?: unknown) => void;

/**
 * One Fastify request under a route's guard, started from an `onRequest` hook: `done()`
 * lets the request go on to its handler; an answer in its place is sent with `reply`.
 */
export class FastifyCall extends NodeCall implements StreamSink {
  /** What the handler threw, seen by the plugin's `onError` hook. */
  error: unknown;
  /** Set while a fallback may replace a failed handler's answer in its `onSend` hook. */
  private onSend: OnSendDone | undefined;

  constructor(
    guard: RouteGuard,
    readonly request: FastifyRequest,
    readonly reply: FastifyReply,
    private readonly done: HookHandlerDoneFunction,
  ) {
    // `res` stays the client's response (headers set on it carry over to an answer written
    // there after a timeout; Fastify merges them with the reply's); `reply.raw` is swapped
    // for a sink once the handler is cut off.
    super(guard, request.raw, reply.raw);
  }

  clientIp(): string | undefined {
    // request.ip applies Fastify's trustProxy setting.
    return this.request.ip;
  }

  nativeRequest(): unknown {
    return this.request;
  }

  /**
   * On the reply, not the response: Fastify then writes all its headers in one
   * `writeHead(status, headers)`, where one header set on the response first sends every
   * other through `setHeader` as well.
   */
  override setHeader(name: string, value: string): void {
    if (!this.res.headersSent) this.reply.header(name, value);
  }

  /**
   * After a cut-off, straight onto the response, with the rate-limit headers set on the
   * reply: only those, not whatever the cut-off handler had set there.
   */
  override sendLate(a: WireAnswer): void {
    const res = this.res;
    if (res.headersSent || res.destroyed) return;
    const reply = this.reply;
    for (const name of RATE_LIMIT_HEADER_NAMES) {
      const v = reply.getHeader(name);
      if (v !== undefined) res.setHeader(name, v);
    }
    super.sendLate(a);
  }

  send(a: WireAnswer): void {
    const reply = this.reply;
    reply.code(a.status);
    for (const [name, value] of a.headers) reply.header(name, value);
    const onSend = this.onSend;
    this.onSend = undefined;
    // In place of a failed handler's answer, from its onSend hook; else through Fastify
    // (hooks and logging see it) from the onRequest hook, which then never calls done().
    if (onSend !== undefined) onSend(null, a.body);
    else reply.send(a.body);
  }

  callOnReject(onReject: FastifyOnReject, refusal: Refusal): unknown {
    return onReject(refusal, this.request, this.reply);
  }

  fail(error: unknown): void {
    this.done(error as Error);
  }

  proceed(): void {
    // Routes with timeout.firstByte/idle only: the others pay this one field check.
    if (this.guard.engine.stream) {
      watchResponse(this, this.res, this);
      this.lateStreamEnds();
    }
    this.done();
  }

  /**
   * A streaming route whose headers come after the deadline: once the handler has handed
   * Fastify its answer (a stream it pipes onto the client's response), that response's close
   * is the late handler's end, as the sink's `end()` is for a handler that answers later.
   */
  private lateStreamEnds(): void {
    const reply = this.reply;
    const send = reply.send;
    let handed = false;
    reply.send = function handedSend(this: FastifyReply, ...args: unknown[]) {
      handed = true;
      return (send as (...a: unknown[]) => FastifyReply).apply(this, args);
    } as FastifyReply['send'];
    this.res.once('close', () => {
      if (handed && this.late) this.finish(0, undefined);
    });
  }

  /** The stream stayed silent past `timeout.idle`: its body is terminated, the handler cut off. */
  cutStream(): void {
    (this.reply as { raw: ServerResponse }).raw = sinkResponse(this.req, noop);
    endStream(this.res);
  }

  /**
   * From the plugin's `onSend` hook: a running handler answered 500 or more. True when
   * the route's fallback takes the answer over (it then goes on through `onSend`).
   */
  failed(payload: unknown, onSend: OnSendDone): boolean {
    const status = this.reply.statusCode;
    if (!this.isRunning || status < 500 || this.guard.fallback?.covers('error') !== true) return false;
    this.finish(status, this.error);
    this.onSend = onSend;
    return this.handlerFailed(this.error, () => {
      this.onSend = undefined;
      onSend(null, payload);
    });
  }

  timedOut(refusal: Refusal): void {
    if (!this.res.headersSent) this.renderTimeout(refusal);
    this.cutOff();
  }

  /**
   * Hands the reply a response of its own that goes nowhere, so the handler still running
   * answers through Fastify as usual (hooks, serializers, error handler: nothing throws,
   * nothing warns) and its end tells the guard that it has ended.
   */
  cutOff(): boolean {
    (this.reply as { raw: ServerResponse }).raw = sinkResponse(this.req, () => this.finish(0, undefined));
    if (!this.res.headersSent) return true;
    // Part of the answer is out already: the only honest end is to cut it short.
    this.res.destroy();
    return false;
  }
}
