import { GuardCall, Phase, PROBLEM_CONTENT_TYPE, type Refusal, type RouteGuard } from '@breakwater/core';
import type { Context, Next } from 'koa';

/** Koa `onReject`: render the refusal yourself on `ctx`. */
export type KoaOnReject = (refusal: Refusal, ctx: Context) => unknown;

const kCall: unique symbol = Symbol('breakwater.call');
type GuardedRes = Context['res'] & { [kCall]?: KoaCall };

/**
 * One Koa request under a route's guard. The middleware's promise settles when the guard
 * refuses, when the deadline answers for the handler, or when the handler ends.
 */
export class KoaCall extends GuardCall {
  private resolve!: () => void;
  private reject!: (e: unknown) => void;
  /** What the middleware returns to Koa. */
  readonly done: Promise<void>;

  constructor(
    guard: RouteGuard,
    readonly ctx: Context,
    private readonly next: Next,
  ) {
    super(guard);
    this.done = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    (ctx.res as GuardedRes)[kCall] = this;
    ctx.res.on('close', onResponseClose);
  }

  clientIp(): string | undefined {
    // ctx.ip applies Koa's `app.proxy` setting.
    return this.ctx.ip;
  }

  header(name: string): string | undefined {
    const v = this.ctx.req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  nativeRequest(): unknown {
    return this.ctx;
  }

  setHeader(name: string, value: string): void {
    const res = this.ctx.res;
    // What ctx.set() does for a string value, minus its argument juggling.
    if (!res.headersSent) res.setHeader(name, value);
  }

  refuse(refusal: Refusal): void {
    this.write(refusal);
    this.resolve();
  }

  proceed(): void {
    let p: Promise<unknown>;
    try {
      p = this.next();
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(this.onHandlerDone, this.onHandlerError);
  }

  timedOut(refusal: Refusal): void {
    const ctx = this.ctx;
    // The late handler keeps its ctx; Koa must not send what it sets there afterwards,
    // so the refusal is written to the raw response and Koa's own reply is switched off.
    ctx.respond = false;
    const res = ctx.res;
    if (res.headersSent) res.destroy();
    else {
      const onReject = this.guard.onReject as KoaOnReject | undefined;
      if (onReject === undefined) writeRaw(res, refusal.status, refusal.headers, refusal.body);
      else {
        try {
          onReject(refusal, ctx);
        } catch {
          // Fall through to whatever onReject managed to set.
        }
        const body = ctx.body;
        const text =
          typeof body === 'string' || Buffer.isBuffer(body) ? body : body == null ? '' : JSON.stringify(body);
        writeRaw(
          res,
          ctx.status,
          Object.entries(ctx.response.headers).map(([k, v]) => [k, String(v)] as const),
          text,
        );
      }
    }
    this.resolve();
  }

  private write(refusal: Refusal): void {
    const onReject = this.guard.onReject as KoaOnReject | undefined;
    if (onReject) {
      try {
        const r = onReject(refusal, this.ctx);
        if (r && typeof (r as Promise<unknown>).then === 'function')
          (r as Promise<unknown>).then(undefined, (e) => this.reject(e));
      } catch (e) {
        this.reject(e);
      }
      return;
    }
    const ctx = this.ctx;
    ctx.status = refusal.status;
    for (const [name, value] of refusal.headers) ctx.set(name, value);
    ctx.type = PROBLEM_CONTENT_TYPE;
    ctx.body = refusal.body;
  }

  private readonly onHandlerDone = (): void => {
    const wasLate = this.phase !== Phase.Running;
    this.guard.finish(this, this.ctx.status, undefined);
    if (!wasLate) this.resolve();
  };

  private readonly onHandlerError = (err: unknown): void => {
    const wasLate = this.phase !== Phase.Running;
    const e = err as { status?: unknown; statusCode?: unknown } | null;
    const s =
      typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 500;
    // ctx.throw(404) and friends are answers, not failures of the route.
    this.guard.finish(this, s, s >= 500 ? err : undefined);
    // After a timeout the answer is out: a late error has nowhere to go and must not surface.
    if (!wasLate) this.reject(err);
  };

  /** Called by the response's 'close' listener when the client left early. */
  clientClosed(): void {
    const before = this.phase;
    this.guard.clientGone(this);
    // Queued or waiting on the store: the handler will never run, so settle now.
    if (before === Phase.Queued || before === Phase.Limiting) this.resolve();
  }
}

function writeRaw(
  res: Context['res'],
  status: number,
  headers: ReadonlyArray<readonly [string, string]>,
  body: string | Buffer,
): void {
  res.statusCode = status;
  for (const [name, value] of headers) res.setHeader(name, value);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

function onResponseClose(this: GuardedRes): void {
  const call = this[kCall];
  if (call === undefined || this.writableFinished) return;
  call.clientClosed();
}
