import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Refusal } from '@breakwater/core';
import {
  GuardCall,
  onQueuedRequestGone,
  type RouteGuard,
  type WireAnswer,
  writeAnswer,
} from '@breakwater/core/adapter';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

/** Fastify `onReject`: render the refusal yourself with `reply` (it runs in an `onRequest` hook). */
export type FastifyOnReject = (refusal: Refusal, request: FastifyRequest, reply: FastifyReply) => unknown;

/** What an `onSend` hook calls to go on, with the payload to send. */
export type OnSendDone = (err: Error | null, payload?: unknown) => void;

/**
 * One Fastify request under a route's guard, started from an `onRequest` hook: `done()`
 * lets the request go on to its handler; an answer in its place is sent with `reply`.
 */
export class FastifyCall extends GuardCall {
  /** What the handler threw, seen by the plugin's `onError` hook. */
  error: unknown;
  /** The response the client is on; `reply.raw` is swapped for a sink once the handler is cut off. */
  private readonly res: ServerResponse;
  /** Set while a fallback may replace a failed handler's answer in its `onSend` hook. */
  private onSend: OnSendDone | undefined;

  constructor(
    guard: RouteGuard,
    readonly request: FastifyRequest,
    readonly reply: FastifyReply,
    private readonly done: HookHandlerDoneFunction,
  ) {
    super(guard);
    const res = (this.res = reply.raw);
    res.on('close', () => this.closed());
    // Only a pipelined request waits socketless: the common case allocates no closure.
    if (res.socket === null) onQueuedRequestGone(request.raw, res, () => this.closed());
  }

  clientIp(): string | undefined {
    // request.ip applies Fastify's trustProxy setting.
    return this.request.ip;
  }

  header(name: string): string | undefined {
    const v = this.request.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  requestMethod(): string {
    return this.request.method;
  }

  requestPath(): string {
    return this.request.url;
  }

  requestHeaders(): FastifyRequest['headers'] {
    return this.request.headers;
  }

  nativeRequest(): unknown {
    return this.request;
  }

  setHeader(name: string, value: string): void {
    // On the raw response, so an answer written there after a timeout carries it too;
    // Fastify merges it with the reply's own headers when it answers.
    if (!this.res.headersSent) this.res.setHeader(name, value);
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
    this.done();
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
    const res = this.res;
    if (res.headersSent) return void this.cutOff();
    // Only what onReject sends before it returns counts: the handler is cut off right after.
    const onReject = this.guard.onReject as FastifyOnReject | undefined;
    if (onReject !== undefined) {
      try {
        const r = onReject(refusal, this.request, this.reply);
        if (r && typeof (r as Promise<unknown>).then === 'function')
          (r as Promise<unknown>).then(undefined, noop);
      } catch {
        // The default refusal goes out instead.
      }
    }
    if (!res.headersSent) writeAnswer(res, refusal.status, refusal.headers, refusal.body, true);
    this.cutOff();
  }

  /**
   * Hands the reply a response of its own that goes nowhere, so the handler still running
   * answers through Fastify as usual (hooks, serializers, error handler: nothing throws,
   * nothing warns) and its end tells the guard that it has ended.
   */
  cutOff(): boolean {
    const res = this.res;
    (this.reply as { raw: ServerResponse }).raw = sink(this.request.raw, () => this.finish(0, undefined));
    if (!res.headersSent) return true;
    // Part of the answer is out already: the only honest end is to cut it short.
    res.destroy();
    return false;
  }

  sendLate(a: WireAnswer): void {
    const res = this.res;
    if (!res.headersSent && !res.destroyed) writeAnswer(res, a.status, a.headers, a.body, true);
  }

  /** The client's response closed: after the answer, or alone when the client left. */
  private closed(): void {
    if (this.isRunning) {
      if (this.res.writableEnded) return this.finish(this.res.statusCode, undefined);
      this.clientGone();
      // The handler is still running: its slot is released when it ends.
      this.cutOff();
    } else if (this.waiting) this.clientGone();
  }
}

function noop(): void {}

/** A response on no socket: writes are dropped, `end()` reports. */
function sink(req: IncomingMessage, onEnd: () => void): ServerResponse {
  const s = new ServerResponse(req);
  const callback = (args: unknown[]) => {
    const fn = args.find((a) => typeof a === 'function');
    if (fn !== undefined) queueMicrotask(fn as () => void);
  };
  s.write = (...args: unknown[]) => {
    callback(args);
    return true;
  };
  s.end = (...args: unknown[]) => {
    callback(args);
    // writableEnded reads it: Fastify then sees the reply as sent.
    (s as { finished: boolean }).finished = true;
    onEnd();
    // For whoever awaits the reply (`await reply`) or pipes into it.
    process.nextTick(() => {
      s.emit('finish');
      s.emit('close');
    });
    return s;
  };
  return s;
}
