import type { GuardCall } from '../guard/GuardCall.js';

type ResponseHeaders = Readonly<Record<string, number | string | string[] | undefined>>;

/**
 * True when the handler's answer to `call` is one the route's fallback remembers: the
 * fallback has a recorder (`staleIfError`), the request is a GET and the handler is still
 * the one answering (not cut off by the deadline or the client leaving). Adapters check it
 * before copying a body, so a route that remembers nothing copies nothing.
 */
export function recordsAnswer(call: GuardCall): boolean {
  return call.guard.fallback?.recorder !== undefined && call.isRunning && call.requestMethod() === 'GET';
}

/**
 * Hands the handler's serialized answer to the route's remembering fallback: a 2xx whose
 * payload is text or bytes (a stream is not copied). The recorder bounds the size.
 */
export function recordPayload(
  call: GuardCall,
  status: number,
  headers: ResponseHeaders,
  payload: unknown,
): void {
  if (status < 200 || status > 299 || !recordsAnswer(call)) return;
  if (typeof payload === 'string' || payload instanceof Uint8Array)
    call.recordAnswer(status, headers, payload);
}

/**
 * Hands a web `Response` the handler answered with to the route's remembering fallback:
 * a 2xx read from a clone up to the recorder's `maxBodyBytes` (a longer body is dropped
 * unread beyond that bound), after the answer, without holding it up.
 */
export function recordWebResponse(call: GuardCall, res: Response): void {
  const status = res.status;
  if (status < 200 || status > 299 || !recordsAnswer(call)) return;
  const max = call.guard.fallback!.recorder!.maxBodyBytes;
  const length = res.headers.get('content-length');
  if (length !== null && Number(length) > max) return;
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    headers[name] = value;
  });
  if (res.body === null) return call.recordAnswer(status, headers, '');
  let copy: ReadableStream<Uint8Array>;
  try {
    copy = res.clone().body!;
  } catch {
    // A body already read or locked: there is nothing left to copy.
    return;
  }
  readUpTo(copy, max).then(
    (body) => {
      if (body !== undefined) call.recordAnswer(status, headers, body);
    },
    () => {},
  );
}

/** The whole stream when it holds at most `max` bytes; undefined (and the read cancelled) past it. */
async function readUpTo(stream: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array | undefined> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
