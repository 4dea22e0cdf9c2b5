import { ConfigError, TimeoutError } from '../errors.js';
import { type Duration, parseDuration } from '../util/duration.js';
import type { RejectionReason } from './problem.js';

/** An answer a route gave, as adapters hand it to the recorder. */
export interface RecordedAnswer {
  method: string;
  path: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  req: unknown;
  status: number;
  responseHeaders: Readonly<Record<string, number | string | string[] | undefined>>;
  body: string | Uint8Array;
}

/** What a route's fallback may carry to see the route's good answers. */
export interface AnswerRecorder {
  readonly maxBodyBytes: number;
  record(answer: RecordedAnswer): void;
}

/**
 * Why a route's fallback is asked for an answer: a policy's refusal, or `'error'`, a
 * handler that threw, rejected, handed an error on, or answered ≥ 500 before its headers
 * went out.
 */
export type FallbackReason = RejectionReason | 'error';

/** What a fallback is told about the request it answers for. */
export interface FallbackContext<Req = unknown> {
  reason: FallbackReason;
  /** What the handler threw, for `'error'` (where the framework shows it); the typed refusal error otherwise. */
  error?: unknown;
  method: string;
  /** The route's name, as in metrics. */
  route: string;
  /** The request's path and query, as the client sent them. */
  path: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Aborts when the fallback's time (`fallbackTimeout`) is up: it is abandoned then. */
  signal: AbortSignal;
  /** The framework's request (Express `req`, Koa `ctx`, …). */
  req: Req;
}

/** A fallback's answer. `body`: a string or bytes as they are, any other value as JSON. */
export interface FallbackAnswer {
  /** Default 200. */
  status?: number;
  headers?: Record<string, string>;
  body: string | Uint8Array | object;
}

/** A route's fallback: a degraded answer in place of a refusal or a failure. */
export type Fallback<Req = any> = (ctx: FallbackContext<Req>) => FallbackAnswer | Promise<FallbackAnswer>;

/** An answer ready to be written: status, header pairs, body. */
export interface WireAnswer {
  status: number;
  headers: ReadonlyArray<readonly [string, string]>;
  body: string | Buffer;
}

const REASONS: readonly FallbackReason[] = [
  'rate_limited',
  'circuit_open',
  'bulkhead_full',
  'timeout',
  'overloaded',
  'error',
];
const DEFAULT_ON: readonly FallbackReason[] = [
  'circuit_open',
  'bulkhead_full',
  'timeout',
  'overloaded',
  'error',
];

/** The header that marks a degraded answer, with the reason as its value. */
export const FALLBACK_HEADER = 'Breakwater-Fallback';

/** How one fallback attempt ended: its answer was sent, or it failed and the default went out. */
export type FallbackResult = 'served' | 'failed';

/** A fallback attempt, as announced to metrics and logs. */
export interface FallbackEvent {
  route: string;
  reason: FallbackReason;
  result: FallbackResult;
}

/**
 * A route's built fallback: the function, the reasons it answers for and its time limit.
 * `answer()` never rejects: a fallback that throws, rejects, answers something unusable or
 * answers late resolves `undefined`, and the caller sends its default.
 */
export class RouteFallback {
  private readonly on: number;
  readonly timeoutMs: number;
  /** Present when the fallback remembers the route's good answers (`staleIfError`). */
  readonly recorder: AnswerRecorder | undefined;

  constructor(
    readonly fn: Fallback,
    on: readonly FallbackReason[] | undefined,
    timeout: Duration | undefined,
    path: string,
  ) {
    if (typeof fn !== 'function') throw new ConfigError(`${path}.fallback`, fn, 'a function');
    let mask = 0;
    const list = on ?? DEFAULT_ON;
    if (!Array.isArray(list))
      throw new ConfigError(`${path}.fallbackOn`, on, `an array of reasons (${REASONS.join(', ')})`);
    list.forEach((r, i) => {
      const bit = REASONS.indexOf(r);
      if (bit < 0) throw new ConfigError(`${path}.fallbackOn[${i}]`, r, `one of ${REASONS.join(', ')}`);
      mask |= 1 << bit;
    });
    this.on = mask;
    const rec = (fn as { recorder?: AnswerRecorder }).recorder;
    this.recorder = rec !== undefined && typeof rec.record === 'function' ? rec : undefined;
    this.timeoutMs = parseDuration(timeout ?? '1s', `${path}.fallbackTimeout`);
    if (this.timeoutMs <= 0)
      throw new ConfigError(`${path}.fallbackTimeout`, timeout, 'a duration greater than 0');
  }

  /** True when the fallback answers for `reason`. */
  covers(reason: FallbackReason): boolean {
    return (this.on & (1 << REASONS.indexOf(reason))) !== 0;
  }

  /** Runs the fallback within its time limit; `undefined` when it gave no usable answer in time. */
  answer(ctx: Omit<FallbackContext, 'signal'>): Promise<WireAnswer | undefined> {
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        ac.abort(new TimeoutError(this.timeoutMs));
        resolve(undefined);
      }, this.timeoutMs);
    });
    let work: Promise<WireAnswer | undefined>;
    try {
      work = Promise.resolve(this.fn({ ...ctx, signal: ac.signal })).then(
        (a) => toWire(a, ctx.reason),
        () => undefined,
      );
    } catch {
      work = Promise.resolve(undefined);
    }
    return Promise.race([work, late]).finally(() => clearTimeout(timer));
  }
}

/** A fallback's answer as it goes on the wire; `undefined` when it cannot be sent. */
export function toWire(a: FallbackAnswer | undefined, reason: FallbackReason): WireAnswer | undefined {
  if (a === null || typeof a !== 'object') return undefined;
  const status = a.status ?? 200;
  if (!Number.isInteger(status) || status < 200 || status > 599) return undefined;
  const headers: Array<readonly [string, string]> = [];
  let typed = false;
  if (a.headers !== undefined) {
    if (a.headers === null || typeof a.headers !== 'object') return undefined;
    for (const [k, v] of Object.entries(a.headers)) {
      if (typeof v !== 'string') return undefined;
      const lower = k.toLowerCase();
      if (lower === 'content-length' || lower === FALLBACK_HEADER.toLowerCase()) continue;
      if (lower === 'content-type') typed = true;
      headers.push([k, v]);
    }
  }
  const b = a.body;
  let body: string | Buffer;
  if (typeof b === 'string') {
    body = b;
    if (!typed) headers.push(['Content-Type', 'text/plain; charset=utf-8']);
  } else if (b instanceof Uint8Array) {
    body = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    if (!typed) headers.push(['Content-Type', 'application/octet-stream']);
  } else {
    let json: string | undefined;
    try {
      json = JSON.stringify(b);
    } catch {
      return undefined;
    }
    if (json === undefined) return undefined;
    body = json;
    if (!typed) headers.push(['Content-Type', 'application/json; charset=utf-8']);
  }
  headers.push([FALLBACK_HEADER, reason]);
  return { status, headers, body };
}
