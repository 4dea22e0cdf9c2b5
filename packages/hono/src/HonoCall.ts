import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Refusal } from '@breakwater/core';
import {
  GuardCall,
  onQueuedRequestGone,
  promiseFor,
  type RouteGuard,
  type WireAnswer,
} from '@breakwater/core/adapter';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, Next } from 'hono';

/** Hono `onReject`: return the answer to a refusal yourself. */
export type HonoOnReject = (refusal: Refusal, c: Context) => Response | Promise<Response>;

/** What @hono/node-server puts in `c.env`. */
interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

const noop = (): void => {};

function isResponse(r: unknown): r is Response {
  return typeof r === 'object' && r !== null && 'status' in r && 'headers' in r;
}

/** A core answer as a `Response`; `extra`: headers the request had gathered before it. */
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
 * One Hono request under a route's guard. The middleware's promise settles with the
 * refusal's `Response` when the guard refuses or the deadline answers for the handler,
 * and with nothing when the handler has answered in time.
 */
export class HonoCall extends GuardCall {
  /** Settle `done`; set as the promise is made. */
  resolve: (answer: Response | undefined) => void = noop;
  reject: (e: unknown) => void = noop;
  /** What the middleware returns to Hono. */
  readonly done: Promise<Response | undefined>;
  /** Headers for the eventual answer (rate-limit state), set once the handler has answered. */
  private headers: Array<readonly [string, string]> | undefined;
  private readonly incoming: IncomingMessage | undefined;

  constructor(
    guard: RouteGuard,
    readonly c: Context,
    private readonly next: Next,
  ) {
    super(guard);
    this.done = promiseFor<Response | undefined>(this);
    const env = c.env as NodeBindings | undefined;
    this.incoming = env?.incoming;
    const res = env?.outgoing;
    if (res === undefined) return;
    res.on('close', () => {
      if (!res.writableFinished) this.clientClosed();
    });
    // Only a pipelined request waits socketless: the common case allocates no closure.
    if (res.socket === null && this.incoming !== undefined)
      onQueuedRequestGone(this.incoming, res, () => this.clientClosed());
  }

  clientIp(): string | undefined {
    // The socket's peer: Hono has no trust-proxy setting to apply.
    try {
      return getConnInfo(this.c).remote.address;
    } catch {
      return undefined;
    }
  }

  header(name: string): string | undefined {
    const incoming = this.incoming;
    if (incoming === undefined) return this.c.req.header(name);
    const v = incoming.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  requestMethod(): string {
    return this.c.req.method;
  }

  requestPath(): string {
    const url = this.incoming?.url;
    if (url !== undefined) return url;
    const u = new URL(this.c.req.url);
    return u.pathname + u.search;
  }

  requestHeaders(): Readonly<Record<string, string | string[] | undefined>> {
    return this.incoming?.headers ?? Object.fromEntries(this.c.req.raw.headers);
  }

  nativeRequest(): unknown {
    return this.c;
  }

  setHeader(name: string, value: string): void {
    (this.headers ??= []).push([name, value]);
  }

  send(a: WireAnswer): void {
    this.answer(this.withHeaders(a));
  }

  callOnReject(onReject: HonoOnReject, refusal: Refusal): unknown {
    return this.rendered(onReject(refusal, this.c), refusal);
  }

  /**
   * Answers with what `onReject` returned: a `Response`, or a promise of one (a rejection
   * is the caller's); the refusal itself when it gave none.
   */
  private rendered(r: unknown, refusal: Refusal): unknown {
    const answer = (res: unknown) => this.answer(isResponse(res) ? res : this.withHeaders(refusal));
    if (r && typeof (r as PromiseLike<unknown>).then === 'function')
      return (r as PromiseLike<unknown>).then(answer);
    answer(r);
  }

  fail(error: unknown): void {
    this.reject(error);
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
    const onReject = this.guard.onReject as HonoOnReject | undefined;
    if (onReject === undefined) return this.sendLate(refusal);
    try {
      const p = this.rendered(onReject(refusal, this.c), refusal) as Promise<unknown> | undefined;
      p?.then(undefined, () => this.sendLate(refusal));
    } catch {
      this.sendLate(refusal);
    }
  }

  cutOff(): boolean {
    // Nothing is written before the middleware settles: the late handler's answer is ignored.
    return true;
  }

  sendLate(a: WireAnswer): void {
    this.answer(this.withHeaders(a));
  }

  /** An answer in the handler's place, with the headers gathered for the handler's answer. */
  private withHeaders(a: WireAnswer): Response {
    return toResponse(a.status, a.headers, a.body, this.headers);
  }

  /**
   * Settles the middleware with `res`, set as `c.res` outright: Hono keeps a response the
   * handler set (even a late one) over the one a middleware returns, and merges its headers
   * into a response assigned over it.
   */
  private answer(res: Response): void {
    if (this.settled) return;
    this.settled = true;
    this.c.res = undefined;
    this.c.res = res;
    this.resolve(res);
  }
  private settled = false;

  private readonly onHandlerDone = (): void => {
    const running = this.isRunning;
    const late = this.late;
    const c = this.c;
    const status = c.res.status;
    // Hono's error handler has answered what the handler threw: a failure from 500 up.
    const error = status >= 500 ? c.error : undefined;
    this.finish(status, error);
    // After a timeout the answer is the guard's (out already, or a fallback's to come).
    if (late) return;
    if (status >= 500 && running && this.handlerFailed(error, () => this.applyHeaders())) return;
    this.applyHeaders();
  };

  /** The handler answered in time: its answer goes out with the gathered headers. */
  private applyHeaders(): void {
    if (this.headers !== undefined) for (const [name, value] of this.headers) this.c.header(name, value);
    this.resolve(undefined);
  }

  private readonly onHandlerError = (err: unknown): void => {
    const late = this.late;
    this.finish(500, err);
    // After a timeout a late error has nowhere to go and must not surface.
    if (!late) this.reject(err);
  };

  /** The client left early. */
  private clientClosed(): void {
    const waiting = this.waiting;
    this.clientGone();
    // Queued or waiting on the store: the handler will never run; the answer goes nowhere.
    if (waiting) this.resolve(new Response(null, { status: 503 }));
  }
}
