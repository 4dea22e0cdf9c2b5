import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';

/** Response headers: lower-case names; repeated ones as arrays. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** Bytes a discarded streamed body may still be read to keep its connection (more: it is cut). */
const DUMP_LIMIT = 128 * 1024; // 128 KiB, as undici's `body.dump()`

/**
 * A response. By default the pool reads (or discards) every body before it answers, so a
 * connection is never left hanging on a body nobody reads, and `body` is a `Buffer`.
 * With `stream: true` the response comes at the headers and `body` is a Node `Readable`:
 * read it to its end or destroy it, since it holds its connection until then.
 */
export class HttpResponse<B extends Buffer | Readable = Buffer> {
  constructor(
    /** HTTP status. */
    readonly status: number,
    /** Response headers, lower-case names. */
    readonly headers: ResponseHeaders,
    /** The raw body: the bytes, or (with `stream: true`) a Readable of them. */
    readonly body: B,
    /** The origin that answered, e.g. `'http://127.0.0.1:9000'`. */
    readonly origin: string,
  ) {}

  /** True for 2xx statuses. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** The body as bytes (a streamed body is read to its end). */
  async bytes(): Promise<Buffer> {
    const b: Buffer | Readable = this.body;
    if (Buffer.isBuffer(b)) return b;
    const chunks: Buffer[] = [];
    for await (const c of b) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /** The body as UTF-8 text (a streamed body is read to its end). */
  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }

  /** The body parsed as JSON (rejects with a `SyntaxError` when it is not JSON). */
  async json<T = unknown>(): Promise<T> {
    return JSON.parse(await this.text()) as T;
  }

  /** The body as a web `ReadableStream` (cancelling it destroys a streamed body). */
  stream(): ReadableStream<Uint8Array> {
    const b: Buffer | Readable = this.body;
    return Readable.toWeb(Buffer.isBuffer(b) ? Readable.from([b]) : b) as ReadableStream<Uint8Array>;
  }

  /**
   * Lets go of the body: a streamed one is read on (and dropped) while it is small, so its
   * connection stays open for the next request, and destroyed past 128 KiB. Never rejects.
   */
  async discard(): Promise<void> {
    const b: Buffer | Readable = this.body;
    if (Buffer.isBuffer(b) || b.destroyed || b.readableEnded) return;
    let n = 0;
    try {
      for await (const c of b) {
        n += (c as Buffer).length;
        if (n > DUMP_LIMIT) break; // leaving the loop destroys the body
      }
    } catch {
      // An error ends the body as well as an end does.
    }
  }
}
