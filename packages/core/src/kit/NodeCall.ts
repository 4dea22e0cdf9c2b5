import { type IncomingMessage, ServerResponse } from 'node:http';
import type { WireAnswer } from '../guard/fallback.js';
import type { CallGuard } from '../guard/GuardCall.js';
import { GuardCall } from '../guard/GuardCall.js';
import type { Refusal } from '../guard/problem.js';
import { onQueuedRequestGone, writeAnswer } from './nodeHttp.js';

/**
 * Set to true by an adapter's app middleware whose 'close' listener (its request metrics)
 * tells the request's call that the response closed, so the call adds no listener of its
 * own. A {@link NodeCall} reads it on Node's request; an adapter with a call of its own
 * reads it where it sets it (Koa: on `ctx`).
 */
export const CLOSE_WATCHED: unique symbol = Symbol('breakwater.closeWatched');
type WatchedRequest = IncomingMessage & { [CLOSE_WATCHED]?: true };

/**
 * A {@link GuardCall} for a framework whose request and response are Node's own (or
 * wrap them): the method, path and headers are read from `req`, the client leaving is
 * watched on `res`, and answers after a cut-off are written with Node's methods. The
 * subclass adds the framework's half: the client address, the handler's run, `send`,
 * `cutOff`.
 */
export abstract class NodeCall extends GuardCall {
  constructor(
    guard: CallGuard,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {
    super(guard);
    // Unless the adapter's own 'close' listener (its request metrics) calls responseClosed():
    // one listener where two would cost an array and its copy on every close.
    if ((req as WatchedRequest)[CLOSE_WATCHED] !== true) res.on('close', () => this.responseClosed());
    // Only a pipelined request waits socketless: the common case allocates no closure.
    if (res.socket === null) onQueuedRequestGone(req, res, () => this.responseClosed());
  }

  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  requestMethod(): string {
    return this.req.method ?? 'GET';
  }

  requestPath(): string {
    return this.req.url ?? '/';
  }

  requestHeaders(): IncomingMessage['headers'] {
    return this.req.headers;
  }

  /** Before the handler runs (rate-limit state), or onto a response whose headers are out: dropped. */
  setHeader(name: string, value: string): void {
    // Called before the handler runs, so nothing is sent yet: a try costs nothing until it
    // throws, where `headersSent` is a getter on every call.
    try {
      this.res.setHeader(name, value);
    } catch {
      // Headers already out: there is nothing left to add them to.
    }
  }

  /** With `Connection: close`: the late handler may still fail and have its socket destroyed. */
  sendLate(a: WireAnswer): void {
    const res = this.res;
    if (!res.headersSent && !res.destroyed) writeAnswer(res, a.status, a.headers, a.body, true);
  }

  /**
   * Lets `onReject` answer a timeout on the response itself, then writes the default
   * refusal unless it did. Only what it writes before returning counts (the handler is cut
   * off right after); a throw means the default, a returned promise is only kept from
   * rejecting unhandled.
   */
  protected renderTimeout(refusal: Refusal): void {
    const onReject = this.guard.onReject;
    if (onReject !== undefined) {
      try {
        const r = this.callOnReject(onReject, refusal);
        if (r && typeof (r as Promise<unknown>).then === 'function')
          (r as Promise<unknown>).then(undefined, noop);
      } catch {
        // The default refusal goes out instead.
      }
    }
    this.sendLate(refusal);
  }

  /**
   * The response closed: after the answer (the handler's end), or alone when the client
   * left, when the running handler is cut off and its slot waits for its end.
   */
  responseClosed(): void {
    if (this.isRunning) {
      if (this.res.writableEnded) return this.finish(this.res.statusCode, undefined);
      this.clientGone();
      this.cutOff();
    } else if (this.waiting) this.clientGone();
  }
}

function noop(): void {}

/**
 * A response on no socket, to hand a handler that has been cut off: writes are dropped
 * (their callbacks still called), and `end()` calls `onEnd` and reads as finished, so the
 * framework above takes its ordinary path and nothing throws or warns.
 */
export function sinkResponse(req: IncomingMessage, onEnd: () => void): ServerResponse {
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
    // writableEnded reads it: the framework then sees the response as sent.
    (s as { finished: boolean }).finished = true;
    onEnd();
    // For whoever awaits the response or pipes into it.
    process.nextTick(() => {
      s.emit('finish');
      s.emit('close');
    });
    return s;
  };
  return s;
}
