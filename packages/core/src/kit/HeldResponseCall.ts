import type { WireAnswer } from '../guard/fallback.js';
import type { Refusal } from '../guard/problem.js';
import type { StreamSink } from '../guard/StreamWatch.js';
import { NodeCall } from './NodeCall.js';
import { writeAnswer } from './nodeHttp.js';
import { captureAnswer, detachResponse, watchForErrors, writeDetached } from './nodeResponse.js';
import { endStream, watchResponse } from './nodeStream.js';

function noop(): void {}

/**
 * A {@link NodeCall} for a framework that hands its handler Node's own response and cannot
 * swap it for another (Express's `res`). Once the handler is cut off, the response is
 * detached from it (its writes dropped, its `end()` reported as the handler's end) and
 * the guard writes on it with Node's own methods. The subclass adds the client address,
 * `callOnReject`, `fail`, and `proceed`, which calls {@link watchAnswer} before running
 * the handler.
 */
export abstract class HeldResponseCall extends NodeCall implements StreamSink {
  /** An async onReject still running after a timeout; its late writes must not count as the handler's end. */
  private lateReject: Promise<unknown> | undefined;
  private lateRejectEnds = 0;

  /**
   * Before the handler runs: the watches its route asks for on the response (stream
   * timeouts, a fallback on errors, a remembering fallback's copy). A route with none pays
   * three field reads.
   */
  protected watchAnswer(): void {
    const res = this.res;
    if (this.guard.engine.stream) watchResponse(this, res, this);
    const fb = this.guard.fallback;
    if (fb === undefined) return;
    if (fb.covers('error')) watchForErrors(this, res);
    if (fb.recorder !== undefined && this.req.method === 'GET')
      captureAnswer(this, res, fb.recorder.maxBodyBytes);
  }

  send(a: WireAnswer): void {
    if (!this.res.headersSent) writeAnswer(this.res, a.status, a.headers, a.body);
  }

  timedOut(refusal: Refusal): void {
    const res = this.res;
    // Part of the answer is out already: the only honest end is to cut it short.
    if (res.headersSent) res.destroy();
    else if (!this.onRejectAnswered(refusal))
      writeAnswer(res, refusal.status, refusal.headers, refusal.body, true);
    detachResponse(res, this.onLateEnd);
  }

  /** The stream stayed silent past `timeout.idle`: its body is terminated, the handler cut off. */
  cutStream(): void {
    detachResponse(this.res, noop);
    endStream(this.res);
  }

  cutOff(): boolean {
    const res = this.res;
    const open = !res.headersSent;
    if (!open) res.destroy();
    detachResponse(res, this.onLateEnd);
    return open;
  }

  override sendLate(a: WireAnswer): void {
    writeDetached(this.res, a);
  }

  /** The detached response's `end()`: the late handler has ended, unless a late onReject wrote it. */
  private readonly onLateEnd = (): void => {
    if (this.lateReject === undefined) return this.finish(0, undefined);
    this.lateRejectEnds++;
  };

  private readonly lateRejectSettled = (): void => {
    this.lateReject = undefined;
    // onReject holds the same response as the handler, so one end while it ran is either's.
    // Read as the handler's: a slot held forever (an onReject that writes nothing while the
    // handler ends) is worse than one released early (an onReject that writes after an
    // await, which the timeout path ignores anyway, while the handler still runs).
    if (this.lateRejectEnds >= 1) this.finish(0, undefined);
  };

  /**
   * Lets `onReject` answer a timeout on the response, before it is detached from the late
   * handler: only what it sends before returning counts. False when it throws or returns
   * without having answered (an async one awaiting first): the default refusal goes out.
   * A promise it returns is only kept from rejecting unhandled.
   */
  private onRejectAnswered(refusal: Refusal): boolean {
    const onReject = this.guard.onReject;
    if (onReject === undefined) return false;
    try {
      const r = this.callOnReject(onReject, refusal);
      if (r && typeof (r as Promise<unknown>).then === 'function') {
        const p = (r as Promise<unknown>).then(undefined, noop);
        if (!this.res.headersSent) {
          this.lateReject = p;
          p.then(this.lateRejectSettled);
        }
      }
    } catch {
      // The default refusal goes out, unless onReject got its answer out first.
    }
    return this.res.headersSent;
  }
}
