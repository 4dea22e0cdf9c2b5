import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BreakwaterMetrics } from '../metrics/BreakwaterMetrics.js';

/**
 * Writes a whole answer with Node's own response methods, whatever the framework above
 * them. `close`: ask the client to close the connection after it (after a timeout the
 * late handler may still fail, and the framework then destroys the socket; closing it
 * ourselves keeps another request from sharing that socket).
 */
export function writeAnswer(
  res: ServerResponse,
  status: number,
  headers: ReadonlyArray<readonly [string, string]>,
  body: string | Buffer,
  close = false,
): void {
  res.statusCode = status;
  for (const [name, value] of headers) res.setHeader(name, value);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (close) res.setHeader('Connection', 'close');
  res.end(body);
}

/**
 * Calls `gone` if the client leaves while a pipelined request waits. Its response waits,
 * socketless, behind the ones before it; when the client leaves meanwhile Node destroys
 * the request but never closes that response, so its 'close' never comes.
 */
export function onQueuedRequestGone(req: IncomingMessage, res: ServerResponse, gone: () => void): void {
  if (res.socket !== null) return;
  req.once('close', () => {
    // Closed normally (the response went out), or the connection is still up: the
    // response's own 'close' covers it.
    if (!res.writableFinished && req.socket?.destroyed !== false) gone();
  });
}

/**
 * Records one request in the duration histogram when its response closes: its status,
 * or 499 (nginx's) when the client left before the answer was out. `pattern`: the
 * matched route, read then (undefined when none matched).
 */
export function recordResponse(
  m: BreakwaterMetrics,
  res: ServerResponse,
  method: string,
  start: number,
  pattern: string | undefined,
): void {
  const status = res.writableFinished ? res.statusCode : 499;
  (pattern === undefined ? m.unmatched : m.route(pattern)).observe(method, status, m.now() - start);
}
