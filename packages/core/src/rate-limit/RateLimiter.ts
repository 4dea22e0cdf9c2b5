import { createHash } from 'node:crypto';
import { ConfigError, RateLimitedError } from '../errors.js';
import { type Clock, systemClock } from '../util/clock.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { Emitter, type Event } from '../util/events.js';
import { neverAbortedSignal } from '../util/signal.js';
import { checkKeys, expectObject, optInt, optOneOf, optString } from '../util/validate.js';
import { defaultWindowName, formatPolicyHeader } from './headers.js';
import { MemoryStore } from './MemoryStore.js';
import type { RateLimitAlgorithm, RateLimitDecision, RateLimitStore, RateLimitWindow } from './types.js';

/** How a request is turned into a rate-limit key. */
export type RateLimitKey<Req = unknown> = 'ip' | { header: string } | ((req: Req) => string);

/** One window of a rate limit, and (on the first or any window) the settings the windows share. */
export interface RateLimitOptions<Req = unknown> {
  /** Requests (cost units) per window. Required. */
  limit: number;
  /** The window. Required. */
  window: Duration;
  /** Default `'token-bucket'`. */
  algorithm?: RateLimitAlgorithm;
  /** Token-bucket capacity. Default: `limit`. */
  burst?: number;
  /** Policy name in the `RateLimit` headers. Default: `per-second`, `per-minute`, … from the window. */
  name?: string;
  /** Default `'ip'`: the framework's client IP (trust-proxy honoured), IPv6 grouped by /64. */
  key?: RateLimitKey<Req>;
  /** Units a request costs. Default 1. */
  cost?: number | ((req: Req) => number);
  /** Where counts live. Default: a bounded in-memory store of this limiter's own. */
  store?: RateLimitStore;
  /** What to do when the store fails: `'allow'`, `'deny'`, or `'memory'` (local fallback). Default `'allow'`. */
  onStoreError?: 'allow' | 'deny' | 'memory';
  /** Send `RateLimit-Policy` and `RateLimit` headers. Default true. */
  headers?: boolean;
}

/** Settings of a {@link RateLimiter} beyond its windows. */
export interface RateLimiterSettings {
  /** Name in metrics and in store keys. Default `'default'`. */
  name?: string;
  clock?: Clock;
  /** Option path used in validation errors. Default `'rateLimit'`. */
  path?: string;
}

/** Decisions moving to the fallback (`active`, with the store's error) or back to the store. */
export interface StoreFallbackEvent {
  limiter: string;
  active: boolean;
  /** What the store threw or rejected with, when `active`. */
  error?: unknown;
}

/** A setting that does not do what it says, found while the limiter runs (reported once). */
export interface RateLimitMisconfiguration {
  limiter: string;
  /** Option path, e.g. `rateLimit.key`. */
  option: string;
  problem: string;
}

/** One decision as observed by listeners. */
export interface RateLimitEvent {
  limiter: string;
  allowed: boolean;
}

const SHARED = ['key', 'cost', 'store', 'onStoreError', 'headers'] as const;
const KNOWN = ['limit', 'window', 'algorithm', 'burst', 'name', ...SHARED];
const ALGORITHMS: readonly RateLimitAlgorithm[] = ['token-bucket', 'sliding-window', 'fixed-window'];

/**
 * A rate limit over one or several windows (say 10/s and 100/min and 1000/h), decided
 * atomically per key by a {@link RateLimitStore}.
 */
export class RateLimiter<Req = unknown> {
  readonly name: string;
  readonly windows: readonly RateLimitWindow[];
  readonly key: RateLimitKey<Req>;
  /** Lower-cased header name when `key` is `{ header }`. */
  readonly keyHeader: string | undefined;
  readonly cost: number | ((req: Req) => number);
  readonly store: RateLimitStore;
  readonly onStoreError: 'allow' | 'deny' | 'memory';
  readonly headers: boolean;
  /** The `RateLimit-Policy` header value, fixed by the options. */
  readonly policyHeader: string;
  /** True when the store is this limiter's own memory store (keys need no prefix). */
  private readonly ownStore: boolean;
  readonly clock: Clock;
  private fallback: MemoryStore | undefined;
  private readonly decisionEmitter = new Emitter<RateLimitEvent>();
  private readonly allowedEvent: RateLimitEvent;
  private readonly limitedEvent: RateLimitEvent;
  private readonly storeErrorEmitter = new Emitter<unknown>();
  private readonly fallbackEmitter = new Emitter<StoreFallbackEvent>();
  private inFallback = false;
  private readonly misconfigEmitter = new Emitter<RateLimitMisconfiguration>();
  /** Fires on every decision. */
  readonly onDecision: Event<RateLimitEvent> = this.decisionEmitter.event;
  /** Fires when the store fails and `onStoreError` decides instead. */
  readonly onStoreFailure: Event<unknown> = this.storeErrorEmitter.event;
  /**
   * Fires once when decisions move to `onStoreError` (true: the store failed) and once when
   * the store decides again (false), never per decision.
   */
  readonly onFallbackChange: Event<StoreFallbackEvent> = this.fallbackEmitter.event;
  /** Fires once per problem: a key function that returned no key, say. */
  readonly onMisconfiguration: Event<RateLimitMisconfiguration> = this.misconfigEmitter.event;

  constructor(
    options: RateLimitOptions<Req> | readonly RateLimitOptions<Req>[],
    settings: RateLimiterSettings = {},
  ) {
    const path = settings.path ?? 'rateLimit';
    this.name = settings.name ?? 'default';
    this.clock = settings.clock ?? systemClock;
    const list = Array.isArray(options) ? options : [options];
    if (list.length === 0) throw new ConfigError(path, options, 'at least one window');
    const shared: Partial<Record<(typeof SHARED)[number], unknown>> = {};
    const windows: RateLimitWindow[] = [];
    const names = new Set<string>();
    list.forEach((raw, i) => {
      const p = Array.isArray(options) ? `${path}[${i}]` : path;
      const o = expectObject(raw, p);
      checkKeys(o, KNOWN, p);
      for (const k of SHARED) {
        if (o[k] === undefined) continue;
        if (shared[k] !== undefined && !sameSetting(shared[k], o[k])) {
          throw new ConfigError(
            `${p}.${k}`,
            o[k],
            `the same ${k} as the other windows (one decision covers every window)`,
          );
        }
        shared[k] = o[k];
      }
      const limit = optInt(o.limit, `${p}.limit`, -1, 1);
      if (limit < 1) throw new ConfigError(`${p}.limit`, o.limit, 'an integer >= 1');
      if (o.window === undefined)
        throw new ConfigError(`${p}.window`, o.window, "a duration like '1s' or '1m'");
      const windowMs = parseDuration(o.window, `${p}.window`);
      if (windowMs < 1) throw new ConfigError(`${p}.window`, o.window, 'a duration of at least 1ms');
      const algorithm = optOneOf(o.algorithm, `${p}.algorithm`, ALGORITHMS, 'token-bucket');
      const burst = optInt(o.burst, `${p}.burst`, limit, 1);
      let name = optString(o.name, `${p}.name`) ?? defaultWindowName(windowMs);
      if (names.has(name)) name = `${name}-${i}`;
      // Structured Field strings cannot hold quotes or backslashes.
      if (!isSfStringSafe(name)) throw new ConfigError(`${p}.name`, name, 'printable text without quotes');
      names.add(name);
      windows.push(Object.freeze({ name, algorithm, limit, windowMs, burst }));
    });
    this.windows = Object.freeze(windows);

    const key = shared.key ?? 'ip';
    if (key === 'ip' || typeof key === 'function') this.keyHeader = undefined;
    else if (
      typeof key === 'object' &&
      key !== null &&
      typeof (key as { header?: unknown }).header === 'string' &&
      (key as { header: string }).header.length > 0
    ) {
      this.keyHeader = (key as { header: string }).header.toLowerCase();
    } else throw new ConfigError(`${path}.key`, key, "'ip', { header: 'name' } or a function");
    this.key =
      typeof key === 'function'
        ? this.checkedKey(key as (req: Req) => string, `${path}.key`)
        : (key as RateLimitKey<Req>);

    const cost = shared.cost ?? 1;
    if (typeof cost === 'number') {
      if (!Number.isFinite(cost) || cost < 0)
        throw new ConfigError(`${path}.cost`, cost, 'a number >= 0 or a function');
    } else if (typeof cost !== 'function')
      throw new ConfigError(`${path}.cost`, cost, 'a number >= 0 or a function');
    this.cost = cost as number | ((req: Req) => number);

    const store = shared.store;
    if (
      store !== undefined &&
      (typeof store !== 'object' || store === null || typeof (store as RateLimitStore).consume !== 'function')
    ) {
      throw new ConfigError(`${path}.store`, store, 'a RateLimitStore (an object with consume())');
    }
    this.ownStore = store === undefined;
    this.store = (store as RateLimitStore | undefined) ?? new MemoryStore({ clock: this.clock });
    this.onStoreError = optOneOf(
      shared.onStoreError,
      `${path}.onStoreError`,
      ['allow', 'deny', 'memory'] as const,
      'allow',
    );
    if (shared.headers !== undefined && typeof shared.headers !== 'boolean')
      throw new ConfigError(`${path}.headers`, shared.headers, 'a boolean');
    this.headers = (shared.headers as boolean | undefined) ?? true;
    this.policyHeader = formatPolicyHeader(this.windows);
    this.allowedEvent = Object.freeze({ limiter: this.name, allowed: true });
    this.limitedEvent = Object.freeze({ limiter: this.name, allowed: false });
  }

  /**
   * Whether decisions come from `onStoreError` rather than the store: true from a store
   * failure until the store next answers.
   */
  get usingFallback(): boolean {
    return this.inFallback;
  }

  /** Whether the store is one given in the options (shared, possibly remote), not this limiter's own. */
  get sharedStore(): boolean {
    return !this.ownStore;
  }

  /** The cost of a request under this limiter: the option, or its function's answer (bad answers count as 1). */
  costOf(req: Req): number {
    const c = this.cost;
    if (typeof c === 'number') return c;
    const v = c(req);
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 1;
  }

  /**
   * Decides for `key`. Synchronous with the memory store; a promise with an async store.
   * Never throws or rejects because of the store: `onStoreError` decides instead.
   * `now`: the limiter's clock, if the caller has just read it (saves the memory store a read).
   */
  consume(key: string, cost = 1, now?: number): RateLimitDecision | Promise<RateLimitDecision> {
    // Keys taken from a header are often credentials (API keys): a shared store sees a digest.
    const storeKey = this.ownStore
      ? key
      : `${this.name}:${this.keyHeader === undefined ? key : digestKey(key)}`;
    let d: RateLimitDecision | Promise<RateLimitDecision>;
    try {
      // The own memory store can reuse the caller's reading of the (same) clock.
      d =
        this.ownStore && now !== undefined
          ? (this.store as MemoryStore).consumeAt(storeKey, this.windows, cost, now)
          : this.store.consume(storeKey, this.windows, cost);
    } catch (e) {
      return this.emit(this.onFailure(e, key, cost));
    }
    if (typeof (d as Promise<RateLimitDecision>).then === 'function') {
      return (d as Promise<RateLimitDecision>).then(
        (v) => this.emit(this.inFallback ? this.recovered(v) : v),
        (e: unknown) => this.emit(this.onFailure(e, key, cost)),
      );
    }
    return this.emit(this.inFallback ? this.recovered(d as RateLimitDecision) : (d as RateLimitDecision));
  }

  /**
   * {@link consume} reporting only the verdict: -1 when admitted, else the milliseconds to
   * wait (a promise with an async store). The memory store then skips the figures only
   * headers need. Events fire as for `consume`.
   * @internal
   */
  admit(key: string, cost: number, now?: number): number | Promise<number> {
    if (!this.ownStore || now === undefined) {
      const d = this.consume(key, cost, now);
      if (typeof (d as Promise<RateLimitDecision>).then === 'function')
        return (d as Promise<RateLimitDecision>).then(verdictOf);
      return verdictOf(d as RateLimitDecision);
    }
    let wait: number;
    try {
      wait = (this.store as MemoryStore).admitAt(key, this.windows, cost, now);
    } catch (e) {
      return verdictOf(this.emit(this.onFailure(e, key, cost)));
    }
    if (this.inFallback) this.recovered(undefined);
    if (this.decisionEmitter.size > 0)
      this.decisionEmitter.fire(wait < 0 ? this.allowedEvent : this.limitedEvent);
    return wait;
  }

  /** Runs `fn` if `key` (default: one global key) has quota, else rejects with {@link RateLimitedError}. */
  execute<T>(
    fn: (signal: AbortSignal) => PromiseLike<T> | T,
    signal: AbortSignal = neverAbortedSignal,
    key = '*',
    cost = 1,
  ): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const v = this.admit(key, cost, this.ownStore ? this.clock.now() : undefined);
    // A synchronous store (the memory store) decides without a trip through the microtask queue.
    if (typeof v !== 'number') return v.then((wait) => this.runIfAdmitted(wait, fn, signal));
    try {
      return Promise.resolve(this.runIfAdmitted(v, fn, signal));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private runIfAdmitted<T>(
    wait: number,
    fn: (signal: AbortSignal) => PromiseLike<T> | T,
    signal: AbortSignal,
  ): PromiseLike<T> | T {
    if (wait >= 0) throw new RateLimitedError(wait);
    return fn(signal);
  }

  /** Releases the store if this limiter owns it. */
  async close(): Promise<void> {
    if (this.ownStore) await this.store.close?.();
    this.fallback?.close();
  }

  private emit(d: RateLimitDecision): RateLimitDecision {
    if (this.decisionEmitter.size > 0)
      this.decisionEmitter.fire(d.allowed ? this.allowedEvent : this.limitedEvent);
    return d;
  }

  /** The store answered again after failing: decisions leave the fallback. */
  private recovered<T>(d: T): T {
    this.inFallback = false;
    if (this.fallbackEmitter.size > 0) this.fallbackEmitter.fire({ limiter: this.name, active: false });
    return d;
  }

  /**
   * A key function that reports, once, answering no key: every such request would share
   * one bucket (`'undefined'`), which is rarely what its author meant.
   */
  private checkedKey(fn: (req: Req) => string, option: string): (req: Req) => string {
    let reported = false;
    const emitter = this.misconfigEmitter;
    const limiter = this.name;
    return function key(req: Req): string {
      const v = fn(req);
      if (!reported && (v === undefined || v === null || (v as unknown) === '')) {
        reported = true;
        emitter.fire({
          limiter,
          option,
          problem: `the key function returned ${v === '' ? 'an empty string' : String(v)}: such requests share one bucket`,
        });
      }
      return v;
    };
  }

  private onFailure(e: unknown, key: string, cost: number): RateLimitDecision {
    if (this.storeErrorEmitter.size > 0) this.storeErrorEmitter.fire(e);
    if (!this.inFallback) {
      this.inFallback = true;
      if (this.fallbackEmitter.size > 0)
        this.fallbackEmitter.fire({ limiter: this.name, active: true, error: e });
    }
    const n = this.windows.length;
    switch (this.onStoreError) {
      case 'memory':
        this.fallback ??= new MemoryStore({ clock: this.clock });
        return this.fallback.consume(key, this.windows, cost);
      case 'deny':
        return {
          allowed: false,
          remaining: new Array(n).fill(0),
          resetMs: new Array(n).fill(1000),
          retryAfterMs: 1000,
          violated: [...Array(n).keys()],
        };
      default:
        return {
          allowed: true,
          remaining: this.windows.map((w) => w.limit),
          resetMs: new Array(n).fill(0),
          retryAfterMs: 0,
          violated: [],
        };
    }
  }
}

/** True when `s` can sit inside a Structured Field string: printable ASCII without `"` or `\\`. */
function isSfStringSafe(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** A short, stable digest of a key, so secrets in keys never reach a shared store in clear. */
export function digestKey(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 22);
}

/** Whether two windows agree on a shared setting; `{ header }` keys (from config files) compare by name. */
function sameSetting(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const ha = (a as { header?: unknown } | null)?.header;
  const hb = (b as { header?: unknown } | null)?.header;
  return typeof ha === 'string' && typeof hb === 'string' && ha.toLowerCase() === hb.toLowerCase();
}

/** A decision as {@link RateLimiter.admit} reports it. */
function verdictOf(d: RateLimitDecision): number {
  return d.allowed ? -1 : d.retryAfterMs;
}
