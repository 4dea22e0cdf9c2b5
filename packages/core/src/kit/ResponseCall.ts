import type { WireAnswer } from '../guard/fallback.js';
import { GuardCall } from '../guard/GuardCall.js';
import type { Refusal } from '../guard/problem.js';
import { promiseFor } from '../util/promiseFor.js';
import { recordWebResponse } from './recordAnswer.js';

const noop = (): void => {};

/** True for a web `Response` (any implementation of it: the runtime's, a server's own). */
export function isResponse(r: unknown): r is Response {
  return typeof r === 'object' && r !== null && 'status' in r && 'headers' in r;
}

/** A core answer as a web `Response`; `extra`: headers gathered before it, added unless it has them. */
export function toResponse(
  status: number,
  headers: ReadonlyArray<readonly [string, string]>,
  body: string | Uint8Array,
  extra?: ReadonlyArray<readonly [string, string]>,
): Response {
  const h = new Headers(headers as [string, string][]);
  if (extra !== undefined) for (const [name, value] of extra) if (!h.has(name)) h.set(name, value);
  return new Response(body as ConstructorParameters<typeof Response>[0], { status, headers: h });
}

/**
 * A {@link GuardCall} for a framework whose middleware answers with a web `Response`
 * (fetch-style, as Hono). `done` settles with the `Response` that answers in the handler's
 * place (a refusal, a fallback, the deadline's answer), or with undefined once the handler
 * has answered in time; it rejects with what the handler or `onReject` threw. The subclass
 * reads the request, calls `onReject` (`invokeOnReject`), runs the handler (reporting its
 * end with `handlerAnswered` or `handlerThrew`), and says how its framework takes an answer
 * (`deliver`, `addHeaders`).
 */
export abstract class ResponseCall extends GuardCall {
  /** Settle `done`; set as the promise is made. */
  resolve: (answer: Response | undefined) => void = noop;
  reject: (e: unknown) => void = noop;
  /** What the middleware returns to the framework. */
  readonly done: Promise<Response | undefined>;
  /** Headers for the eventual answer (rate-limit state), added once the handler has answered. */
  private headers: Array<readonly [string, string]> | undefined;
  /** The gathered headers were handed to the framework before the handler ran. */
  private prepared = false;
  private settled = false;

  constructor(guard: GuardCall['guard']) {
    super(guard);
    this.done = promiseFor<Response | undefined>(this);
  }

  /** Makes `res` the framework's answer to the request (before `done` settles with it). */
  protected abstract deliver(res: Response): void;
  /** Adds headers to the answer the handler gave. */
  protected abstract addHeaders(headers: ReadonlyArray<readonly [string, string]>): void;

  setHeader(name: string, value: string): void {
    (this.headers ??= []).push([name, value]);
  }

  /**
   * Hands the headers gathered so far (rate-limit state) to `prepare`, the framework's way
   * of setting headers on the answer still to be made: adding them to an answer already
   * made rebuilds it (in Hono, a copy of the whole `Response`), a cost on every request.
   * An answer that does not carry them (one the handler built itself) gets them after.
   */
  protected prepareHeaders(prepare: (name: string, value: string) => void): void {
    const h = this.headers;
    if (h === undefined) return;
    for (const [name, value] of h) prepare(name, value);
    this.prepared = true;
  }

  send(a: WireAnswer): void {
    this.answer(toResponse(a.status, a.headers, a.body, this.headers));
  }

  sendLate(a: WireAnswer): void {
    this.send(a);
  }

  fail(error: unknown): void {
    this.reject(error);
  }

  cutOff(): boolean {
    // Nothing is written before `done` settles: the late handler's answer is ignored.
    return true;
  }

  /** Calls the route's `onReject` with the framework's arguments: a `Response`, or a promise of one. */
  protected abstract invokeOnReject(onReject: (...args: any[]) => unknown, refusal: Refusal): unknown;

  /**
   * Answers with what `onReject` returned: a `Response`, or a promise of one (returned: a
   * rejection is the caller's); the refusal itself when it gave none.
   */
  callOnReject(onReject: (...args: any[]) => unknown, refusal: Refusal): unknown {
    const r = this.invokeOnReject(onReject, refusal);
    const answer = (res: unknown) => (isResponse(res) ? this.answer(res) : this.send(refusal));
    if (r && typeof (r as PromiseLike<unknown>).then === 'function')
      return (r as PromiseLike<unknown>).then(answer);
    answer(r);
  }

  /**
   * The deadline answers at once: with the `Response` `onReject` returns, else (it threw, or
   * returned a promise the deadline does not wait for) the default refusal.
   */
  timedOut(refusal: Refusal): void {
    const onReject = this.guard.onReject;
    let r: unknown;
    try {
      r = onReject === undefined ? undefined : this.invokeOnReject(onReject, refusal);
    } catch {
      r = undefined;
    }
    if (isResponse(r)) return this.answer(r);
    if (r && typeof (r as PromiseLike<unknown>).then === 'function')
      (r as Promise<unknown>).then(undefined, noop);
    this.send(refusal);
  }

  /**
   * The handler has answered `res` in time or late; `error`: what it threw, when the
   * framework's error handler made `res` of it (a failure from 500 up).
   */
  protected handlerAnswered(res: Response, error: unknown): void {
    const running = this.isRunning;
    const late = this.late;
    const status = res.status;
    recordWebResponse(this, res);
    const e = status >= 500 ? error : undefined;
    this.finish(status, e);
    // After a timeout the answer is the guard's (out already, or a fallback's to come).
    if (late) return;
    if (status >= 500 && running && this.handlerFailed(e, () => this.kept(res))) return;
    this.kept(res);
  }

  /** The handler threw past the framework's error handling. */
  protected handlerThrew(err: unknown): void {
    const late = this.late;
    this.finish(500, err);
    // After a timeout a late error has nowhere to go and must not surface.
    if (!late) this.reject(err);
  }

  /** The client left early. */
  clientClosed(): void {
    const waiting = this.waiting;
    this.clientGone();
    // Queued or waiting on the store: the handler will never run; the answer goes nowhere.
    if (waiting) this.resolve(new Response(null, { status: 503 }));
  }

  /** The handler's answer stands, with the gathered headers. */
  private kept(res: Response): void {
    const h = this.headers;
    if (h !== undefined && !(this.prepared && res.headers.has(h[0]![0]))) this.addHeaders(h);
    this.resolve(undefined);
  }

  /** Settles `done` with `res`, once. */
  private answer(res: Response): void {
    if (this.settled) return;
    this.settled = true;
    this.deliver(res);
    this.resolve(res);
  }
}
