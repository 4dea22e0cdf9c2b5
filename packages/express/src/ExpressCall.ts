import type { Refusal } from '@breakwater/core';
import {
  captureAnswer,
  detachResponse as detach,
  endStream,
  GuardCall,
  onQueuedRequestGone,
  type ProxySetting,
  type RouteGuard,
  type StreamSink,
  type WireAnswer,
  watchForErrors,
  watchResponse,
  writeAnswer,
  writeDetached,
} from '@breakwater/core/adapter';
import type { NextFunction, Request, Response } from 'express';

const TRUST_PROXY = "app.set('trust proxy')";
const TRUST_ADVICE =
  "set 'trust proxy' to the number of proxies in front of the app (say 1) or their addresses";
const TRUST_NONE: ProxySetting = Object.freeze({ trust: 'none', option: TRUST_PROXY, advice: TRUST_ADVICE });
const TRUST_SOME: ProxySetting = Object.freeze({ trust: 'some', option: TRUST_PROXY, advice: TRUST_ADVICE });
const TRUST_ALL: ProxySetting = Object.freeze({ trust: 'all', option: TRUST_PROXY, advice: TRUST_ADVICE });

/** Express `onReject`: render the refusal yourself. */
export type ExpressOnReject = (refusal: Refusal, req: Request, res: Response, next: NextFunction) => unknown;

function ignore(): void {}
/** The `next` an `onReject` gets for a timeout: the request is answered, nothing follows. */
const ignoreNext: NextFunction = () => {};

/** One Express request under a route's guard: translates the guard's steps to req/res/next. */
export class ExpressCall extends GuardCall implements StreamSink {
  /** The response's 'close' has been handled. */
  closeSeen = false;
  constructor(
    guard: RouteGuard,
    readonly req: Request,
    readonly res: Response,
    private readonly next: NextFunction,
  ) {
    super(guard);
  }

  clientIp(): string | undefined {
    const req = this.req;
    // Without X-Forwarded-For, req.ip is the socket's address whatever the trust-proxy
    // setting, so the proxy-addr walk (an array and a parse per request) is skipped.
    if (req.headers['x-forwarded-for'] === undefined) return req.socket?.remoteAddress;
    // req.ip applies Express's trust-proxy setting.
    return req.ip ?? req.socket?.remoteAddress;
  }

  override proxySetting(): ProxySetting | undefined {
    const app = this.req.app as Request['app'] | undefined;
    if (app === undefined) return undefined;
    // The raw setting: false by default, true for "trust everything", else a count, list or function.
    const v: unknown = app.get('trust proxy');
    return v === false || v === undefined || v === 0 ? TRUST_NONE : v === true ? TRUST_ALL : TRUST_SOME;
  }

  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  nativeRequest(): unknown {
    return this.req;
  }

  requestMethod(): string {
    return this.req.method;
  }

  requestPath(): string {
    return this.req.originalUrl;
  }

  requestHeaders(): Request['headers'] {
    return this.req.headers;
  }

  setHeader(name: string, value: string): void {
    // Called before the handler runs, so nothing is sent yet; a try costs nothing until it throws.
    try {
      this.res.setHeader(name, value);
    } catch {
      // Headers already out: there is nothing left to add them to.
    }
  }

  send(a: WireAnswer): void {
    if (!this.res.headersSent) writeAnswer(this.res, a.status, a.headers, a.body);
  }

  callOnReject(onReject: ExpressOnReject, refusal: Refusal): unknown {
    return onReject(refusal, this.req, this.res, this.next);
  }

  fail(error: unknown): void {
    this.next(error);
  }

  proceed(): void {
    // Routes with timeout.firstByte/idle only: the others pay this one field check.
    if (this.guard.engine.stream) watchResponse(this, this.res, this);
    const fb = this.guard.fallback;
    if (fb !== undefined) {
      if (fb.covers('error')) watchForErrors(this, this.res);
      if (fb.recorder !== undefined && this.req.method === 'GET')
        captureAnswer(this, this.res, fb.recorder.maxBodyBytes);
    }
    this.next();
  }

  timedOut(refusal: Refusal): void {
    const res = this.res;
    if (res.headersSent) {
      // Part of the answer is out already: the only honest end is to cut it short.
      res.destroy();
    } else {
      const onReject = this.guard.onReject as ExpressOnReject | undefined;
      if (onReject === undefined || !this.renderTimeout(onReject, refusal)) sendRefusal(res, refusal, true);
    }
    detach(res, this.onLateEnd);
  }

  /** The stream stayed silent past `timeout.idle`: its body is terminated, the handler cut off. */
  cutStream(): void {
    detach(this.res, ignore);
    endStream(this.res);
  }

  cutOff(): boolean {
    const res = this.res;
    const open = !res.headersSent;
    if (!open) res.destroy();
    detach(res, this.onLateEnd);
    return open;
  }

  sendLate(a: WireAnswer): void {
    writeDetached(this.res, a);
  }

  /** An async onReject still running after a timeout; its late writes must not count as the handler's end. */
  private lateReject: Promise<unknown> | undefined;
  private lateRejectEnds = 0;

  /** The detached response's `end()`: the late handler has ended, unless a late onReject wrote it. */
  private readonly onLateEnd = (): void => {
    if (this.lateReject === undefined) return this.finish(0, undefined);
    this.lateRejectEnds++;
  };

  private lateRejectSettled = (): void => {
    this.lateReject = undefined;
    // onReject holds the same response as the handler, so one end while it ran is either's.
    // Read as the handler's: a slot held forever (an onReject that writes nothing while the
    // handler ends) is worse than one released early (an onReject that writes after an
    // await, which the timeout path ignores anyway, while the handler still runs).
    if (this.lateRejectEnds >= 1) this.finish(0, undefined);
  };

  /**
   * Lets `onReject` answer a timeout. The response is cut off from the late handler right
   * after, so only what onReject sends before returning counts: when it throws, or returns
   * without having answered (an async one awaiting first), false, and the default refusal
   * goes out instead. A promise it returns is only kept from rejecting unhandled.
   */
  private renderTimeout(onReject: ExpressOnReject, refusal: Refusal): boolean {
    try {
      const r = onReject(refusal, this.req, this.res, ignoreNext);
      if (r && typeof (r as Promise<unknown>).then === 'function') {
        const p = (r as Promise<unknown>).then(undefined, ignore);
        if (!this.res.headersSent) {
          this.lateReject = p;
          p.then(this.lateRejectSettled);
        }
      }
    } catch {
      // Fall back to the default refusal below, unless onReject got its answer out first.
    }
    return this.res.headersSent;
  }
}

/**
 * The guarded response closed. 'close' follows 'finish' on a completed response and comes
 * alone when the client left.
 */
function responseClosed(res: Response, call: ExpressCall): void {
  // Once per response, whichever listener gets here first.
  if (call.closeSeen) return;
  call.closeSeen = true;
  if (call.isRunning) {
    if (res.writableEnded) call.finish(res.statusCode, undefined);
    else {
      call.clientGone();
      // The handler is still running: its slot is released when it ends.
      detach(res, () => call.finish(0, undefined));
    }
  } else if (call.waiting) call.clientGone();
}

export function attach(res: Response, call: ExpressCall): void {
  // A closure per request rather than a property on `res`: Express gives every response a
  // hidden class of its own, so a property added to one builds a new hidden class (work
  // and garbage each time) where a closure is one small young object.
  res.on('close', () => responseClosed(res, call));
  // Without this a pipelined request whose client left would hold its slot forever.
  // Only a pipelined request waits socketless: the common case allocates no closure.
  if (res.socket === null) onQueuedRequestGone(call.req, res, () => responseClosed(res, call));
}

/** The default refusal; `close` after a timeout (see writeAnswer). */
function sendRefusal(res: Response, refusal: Refusal, close: boolean): void {
  if (!res.headersSent) writeAnswer(res, refusal.status, refusal.headers, refusal.body, close);
}
