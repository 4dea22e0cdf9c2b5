import { createHash } from 'node:crypto';
import { ConfigError, RateLimitedError } from '../errors.js';
import { type Clock, systemClock } from '../util/clock.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { Emitter, type Event } from '../util/events.js';
import { neverAbortedSignal } from '../util/signal.js';
import { checkKeys, expectObject, isPlainObject, optInt, optOneOf, optString } from '../util/validate.js';
import { type AcquireOptions, AcquireQueue, DEFAULT_MAX_QUEUE } from './AcquireQueue.js';
import { ipv6SubnetOption } from './client-ip.js';
import {
  defaultWindowName,
  formatPolicyHeader,
  headerModeOption,
  type RateLimitHeaderMode,
  RateLimitHeaders,
} from './headers.js';
import { MemoryStore } from './MemoryStore.js';
import type {
  RateLimitAlgorithm,
  RateLimitBlock,
  RateLimitDecision,
  RateLimitKeyState,
  RateLimitStore,
  RateLimitWindow,
} from './types.js';

/** How a request is turned into a rate-limit key. */
export type RateLimitKey<Req = unknown> = 'ip' | { header: string } | ((req: Req) => string);

/** One window of a rate limit, and (on the first or any window) the settings the windows share. */
export interface RateLimitOptions<Req = unknown> {
  /**
   * Requests (cost units) per window, or a function of the request answering it (sync or
   * async, called once per request; say, by the customer's plan). Required. A function that
   * throws, rejects, or answers anything but a finite number > 0 refuses the request with
   * 503 `RATE_LIMIT_ERROR` (reported once through `onMisconfiguration`). Where there is no
   * request (`execute`, `consume`), such a window holds 1.
   */
  limit: number | ((req: Req) => number | Promise<number>);
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
  /**
   * Which headers to send: `'draft-10'` (`RateLimit-Policy` and `RateLimit`, one item per
   * window), `'draft-7'` (`RateLimit: limit=…, remaining=…, reset=…`), `'legacy'`
   * (`X-RateLimit-Limit/Remaining/Reset`), `true` for `'draft-10'`, `false` for none
   * (`Retry-After` included). Default `'draft-10'`.
   */
  headers?: boolean | RateLimitHeaderMode;
  /**
   * With `key: 'ip'`, IPv6 clients are counted by this prefix length (32–64), since one
   * customer is routinely given a whole /56 or /64. IPv4 is counted per address. Default 56.
   */
  ipv6Subnet?: number;
  /**
   * True for a request the limit does not apply to (sync or async): it is not counted, costs
   * other requests nothing and carries no rate-limit headers. A function that throws or
   * rejects counts the request (reported once).
   */
  skip?: (req: Req) => boolean | Promise<boolean>;
  /**
   * Which requests count, by their answer: `'all'`, `'failed'` (an answer < 400 gives its cost
   * back: a login throttle counts failed attempts), `'succeeded'` (an answer >= 400, or none,
   * gives it back). The cost is taken at admission, so concurrent requests never overshoot,
   * and given back once the answer shows it should not have counted (a route's answer: a
   * refusal by a later policy or the timeout counts as a failure). Default `'all'`.
   */
  count?: 'all' | 'failed' | 'succeeded';
  /**
   * Brute-force protection: after `after` refusals within one window (the longest), the key
   * is refused for `for`; each new block of the same key lasts `growth` times longer (default
   * 1), up to `max` (default `for` without growth, else 24 hours). A key's history of blocks
   * is forgotten `max` after its last block ends. Refusals in a block say when it ends.
   */
  block?: { after: number; for: Duration; growth?: number; max?: Duration };
}

/** What a request admitted under `count: 'failed' | 'succeeded'` owes, until its answer settles it. */
export interface RateLimitCharge {
  readonly key: string;
  readonly cost: number;
  readonly windows: readonly RateLimitWindow[];
  /** Decided by `onStoreError: 'memory'`'s local store (given back there), not the store. */
  readonly local: boolean;
}

/** Settings of a {@link RateLimiter} beyond its windows. */
export interface RateLimiterSettings {
  /** Name in metrics and in store keys. Default `'default'`. */
  name?: string;
  clock?: Clock;
  /** Option path used in validation errors. Default `'rateLimit'`. */
  path?: string;
  /** Most {@link RateLimiter.acquire} calls waiting at once (every key together). Default 1000. */
  maxQueue?: number;
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
  /** What the log deduplicates by when not `<limiter>:<option>` (one report per instance). */
  id?: string;
}

/** One decision as observed by listeners. */
export interface RateLimitEvent {
  limiter: string;
  allowed: boolean;
}

const SHARED = [
  'key',
  'cost',
  'store',
  'onStoreError',
  'headers',
  'ipv6Subnet',
  'skip',
  'count',
  'block',
] as const;
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
  /** The header mode; false sends none. */
  readonly headers: RateLimitHeaderMode | false;
  /** Writes the headers of `headers`'s mode; undefined with `headers: false`. */
  readonly headerFormat: RateLimitHeaders | undefined;
  /** IPv6 prefix length `'ip'` keys are grouped by. */
  readonly ipv6Subnet: number;
  /** Most `acquire()` calls waiting at once. */
  readonly maxQueue: number;
  private acquireQueue: AcquireQueue | undefined;
  /** The draft-10 `RateLimit-Policy` header value, fixed by the options. */
  readonly policyHeader: string;
  /** True when the store is this limiter's own memory store (keys need no prefix). */
  private readonly ownStore: boolean;
  readonly clock: Clock;
  /** Option path of the limiter, as in validation errors. */
  private readonly path: string;
  /** `skip`, when given. */
  readonly skip: ((req: Req) => boolean | Promise<boolean>) | undefined;
  /** Which requests count (`count`). */
  readonly count: 'all' | 'failed' | 'succeeded';
  /** `block`, normalised; undefined without it. */
  readonly block: RateLimitBlock | undefined;
  /**
   * True when a request guard must ask per request before deciding: `skip`, or a `limit`
   * given as a function.
   * @internal
   */
  readonly perRequest: boolean;
  /**
   * True when decisions take the limiter's longer path: `perRequest`, `count` other than
   * `'all'`, or `block`. One check keeps plain limits on their own path.
   * @internal
   */
  readonly special: boolean;
  /** Per window, its `limit` function (undefined for a fixed limit); undefined when none has one. */
  private readonly limitFns: ReadonlyArray<((req: Req) => unknown) | undefined> | undefined;
  /** Per window, whether `burst` was given (else it follows a `limit` function's answer). */
  private readonly burstGiven: readonly boolean[];
  /** Windows by the limits that applied (`limit` functions), bounded. */
  private readonly variants = new Map<string, readonly RateLimitWindow[]>();
  private readonly variantHeaders = new WeakMap<readonly RateLimitWindow[], RateLimitHeaders>();
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
    this.path = path;
    this.name = settings.name ?? 'default';
    this.clock = settings.clock ?? systemClock;
    const list = Array.isArray(options) ? options : [options];
    if (list.length === 0) throw new ConfigError(path, options, 'at least one window');
    const shared: Partial<Record<(typeof SHARED)[number], unknown>> = {};
    const windows: RateLimitWindow[] = [];
    const names = new Set<string>();
    const limitFns: Array<((req: Req) => unknown) | undefined> = [];
    const burstGiven: boolean[] = [];
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
      const fn = typeof o.limit === 'function' ? (o.limit as (req: Req) => unknown) : undefined;
      limitFns.push(fn);
      burstGiven.push(o.burst !== undefined);
      // A limit function's window holds 1 until a request says otherwise (see windowsOf).
      const limit = fn !== undefined ? 1 : optInt(o.limit, `${p}.limit`, -1, 1);
      if (limit < 1) throw new ConfigError(`${p}.limit`, o.limit, 'an integer >= 1 or a function');
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
    this.limitFns = limitFns.some((f) => f !== undefined) ? limitFns : undefined;
    this.burstGiven = burstGiven;

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

    if (shared.skip !== undefined && typeof shared.skip !== 'function')
      throw new ConfigError(`${path}.skip`, shared.skip, 'a function (req) => boolean');
    this.skip = shared.skip as RateLimiter<Req>['skip'];
    this.count = optOneOf(shared.count, `${path}.count`, ['all', 'failed', 'succeeded'] as const, 'all');
    if (this.count !== 'all' && typeof this.store.refund !== 'function')
      throw new ConfigError(`${path}.count`, this.count, "'all' with a store without refund()");
    this.block = blockOption(shared.block, `${path}.block`, this.windows);
    if (this.block !== undefined && this.store.supportsBlock !== true)
      throw new ConfigError(`${path}.block`, shared.block, 'absent with a store that does not support block');
    this.perRequest = this.skip !== undefined || this.limitFns !== undefined;
    this.special = this.perRequest || this.count !== 'all' || this.block !== undefined;
    this.onStoreError = optOneOf(
      shared.onStoreError,
      `${path}.onStoreError`,
      ['allow', 'deny', 'memory'] as const,
      'allow',
    );
    this.headers = headerModeOption(shared.headers, `${path}.headers`);
    this.headerFormat = this.headers === false ? undefined : new RateLimitHeaders(this.headers, this.windows);
    this.ipv6Subnet = ipv6SubnetOption(shared.ipv6Subnet, `${path}.ipv6Subnet`);
    this.maxQueue = optInt(settings.maxQueue, `${path}.maxQueue`, DEFAULT_MAX_QUEUE, 0);
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
    if (this.special) return this.consumeIn(key, cost, now, this.windows);
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
   * {@link consume} under `windows` (the limiter's own, or those a `limit` function chose),
   * with `block`: the path of limiters with `skip`, `limit` functions, `count` or `block`,
   * kept apart so a plain limit's path stays as short as it was.
   * @internal
   */
  consumeIn(
    key: string,
    cost: number,
    now: number | undefined,
    windows: readonly RateLimitWindow[],
  ): RateLimitDecision | Promise<RateLimitDecision> {
    const storeKey = this.storeKey(key);
    const block = this.block;
    let d: RateLimitDecision | Promise<RateLimitDecision>;
    try {
      d =
        this.ownStore && now !== undefined
          ? block === undefined
            ? (this.store as MemoryStore).consumeAt(storeKey, windows, cost, now)
            : (this.store as MemoryStore).consumeBlockingAt(storeKey, windows, cost, now, block)
          : this.store.consume(storeKey, windows, cost, block);
    } catch (e) {
      return this.emit(this.onFailure(e, key, cost, windows));
    }
    if (typeof (d as Promise<RateLimitDecision>).then === 'function') {
      return (d as Promise<RateLimitDecision>).then(
        (v) => this.emit(this.applied(this.inFallback ? this.recovered(v) : v, windows)),
        (e: unknown) => this.emit(this.onFailure(e, key, cost, windows)),
      );
    }
    const v = d as RateLimitDecision;
    return this.emit(this.applied(this.inFallback ? this.recovered(v) : v, windows));
  }

  /**
   * A decision under windows other than the limiter's own says which, in a copy: a memory
   * store reuses its decision object, which other limiters on the store read too.
   */
  private applied(d: RateLimitDecision, windows: readonly RateLimitWindow[] | undefined): RateLimitDecision {
    if (windows === undefined || windows === this.windows) return d;
    return {
      allowed: d.allowed,
      remaining: d.remaining.slice(),
      resetMs: d.resetMs.slice(),
      retryAfterMs: d.retryAfterMs,
      violated: d.violated.slice(),
      windows,
      blockedMs: d.blockedMs,
    };
  }

  /** The key a store sees: prefixed by the limiter's name on a shared store. */
  private storeKey(key: string): string {
    // Keys taken from a header are often credentials (API keys): a shared store sees a digest.
    return this.ownStore ? key : `${this.name}:${this.keyHeader === undefined ? key : digestKey(key)}`;
  }

  /**
   * Whether `skip` exempts the request: a boolean, or a promise of one. A `skip` that throws
   * or rejects counts the request, and is reported once.
   * @internal
   */
  skipOf(req: Req): boolean | Promise<boolean> {
    const f = this.skip;
    if (f === undefined) return false;
    let v: unknown;
    try {
      v = f(req);
    } catch (e) {
      this.badSkip(e);
      return false;
    }
    if (v !== null && typeof (v as PromiseLike<unknown>)?.then === 'function')
      return Promise.resolve(v as PromiseLike<unknown>).then(
        (x) => x === true,
        (e: unknown) => {
          this.badSkip(e);
          return false;
        },
      );
    return v === true;
  }

  /**
   * The windows a request is decided by: the limiter's own, or (with `limit` functions) ones
   * carrying the limits that apply to it, each function called once. Undefined (or a promise
   * of undefined) when a function threw, rejected or answered no valid limit: the request is
   * then refused (`RATE_LIMIT_ERROR`), never admitted unlimited.
   * @internal
   */
  windowsOf(
    req: Req,
  ): readonly RateLimitWindow[] | undefined | Promise<readonly RateLimitWindow[] | undefined> {
    const fns = this.limitFns;
    if (fns === undefined) return this.windows;
    const values: unknown[] = new Array(fns.length);
    let pending = false;
    for (let i = 0; i < fns.length; i++) {
      const f = fns[i];
      if (f === undefined) {
        values[i] = this.windows[i]!.limit;
        continue;
      }
      try {
        values[i] = f(req);
      } catch (e) {
        return this.badLimit(`threw ${describe(e)}`);
      }
      if (values[i] !== null && typeof (values[i] as PromiseLike<unknown>)?.then === 'function')
        pending = true;
    }
    if (!pending) return this.variantOf(values);
    return Promise.all(values).then(
      (v) => this.variantOf(v),
      (e: unknown) => this.badLimit(`rejected with ${describe(e)}`),
    );
  }

  /** The windows for these limits (cached), or undefined when one is no valid limit. */
  private variantOf(values: readonly unknown[]): readonly RateLimitWindow[] | undefined {
    for (const v of values)
      if (!(typeof v === 'number' && v > 0 && v < Number.POSITIVE_INFINITY))
        return this.badLimit(`returned ${typeof v === 'number' ? v : describe(v)}`);
    const id = values.join(',');
    let ws = this.variants.get(id);
    if (ws === undefined) {
      ws = Object.freeze(
        this.windows.map((w, i) => {
          const limit = values[i] as number;
          return Object.freeze({ ...w, limit, burst: this.burstGiven[i] ? w.burst : limit });
        }),
      );
      // Limits come from a few plans; a bound all the same.
      if (this.variants.size >= 1000) this.variants.clear();
      this.variants.set(id, ws);
    }
    return ws;
  }

  private badLimit(what: string): undefined {
    this.report(
      `${this.path}.limit`,
      `the limit function ${what}: such requests are refused with 503 RATE_LIMIT_ERROR`,
    );
    return undefined;
  }

  private badSkip(e: unknown): void {
    this.report(`${this.path}.skip`, `the skip function failed (${describe(e)}): such requests are counted`);
  }

  /** A report on a request's path: a listener that throws must not fail the request. */
  private report(option: string, problem: string): void {
    try {
      this.misconfigured(option, problem);
    } catch {
      // The listener's own failure; the request is answered all the same.
    }
  }

  /**
   * The header writer for a decision: the limiter's own, or one for the windows a `limit`
   * function chose. Undefined with `headers: false`.
   */
  headerFormatFor(d: RateLimitDecision): RateLimitHeaders | undefined {
    const ws = d.windows;
    if (ws === undefined || this.headers === false) return this.headerFormat;
    let f = this.variantHeaders.get(ws);
    if (f === undefined) this.variantHeaders.set(ws, (f = new RateLimitHeaders(this.headers, ws)));
    return f;
  }

  /**
   * What an admitted request owes under `count: 'failed' | 'succeeded'`; settled by
   * {@link settle} once its answer is known.
   * @internal
   */
  charge(key: string, cost: number, d: RateLimitDecision): RateLimitCharge | undefined {
    // Admitted by `onStoreError` without a store (`'allow'`): nothing was taken to give back.
    if (this.inFallback && this.onStoreError !== 'memory') return undefined;
    return { key, cost, windows: d.windows ?? this.windows, local: this.inFallback };
  }

  /**
   * Settles a charge by the answer: `ok` when the request succeeded (an answer < 400). Gives
   * the cost back when `count` says this request should not have counted. Never throws.
   * @internal
   */
  settle(c: RateLimitCharge, ok: boolean): void {
    if (ok !== (this.count === 'failed') || c.cost === 0) return;
    if (c.local) this.fallback?.refund(c.key, c.windows, c.cost);
    else this.refund(c.key, c.cost, c.windows);
  }

  /** Gives `cost` back to `key` (see `RateLimitStore.refund`); store failures are ignored. */
  refund(key: string, cost: number, windows: readonly RateLimitWindow[] = this.windows): void {
    try {
      const r = this.store.refund?.(this.storeKey(key), windows, cost);
      if (r !== undefined && typeof (r as Promise<void>).then === 'function')
        (r as Promise<void>).catch(noop);
    } catch {
      // A refund is a courtesy to the client: a failing store keeps the unit, nothing more.
    }
  }

  /** `key`'s state in the store, without consuming; undefined when it holds none. */
  async get(key: string): Promise<RateLimitKeyState | undefined> {
    const store = this.store;
    if (typeof store.get !== 'function') return undefined;
    return store.get(this.storeKey(key), this.windows, this.block);
  }

  /** Forgets `key`: its counts in every window and its block. */
  async reset(key: string): Promise<void> {
    this.fallback?.reset(key);
    await this.store.reset?.(this.storeKey(key));
  }

  /**
   * {@link consume} reporting only the verdict: -1 when admitted, else the milliseconds to
   * wait (a promise with an async store). The memory store then skips the figures only
   * headers need. Events fire as for `consume`.
   * @internal
   */
  admit(key: string, cost: number, now?: number): number | Promise<number> {
    if (!this.ownStore || now === undefined || this.special) {
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

  /**
   * Waits for quota instead of refusing: resolves once `cost` units of `key` are consumed.
   * For outbound work outside HttpPool (say, a partner API's 10 calls a second). Waiters
   * queue per key, at most `maxQueue` in all, served by `priority` and first come first
   * served within one. Rejects with `RATE_LIMIT_QUEUE_FULL` when the queue is full,
   * `RATE_LIMIT_WAIT_TIMEOUT` when quota is not back within `maxWait` (at once when the
   * store already says it will not be), the signal's reason when aborted, and
   * `RATE_LIMITER_CLOSED` on {@link close}. Nothing is consumed for a call that rejects
   * (with an asynchronous store, but for a waiter that leaves while its grant is on the way).
   */
  acquire(options?: AcquireOptions): Promise<void> {
    this.acquireQueue ??= new AcquireQueue(this, this.maxQueue);
    return this.acquireQueue.acquire(options);
  }

  /** `acquire()` calls waiting now. */
  get waiting(): number {
    return this.acquireQueue?.size ?? 0;
  }

  /**
   * Reports a setting that does not do what it says through `onMisconfiguration` (the log
   * reports each `id` once; default `<limiter>:<option>`).
   * @internal
   */
  misconfigured(option: string, problem: string, id?: string): void {
    if (this.misconfigEmitter.size > 0)
      this.misconfigEmitter.fire(
        id === undefined
          ? { limiter: this.name, option, problem }
          : { limiter: this.name, option, problem, id },
      );
  }

  /** Releases the store if this limiter owns it; `acquire()` calls waiting are rejected. */
  async close(): Promise<void> {
    this.acquireQueue?.close();
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
   * A key function that reports, once, answering no key: a request guard then counts such
   * a request by its client IP, which is rarely what the function's author meant.
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
          problem: `the key function returned ${v === '' ? 'an empty string' : String(v)}: such requests are counted by client IP`,
        });
      }
      return v;
    };
  }

  private onFailure(
    e: unknown,
    key: string,
    cost: number,
    windows: readonly RateLimitWindow[] = this.windows,
  ): RateLimitDecision {
    if (this.storeErrorEmitter.size > 0) this.storeErrorEmitter.fire(e);
    if (!this.inFallback) {
      this.inFallback = true;
      if (this.fallbackEmitter.size > 0)
        this.fallbackEmitter.fire({ limiter: this.name, active: true, error: e });
    }
    const n = windows.length;
    const own = windows === this.windows ? undefined : windows;
    switch (this.onStoreError) {
      case 'memory':
        this.fallback ??= new MemoryStore({ clock: this.clock });
        return this.applied(this.fallback.consume(key, windows, cost, this.block), own);
      case 'deny':
        return {
          allowed: false,
          remaining: new Array(n).fill(0),
          resetMs: new Array(n).fill(1000),
          retryAfterMs: 1000,
          violated: [...Array(n).keys()],
          windows: own,
        };
      default:
        return {
          allowed: true,
          remaining: windows.map((w) => w.limit),
          resetMs: new Array(n).fill(0),
          retryAfterMs: 0,
          violated: [],
          windows: own,
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
  if (typeof ha === 'string' && typeof hb === 'string') return ha.toLowerCase() === hb.toLowerCase();
  // A `block` repeated on each window (from a config file): equal settings agree.
  if (isPlainObject(a) && isPlainObject(b) && ha === undefined && hb === undefined)
    return JSON.stringify(a) === JSON.stringify(b);
  return false;
}

const noop = (): void => {};

/** A thrown value, briefly, for a misconfiguration report. */
function describe(v: unknown): string {
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

const BLOCK_KEYS = ['after', 'for', 'growth', 'max'];
const DAY_MS = 24 * 60 * 60 * 1000; // 24h

/** The `block` option checked and normalised, counting refusals over the longest window. */
function blockOption(
  v: unknown,
  path: string,
  windows: readonly RateLimitWindow[],
): RateLimitBlock | undefined {
  if (v === undefined) return undefined;
  const o = expectObject(v, path);
  checkKeys(o, BLOCK_KEYS, path);
  if (!(Number.isInteger(o.after) && (o.after as number) >= 1))
    throw new ConfigError(`${path}.after`, o.after, 'an integer >= 1 (refusals before a block)');
  if (o.for === undefined) throw new ConfigError(`${path}.for`, o.for, "a duration like '15m'");
  const forMs = parseDuration(o.for, `${path}.for`);
  if (!(forMs >= 1)) throw new ConfigError(`${path}.for`, o.for, 'a duration of at least 1ms');
  const growth = o.growth === undefined ? 1 : o.growth;
  if (!(typeof growth === 'number' && growth >= 1 && growth < Number.POSITIVE_INFINITY))
    throw new ConfigError(`${path}.growth`, o.growth, 'a number >= 1');
  const maxMs =
    o.max === undefined
      ? growth === 1
        ? forMs
        : Math.max(forMs, DAY_MS)
      : parseDuration(o.max, `${path}.max`);
  if (!(maxMs >= forMs))
    throw new ConfigError(`${path}.max`, o.max, `a duration of at least block.for (${forMs}ms)`);
  let windowMs = 0;
  for (const w of windows) if (w.windowMs > windowMs) windowMs = w.windowMs;
  return Object.freeze({ after: o.after as number, forMs, growth, maxMs, windowMs });
}

/** A decision as {@link RateLimiter.admit} reports it. */
function verdictOf(d: RateLimitDecision): number {
  return d.allowed ? -1 : d.retryAfterMs;
}
