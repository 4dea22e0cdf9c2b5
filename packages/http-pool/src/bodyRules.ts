import type { IncomingHttpHeaders } from 'node:http';
import { errorCode } from '@breakwater/core/extend';
import { PoolBodyTimeoutError, PoolResponseTooLargeError } from './errors.js';

/** How one request's response body is read: its size limit and how its errors are named. */
export interface BodyRules {
  /** The pool's name, for errors. */
  readonly pool: string;
  /** Largest body in bytes; -1 for none. */
  readonly limit: number;
  /** The pool's `bodyTimeout`, for the error undici's body timeout becomes. */
  readonly bodyTimeoutMs: number;
  /** Whether the response can carry a body at all (not for HEAD): `content-length` is then checked up front. */
  readonly expectsBody: boolean;
}

/** The refusal a response's `content-length` already earns, before any of its body is read. */
export function announcedTooLarge(
  rules: BodyRules,
  status: number,
  headers: IncomingHttpHeaders,
): PoolResponseTooLargeError | undefined {
  if (rules.limit < 0 || !rules.expectsBody || status === 204 || status === 304) return undefined;
  const cl = headers['content-length'];
  if (cl === undefined) return undefined;
  const n = Number(cl);
  return n > rules.limit ? new PoolResponseTooLargeError(rules.pool, rules.limit, n) : undefined;
}

/** undici's error as the pool reports it: its body timeout becomes a typed {@link PoolBodyTimeoutError}. */
export function bodyError(rules: BodyRules, e: unknown): unknown {
  return errorCode(e) === 'UND_ERR_BODY_TIMEOUT'
    ? new PoolBodyTimeoutError(rules.pool, rules.bodyTimeoutMs, e)
    : e;
}
