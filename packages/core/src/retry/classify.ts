/** Methods safe to send twice (RFC 9110 §9.2.2), as undici's RetryHandler also assumes. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'PUT',
  'DELETE',
  'TRACE',
]);

/** Statuses retried by default: overloaded or briefly unavailable upstreams. */
export const DEFAULT_RETRY_STATUSES: readonly number[] = [429, 502, 503, 504];

/**
 * Error codes of failed connections (Node's and undici's). Core names no HTTP client: it
 * only reads `code` strings, so any client reporting these codes gets retried.
 */
export const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETDOWN',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The `code` of an error (or of its `cause`), if it has a string one. */
export function errorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const c = (e as { code?: unknown }).code;
  if (typeof c === 'string') return c;
  const cause = (e as { cause?: unknown }).cause;
  return cause === e ? undefined : errorCode(cause);
}

/** True when the error is a connection failure (by code, on the error or its cause). */
export function isConnectionError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const c = (e as { code?: unknown }).code;
  if (typeof c === 'string' && CONNECTION_ERROR_CODES.has(c)) return true;
  const cause = (e as { cause?: unknown }).cause;
  return cause !== undefined && cause !== e && isConnectionError(cause);
}
