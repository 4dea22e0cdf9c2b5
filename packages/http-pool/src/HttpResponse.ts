/** Response headers: lower-case names; repeated ones as arrays. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/**
 * A response read in full: the pool reads (or discards) every body before it answers, so
 * a connection is never left hanging on a body nobody reads.
 */
export class HttpResponse {
  constructor(
    /** HTTP status. */
    readonly status: number,
    /** Response headers, lower-case names. */
    readonly headers: ResponseHeaders,
    /** The raw body. */
    readonly body: Buffer,
    /** The origin that answered, e.g. `'http://127.0.0.1:9000'`. */
    readonly origin: string,
  ) {}

  /** True for 2xx statuses. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** The body as UTF-8 text. */
  text(): Promise<string> {
    return Promise.resolve(this.body.toString('utf8'));
  }

  /** The body parsed as JSON (rejects with a `SyntaxError` when it is not JSON). */
  json<T = unknown>(): Promise<T> {
    try {
      return Promise.resolve(JSON.parse(this.body.toString('utf8')) as T);
    } catch (e) {
      return Promise.reject(e);
    }
  }
}
