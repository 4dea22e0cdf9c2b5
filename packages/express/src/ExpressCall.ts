import type { Refusal } from '@breakwater/core';
import {
  HeldResponseCall,
  type ProxySetting,
  proxySettings,
  type RouteGuard,
} from '@breakwater/core/adapter';
import type { NextFunction, Request, Response } from 'express';

const TRUST = proxySettings(
  "app.set('trust proxy')",
  "set 'trust proxy' to the number of proxies in front of the app (say 1) or their addresses",
);

/** Express `onReject`: render the refusal yourself. */
export type ExpressOnReject = (refusal: Refusal, req: Request, res: Response, next: NextFunction) => unknown;

/** The `next` an `onReject` gets for a timeout: the request is answered, nothing follows. */
const ignoreNext: NextFunction = () => {};

/**
 * One Express request under a route's guard. Express hands the handler Node's own
 * response, so core's {@link HeldResponseCall} answers on it and detaches it from a
 * handler cut off; this class adds what Express knows: the client address, the proxy
 * setting, `onReject`'s arguments and `next`.
 */
export class ExpressCall extends HeldResponseCall {
  declare readonly req: Request;
  declare readonly res: Response;

  constructor(
    guard: RouteGuard,
    req: Request,
    res: Response,
    private readonly next: NextFunction,
  ) {
    super(guard, req, res);
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
    return v === false || v === undefined || v === 0 ? TRUST.none : v === true ? TRUST.all : TRUST.some;
  }

  nativeRequest(): unknown {
    return this.req;
  }

  /** Routers strip their mount path from `req.url`. */
  override requestPath(): string {
    return this.req.originalUrl;
  }

  callOnReject(onReject: ExpressOnReject, refusal: Refusal): unknown {
    // A timeout's onReject answers a request whose handler runs on: nothing may follow it.
    return onReject(refusal, this.req, this.res, this.late ? ignoreNext : this.next);
  }

  fail(error: unknown): void {
    this.next(error);
  }

  proceed(): void {
    this.watchAnswer();
    this.next();
  }
}
