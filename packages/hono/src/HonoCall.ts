import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Refusal } from '@breakwater/core';
import {
  onQueuedRequestGone,
  type ProxySetting,
  ResponseCall,
  type RouteGuard,
  runNext,
} from '@breakwater/core/adapter';
import type { Context, Next } from 'hono';

/** Hono trusts no proxy: behind one, `'ip'` keys are the proxy's address. */
const NO_PROXY_SETTING: ProxySetting = Object.freeze({
  trust: 'none',
  option: 'rateLimit.key',
  advice: "Hono reports the socket's peer, so key by the address your proxy sets (a key function)",
});

/** Hono `onReject`: return the answer to a refusal yourself. */
export type HonoOnReject = (refusal: Refusal, c: Context) => Response | Promise<Response>;

/** What @hono/node-server puts in `c.env`. */
type NodeBindings = { incoming?: IncomingMessage; outgoing?: ServerResponse };

/**
 * One Hono request under a route's guard. The middleware returns `done`: the `Response`
 * that answers in the handler's place, or nothing when the handler answered in time. On
 * @hono/node-server the request is read from Node's own and the client leaving is watched
 * on its response; elsewhere (`app.request()`) from Hono's.
 */
export class HonoCall extends ResponseCall {
  private readonly incoming: IncomingMessage | undefined;
  private readonly outgoing: ServerResponse | undefined;

  constructor(
    guard: RouteGuard,
    readonly c: Context,
    private readonly next: Next,
  ) {
    super(guard);
    const env = c.env as NodeBindings | undefined;
    const req = (this.incoming = env?.incoming);
    const res = (this.outgoing = env?.outgoing);
    if (res === undefined) return;
    res.on('close', () => {
      if (!res.writableFinished) this.clientClosed();
    });
    // Only a pipelined request waits socketless: the common case allocates no closure.
    if (res.socket === null && req !== undefined) onQueuedRequestGone(req, res, () => this.clientClosed());
  }

  clientIp(): string | undefined {
    // The socket's peer, where getConnInfo() reads it: Hono has no trust-proxy setting to apply.
    return this.incoming?.socket?.remoteAddress;
  }

  override proxySetting(): ProxySetting {
    return NO_PROXY_SETTING;
  }

  header(name: string): string | undefined {
    const incoming = this.incoming;
    if (incoming === undefined) return this.c.req.header(name);
    const v = incoming.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  /** On Node's response, which the server merges into its answer: through Hono, every answer would build a web `Headers`. */
  override setHeader(name: string, value: string): void {
    const res = this.outgoing;
    if (res === undefined) super.setHeader(name, value);
    else if (!res.headersSent) res.setHeader(name, value);
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

  protected invokeOnReject(onReject: HonoOnReject, refusal: Refusal): unknown {
    return onReject(refusal, this.c);
  }

  proceed(): void {
    // Set before the handler answers, they are part of the Response Hono builds.
    this.prepareHeaders(this.c.header);
    runNext(this.next, this.onHandlerDone, this.onHandlerError);
  }

  /**
   * Set as `c.res` outright: Hono keeps a response the handler set (even a late one) over
   * the one a middleware returns, and merges its headers into a response assigned over it.
   */
  protected deliver(res: Response): void {
    this.c.res = undefined;
    this.c.res = res;
  }

  protected addHeaders(headers: ReadonlyArray<readonly [string, string]>): void {
    for (const [name, value] of headers) this.c.header(name, value);
  }

  // Hono's error handler has answered what the handler threw: `c.error` from 500 up.
  private readonly onHandlerDone = (): void => this.handlerAnswered(this.c.res, this.c.error);
  private readonly onHandlerError = (err: unknown): void => this.handlerThrew(err);
}
