import type { Refusal } from '@breakwater/core';
import {
  endStream,
  isStreamBody,
  NodeCall,
  type ProxySetting,
  promiseFor,
  proxySettings,
  pumpBody,
  type RouteGuard,
  recordPayload,
  recordsAnswer,
  type StreamSink,
  type WireAnswer,
  watchResponse,
  writeAnswer,
} from '@breakwater/core/adapter';
import type { Context, Next } from 'koa';

const TRUST = proxySettings(
  'app.proxy',
  'set app.proxy = true and app.maxIpsCount to the number of proxies in front of the app',
  'set app.maxIpsCount to the number of proxies in front of the app, so ctx.ip is the address the nearest proxy saw',
);

/** Koa `onReject`: render the refusal yourself on `ctx`. */
export type KoaOnReject = (refusal: Refusal, ctx: Context) => unknown;

const noop = (): void => {};

/** The status an error thrown through Koa answers with (http-errors' `status`). */
function errorStatus(err: unknown): number {
  const e = err as { status?: unknown; statusCode?: unknown } | null;
  return typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 500;
}

/**
 * One Koa request under a route's guard. The middleware's promise settles when the guard
 * refuses, when the deadline answers for the handler, or when the handler ends.
 */
export class KoaCall extends NodeCall implements StreamSink {
  /** Settle `done`; set as the promise is made. */
  resolve: () => void = noop;
  reject: (e: unknown) => void = noop;
  /** What the middleware returns to Koa. */
  readonly done: Promise<void>;

  constructor(
    guard: RouteGuard,
    readonly ctx: Context,
    private readonly next: Next,
  ) {
    super(guard, ctx.req, ctx.res);
    this.done = promiseFor<void>(this);
  }

  clientIp(): string | undefined {
    const ctx = this.ctx;
    // Without app.proxy, ctx.ip is the socket's address: skip its header parse and array.
    if (!ctx.app?.proxy) return ctx.req.socket?.remoteAddress ?? ctx.ip;
    // ctx.ip applies Koa's `app.proxy` setting.
    return ctx.ip;
  }

  override proxySetting(): ProxySetting | undefined {
    const app = this.ctx.app;
    if (app === undefined) return undefined;
    // With app.proxy and no maxIpsCount, ctx.ip is the first X-Forwarded-For entry: the client's own say.
    return app.proxy !== true ? TRUST.none : (app.maxIpsCount ?? 0) > 0 ? TRUST.some : TRUST.all;
  }

  nativeRequest(): unknown {
    return this.ctx;
  }

  /** Mounts rewrite `req.url`. */
  override requestPath(): string {
    return this.ctx.originalUrl;
  }

  send(a: WireAnswer): void {
    const ctx = this.ctx;
    ctx.status = a.status;
    for (const [name, value] of a.headers) ctx.set(name, value);
    const type = ctx.response.get('Content-Type');
    ctx.body = a.body;
    // Koa guesses a type from the body; the answer's own (problem+json, a fallback's) stands.
    if (type) ctx.type = type;
  }

  callOnReject(onReject: KoaOnReject, refusal: Refusal): unknown {
    return onReject(refusal, this.ctx);
  }

  fail(error: unknown): void {
    this.reject(error);
  }

  override answered(): void {
    this.resolve();
  }

  proceed(): void {
    // Routes with timeout.firstByte/idle only: the others pay this one field check.
    const stream = this.guard.engine.stream;
    if (stream) watchResponse(this, this.res, this);
    let p: Promise<unknown>;
    try {
      p = this.next();
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(stream ? () => this.streamed() : this.onHandlerDone, this.onHandlerError);
  }

  /**
   * The handler of a streaming route returned. From here the response holds the call: its
   * end ends it (the stream watch sees how), and should the deadline answer first, its
   * close releases the slot. A stream or async iterable in `ctx.body` is written here.
   */
  private streamed(): void {
    const ctx = this.ctx;
    const res = this.res;
    // Answered by the deadline, left by the client, or a failure a fallback may answer: as any route.
    if (!this.isRunning || (ctx.status >= 500 && !res.headersSent && this.guard.fallback?.covers('error')))
      return this.onHandlerDone();
    res.once('close', () => this.finish(0, undefined));
    const body: unknown = ctx.body;
    if (ctx.respond !== false && isStreamBody(body)) {
      // Written by core, chunk by chunk, so an idle cut or the client leaving stops the source.
      ctx.respond = false;
      pumpBody(res, body);
    }
    this.resolve();
  }

  /** The stream stayed silent past `timeout.idle`: its body is terminated, Koa's answer off. */
  cutStream(): void {
    this.ctx.respond = false;
    endStream(this.res);
  }

  /**
   * Lets `onReject` set the answer to a timeout on `ctx`, written at once: only what it sets
   * before returning counts. When it throws or sets no status (Koa answers 404 until
   * someone does), the default refusal goes out instead.
   */
  timedOut(refusal: Refusal): void {
    const ctx = this.ctx;
    if (!this.cutOff()) return;
    const onReject = this.guard.onReject;
    if (onReject !== undefined) {
      try {
        const r = onReject(refusal, ctx);
        if (r && typeof (r as Promise<unknown>).then === 'function')
          (r as Promise<unknown>).then(undefined, noop);
      } catch {
        return this.sendLate(refusal);
      }
    }
    if (onReject === undefined || (ctx.response as { _explicitStatus?: boolean })._explicitStatus !== true)
      return this.sendLate(refusal);
    const body = ctx.body;
    const text =
      typeof body === 'string' || Buffer.isBuffer(body) ? body : body == null ? '' : JSON.stringify(body);
    const headers = Object.entries(ctx.response.headers).map(([k, v]) => [k, String(v)] as const);
    writeAnswer(this.res, ctx.status, headers, text);
  }

  cutOff(): boolean {
    // The late handler keeps its ctx; Koa must not send what it sets there afterwards,
    // so answers go to the raw response and Koa's own reply is switched off.
    this.ctx.respond = false;
    this.resolve();
    const res = this.res;
    if (!res.headersSent) return true;
    res.destroy();
    return false;
  }

  /** Queued or waiting on the store when the client left: the handler will never run, so settle now. */
  override responseClosed(): void {
    const waiting = this.waiting;
    super.responseClosed();
    if (waiting) this.resolve();
  }

  private readonly onHandlerDone = (): void => {
    // After a timeout `done` has settled already; resolving again is a no-op.
    const running = this.isRunning;
    const status = this.ctx.status;
    // Read while the handler is still the one answering; only a remembering route pays.
    if (recordsAnswer(this)) recordPayload(this, status, this.ctx.response.headers, this.ctx.body);
    this.finish(status, undefined);
    if (running && status >= 500 && !this.res.headersSent && this.handlerFailed(undefined, this.resolve))
      return;
    this.resolve();
  };

  private readonly onHandlerError = (err: unknown): void => {
    const wasLate = this.late;
    const running = this.isRunning;
    const s = errorStatus(err);
    // ctx.throw(404) and friends are answers, not failures of the route.
    this.finish(s, s >= 500 ? err : undefined);
    if (running && s >= 500 && !this.res.headersSent && this.handlerFailed(err, () => this.reject(err)))
      return;
    // After a timeout the answer is out: a late error has nowhere to go and must not surface.
    if (!wasLate) this.reject(err);
  };
}
