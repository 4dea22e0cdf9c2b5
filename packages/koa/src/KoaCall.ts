import type { Refusal } from '@breakwater/core';
import {
  CLOSE_WATCHED,
  endStream,
  GuardCall,
  isStreamBody,
  onQueuedRequestGone,
  type ProxySetting,
  promiseFor,
  proxySettings,
  pumpBody,
  type RouteGuard,
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

/** Set on `ctx` by the app middleware whose 'close' listener tells the call (see CLOSE_WATCHED). */
export type WatchedContext = Context & { [CLOSE_WATCHED]?: true };
const noop = (): void => {};

/**
 * One Koa request under a route's guard. The middleware's promise settles when the guard
 * refuses, when the deadline answers for the handler, or when the handler ends.
 */
export class KoaCall extends GuardCall implements StreamSink {
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
    super(guard);
    this.done = promiseFor<void>(this);
    const res = ctx.res;
    // The app middleware's own 'close' listener tells this call when it watches the
    // response (one listener where two would cost an array and its copy on every close).
    if ((ctx as WatchedContext)[CLOSE_WATCHED] !== true) {
      // A closure per request rather than a property on `res`: Node's responses each get a
      // hidden class of their own, so a property added to one builds a new hidden class
      // (work and garbage each time) where a closure is one small young object.
      res.on('close', () => {
        if (!res.writableFinished) this.clientClosed();
      });
    }
    // Only a pipelined request waits socketless: the common case allocates no closure.
    if (res.socket === null) onQueuedRequestGone(ctx.req, res, () => this.clientClosed());
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

  header(name: string): string | undefined {
    const v = this.ctx.req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  nativeRequest(): unknown {
    return this.ctx;
  }

  requestMethod(): string {
    return this.ctx.method;
  }

  requestPath(): string {
    return this.ctx.originalUrl;
  }

  requestHeaders(): Context['headers'] {
    return this.ctx.headers;
  }

  setHeader(name: string, value: string): void {
    const res = this.ctx.res;
    // What ctx.set() does for a string value, minus its argument juggling.
    if (!res.headersSent) res.setHeader(name, value);
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
    if (stream) watchResponse(this, this.ctx.res, this);
    let p: Promise<unknown>;
    try {
      p = this.next();
    } catch (e) {
      p = Promise.reject(e);
    }
    if (stream) p.then(() => this.streamed(), this.onHandlerError);
    else p.then(this.onHandlerDone, this.onHandlerError);
  }

  /**
   * The handler of a streaming route returned. From here the response holds the call: its
   * end ends it (the stream watch sees how), and should the deadline answer first, its
   * close releases the slot. A stream or async iterable in `ctx.body` is written here.
   */
  private streamed(): void {
    const ctx = this.ctx;
    // Answered by the deadline, left by the client, or a failure a fallback may answer: as any route.
    if (
      !this.isRunning ||
      (ctx.status >= 500 && !ctx.res.headersSent && this.guard.fallback?.covers('error') === true)
    )
      return this.onHandlerDone();
    const res = ctx.res;
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
    endStream(this.ctx.res);
  }

  timedOut(refusal: Refusal): void {
    const ctx = this.ctx;
    const res = ctx.res;
    if (!this.cutOff()) return;
    const onReject = this.guard.onReject as KoaOnReject | undefined;
    if (onReject === undefined || !renderedByOnReject(onReject, refusal, ctx)) return this.sendLate(refusal);
    const body = ctx.body;
    const text =
      typeof body === 'string' || Buffer.isBuffer(body) ? body : body == null ? '' : JSON.stringify(body);
    writeAnswer(
      res,
      ctx.status,
      Object.entries(ctx.response.headers).map(([k, v]) => [k, String(v)] as const),
      text,
    );
  }

  cutOff(): boolean {
    // The late handler keeps its ctx; Koa must not send what it sets there afterwards,
    // so answers go to the raw response and Koa's own reply is switched off.
    this.ctx.respond = false;
    this.resolve();
    const res = this.ctx.res;
    if (!res.headersSent) return true;
    res.destroy();
    return false;
  }

  sendLate(a: WireAnswer): void {
    const res = this.ctx.res;
    if (!res.headersSent && !res.destroyed) writeAnswer(res, a.status, a.headers, a.body);
  }

  private readonly onHandlerDone = (): void => {
    // After a timeout `done` has settled already; resolving again is a no-op.
    const running = this.isRunning;
    const status = this.ctx.status;
    this.finish(status, undefined);
    if (running && status >= 500 && !this.ctx.res.headersSent && this.handlerFailed(undefined, this.resolve))
      return;
    if (running && status >= 200 && status < 300 && this.guard.fallback?.recorder !== undefined)
      this.record();
    this.resolve();
  };

  private readonly onHandlerError = (err: unknown): void => {
    const wasLate = this.late;
    const running = this.isRunning;
    const e = err as { status?: unknown; statusCode?: unknown } | null;
    const s =
      typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 500;
    // ctx.throw(404) and friends are answers, not failures of the route.
    this.finish(s, s >= 500 ? err : undefined);
    if (running && s >= 500 && !this.ctx.res.headersSent && this.handlerFailed(err, () => this.reject(err)))
      return;
    // After a timeout the answer is out: a late error has nowhere to go and must not surface.
    if (!wasLate) this.reject(err);
  };

  /** Hands the handler's answer to the route's remembering fallback, when its body is data. */
  private record(): void {
    const ctx = this.ctx;
    if (ctx.method !== 'GET') return;
    const b = ctx.body as unknown;
    const body =
      typeof b === 'string' || b instanceof Uint8Array
        ? b
        : b !== null && typeof b === 'object' && typeof (b as { pipe?: unknown }).pipe !== 'function'
          ? JSON.stringify(b)
          : undefined;
    if (body !== undefined) this.recordAnswer(ctx.status, ctx.response.headers, body);
  }

  /** Called by the response's 'close' listener when the client left early. */
  clientClosed(): void {
    const waiting = this.waiting;
    this.clientGone();
    // Queued or waiting on the store: the handler will never run, so settle now.
    if (waiting) this.resolve();
  }
}

/**
 * Lets `onReject` set the answer to a timeout on `ctx`. Only what it sets before returning
 * counts (the refusal is written at once: an async one that awaits first is too late); when
 * it throws or sets no status, the default refusal is written instead. A promise it returns
 * is only kept from rejecting unhandled.
 */
function renderedByOnReject(onReject: KoaOnReject, refusal: Refusal, ctx: Context): boolean {
  let r: unknown;
  try {
    r = onReject(refusal, ctx);
  } catch {
    return false;
  }
  if (r && typeof (r as Promise<unknown>).then === 'function')
    (r as Promise<unknown>).then(undefined, () => {});
  // Koa answers 404 until someone sets a status: that would be no answer to a timeout.
  return (ctx.response as { _explicitStatus?: boolean })._explicitStatus === true;
}
