import { ConfigError } from '../errors.js';
import type {
  AnswerRecorder,
  Fallback,
  FallbackAnswer,
  FallbackContext,
  RecordedAnswer,
} from '../guard/fallback.js';
import { type Clock, systemClock } from '../util/clock.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { checkKeys, expectObject } from '../util/validate.js';

/** One remembered answer. `storedAt`: epoch milliseconds. */
export interface StaleEntry {
  status: number;
  headers: Record<string, string>;
  /** The body, base64 for bytes (`binary: true`) so any store can keep it as text. */
  body: string;
  binary: boolean;
  storedAt: number;
}

/**
 * Where {@link staleIfError} keeps its copies. The default keeps them in memory; a shared
 * store (Redis) lets a fleet serve what any instance saw last.
 */
export interface StaleStore {
  get(key: string): StaleEntry | undefined | Promise<StaleEntry | undefined>;
  /** `ttlMs`: how long the copy may still be served; the store may drop it after. */
  set(key: string, entry: StaleEntry, ttlMs: number): void | Promise<void>;
}

/** Options of {@link staleIfError}. */
export interface StaleIfErrorOptions {
  /** How old a copy may be and still be served. */
  maxAge: Duration;
  /** Copies kept in memory, least recently stored dropped first. Default 1000. */
  maxEntries?: number;
  /** Larger answers are not remembered. Default 1 MiB. */
  maxBodyBytes?: number;
  /** The copy's key. Default method + path + query (HEAD shares GET's copies). */
  key?: (ctx: Pick<FallbackContext, 'method' | 'path' | 'headers' | 'req'>) => string;
  /** Default: in memory, bounded by `maxEntries`. */
  store?: StaleStore;
  /** For tests. */
  clock?: Clock;
}

export type { AnswerRecorder, RecordedAnswer };

/** A fallback that also remembers: `fallback: staleIfError({ maxAge: '10m' })`. */
export type StaleIfErrorFallback = Fallback & { readonly recorder: AnswerRecorder };

/** Headers that describe one connection or one body encoding, not the answer. */
const SKIP = new Set([
  'connection',
  'content-length',
  'keep-alive',
  'transfer-encoding',
  'date',
  'set-cookie',
  'age',
  'breakwater-fallback',
  'ratelimit',
  'ratelimit-policy',
]);

/**
 * Whether an answer may be kept as a copy that other callers are served, by the rules of a
 * shared cache (RFC 9111 §3, §3.5): never one marked `no-store` or `private`, never one
 * that sets a cookie, and never the answer to a request carrying `Authorization` unless
 * the answer says `public` or the route keys its copies itself (by user, for example).
 */
function shareable(a: RecordedAnswer, customKey: boolean): boolean {
  let cacheControl = '';
  for (const k in a.responseHeaders) {
    const name = k.toLowerCase();
    if (name === 'set-cookie' && a.responseHeaders[k] !== undefined) return false;
    if (name === 'cache-control') cacheControl = String(a.responseHeaders[k] ?? '').toLowerCase();
  }
  if (cacheControl.includes('no-store') || cacheControl.includes('private')) return false;
  if (customKey || cacheControl.includes('public')) return true;
  for (const k in a.headers)
    if (k.toLowerCase() === 'authorization' && a.headers[k] !== undefined) return false;
  return true;
}

/** The in-memory store: a Map in insertion order, so the oldest copy is the first key. */
class MemoryStaleStore implements StaleStore {
  private readonly map = new Map<string, StaleEntry>();
  constructor(private readonly max: number) {}
  get(key: string): StaleEntry | undefined {
    return this.map.get(key);
  }
  set(key: string, entry: StaleEntry): void {
    this.map.delete(key);
    this.map.set(key, entry);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
}

function defaultKey(ctx: { method: string; path: string }): string {
  return `${ctx.method === 'HEAD' ? 'GET' : ctx.method} ${ctx.path}`;
}

/**
 * A ready fallback after RFC 5861's stale-if-error: remembers the route's last good
 * answer per key (2xx, GET and HEAD only, bounded in size and count) and serves it, with
 * `Age` and `Breakwater-Fallback`, when the route refuses or fails. Without a copy young
 * enough, the default answer goes out.
 *
 * ```ts
 * app.get('/prices', bw.route({ circuitBreaker: {}, fallback: staleIfError({ maxAge: '10m' }) }), handler);
 * ```
 */
export function staleIfError(options: StaleIfErrorOptions): StaleIfErrorFallback {
  const path = 'staleIfError';
  const o = expectObject(options, path);
  checkKeys(o, ['maxAge', 'maxEntries', 'maxBodyBytes', 'key', 'store', 'clock'], path);
  const maxAgeMs = parseDuration(options.maxAge, `${path}.maxAge`);
  if (maxAgeMs <= 0) throw new ConfigError(`${path}.maxAge`, options.maxAge, 'a duration greater than 0');
  const maxEntries = options.maxEntries ?? 1000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new ConfigError(`${path}.maxEntries`, options.maxEntries, 'an integer >= 1');
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0)
    throw new ConfigError(`${path}.maxBodyBytes`, options.maxBodyBytes, 'an integer >= 0');
  if (options.key !== undefined && typeof options.key !== 'function')
    throw new ConfigError(`${path}.key`, options.key, 'a function');
  const store = options.store ?? new MemoryStaleStore(maxEntries);
  if (typeof store.get !== 'function' || typeof store.set !== 'function')
    throw new ConfigError(`${path}.store`, options.store, 'a store with get(key) and set(key, entry, ttlMs)');
  const keyOf = options.key ?? defaultKey;
  const customKey = options.key !== undefined;
  const clock = options.clock ?? systemClock;

  const recorder: AnswerRecorder = {
    maxBodyBytes,
    record(a) {
      if (a.status < 200 || a.status > 299 || (a.method !== 'GET' && a.method !== 'HEAD')) return;
      // A HEAD answer has no body to serve a GET with.
      if (a.method === 'HEAD') return;
      if (!shareable(a, customKey)) return;
      const bytes = typeof a.body === 'string' ? Buffer.byteLength(a.body) : a.body.byteLength;
      if (bytes > maxBodyBytes) return;
      let key: string;
      try {
        key = keyOf(a);
      } catch {
        return;
      }
      if (typeof key !== 'string') return;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(a.responseHeaders)) {
        if (v === undefined || SKIP.has(k.toLowerCase())) continue;
        headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
      }
      const binary = typeof a.body !== 'string';
      const body = binary ? Buffer.from(a.body as Uint8Array).toString('base64') : (a.body as string);
      const entry: StaleEntry = { status: a.status, headers, body, binary, storedAt: clock.now() };
      try {
        const r = store.set(key, entry, maxAgeMs);
        // A shared store that fails costs the copy, nothing else.
        if (r && typeof (r as Promise<void>).then === 'function')
          (r as Promise<void>).then(undefined, () => {});
      } catch {
        // As above.
      }
    },
  };

  const fallback = async (ctx: FallbackContext): Promise<FallbackAnswer> => {
    const e = await store.get(keyOf(ctx));
    const age = e === undefined ? Number.POSITIVE_INFINITY : clock.now() - e.storedAt;
    // No answer: the default refusal goes out.
    if (e === undefined || age > maxAgeMs) return undefined as unknown as FallbackAnswer;
    return {
      status: e.status,
      headers: { ...e.headers, Age: String(Math.max(0, Math.floor(age / 1000))) },
      body: e.binary ? Buffer.from(e.body, 'base64') : e.body,
    };
  };
  return Object.assign(fallback, { recorder });
}
