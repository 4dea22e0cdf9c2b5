import type { Response } from 'express';

function noop(): void {}
function returnThis(this: unknown): unknown {
  return this;
}

/**
 * Cuts a response off from its handler: writes become no-ops, `headersSent` reads false
 * so Express and error middleware take their ordinary paths without throwing, and the
 * handler's eventual `end()` (a send, or an error handler's reply) reports that it ended
 * (each call does; the guard's finish is idempotent).
 */
export function detach(res: Response, onEnd: () => void): void {
  const r = res as unknown as Record<string, unknown>;
  r.setHeader = returnThis;
  r.appendHeader = returnThis;
  r.removeHeader = noop;
  r.writeHead = returnThis;
  r.flushHeaders = noop;
  r.write = (_chunk: unknown, enc?: unknown, cb?: unknown) => {
    const fn = typeof enc === 'function' ? enc : cb;
    if (typeof fn === 'function') queueMicrotask(fn as () => void);
    return true;
  };
  r.end = (chunk?: unknown, enc?: unknown, cb?: unknown) => {
    const fn = typeof chunk === 'function' ? chunk : typeof enc === 'function' ? enc : cb;
    if (typeof fn === 'function') queueMicrotask(fn as () => void);
    // Every call is reported: the receiver decides which end is the handler's.
    onEnd();
    return res;
  };
  Object.defineProperty(res, 'headersSent', { configurable: true, get: () => false });
}
