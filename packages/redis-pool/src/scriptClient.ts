import { isSlotMap, type SlotMap } from './slots.js';

/**
 * The few commands the rate-limit store sends, for a Redis client other than ioredis and
 * node-redis: implement this and pass it as the store's `client`. Replies of `evalsha` and
 * `eval` are the script's string reply as bytes (it holds binary doubles: a client that
 * decodes it as UTF-8 text corrupts it).
 *
 * ```ts
 * const client: ScriptClient = {
 *   evalsha: (sha, keys, args) => mine.evalshaBuffer(sha, keys.length, ...keys, ...args),
 *   eval: (lua, keys, args) => mine.evalBuffer(lua, keys.length, ...keys, ...args),
 *   del: (key) => mine.del(key),
 *   isReady: () => mine.status === 'ready',
 *   onReady: (fn) => { mine.on('ready', fn); return () => mine.off('ready', fn); },
 * };
 * ```
 */
export interface ScriptClient {
  /** EVALSHA; rejects with an error whose message starts with `NOSCRIPT` when Redis lacks the script. */
  evalsha(sha: string, keys: readonly string[], args: readonly string[]): PromiseLike<Uint8Array>;
  /** EVAL (which also caches the script in Redis). */
  eval(script: string, keys: readonly string[], args: readonly string[]): PromiseLike<Uint8Array>;
  del(key: string): PromiseLike<unknown>;
  /** True when commands can be sent (connected, handshake done). */
  isReady(): boolean;
  /** Calls `listener` each time the client becomes ready; returns the function that stops it. */
  onReady(listener: () => void): () => void;
}

/** What the store runs its script on: one of the adapters below. */
export interface ScriptBackend {
  /** EVALSHA (or EVAL when `reload`) of the store's script on one key. */
  run(
    lua: string,
    sha: string,
    reload: boolean,
    key: string,
    cost: string,
    now: string | undefined,
  ): PromiseLike<Uint8Array>;
  del(key: string): PromiseLike<unknown>;
  isReady(): boolean;
  onReady(listener: () => void): () => void;
  /** Starts connecting a client that waits to be asked (ioredis `lazyConnect`); no-op otherwise. */
  connect(): void;
  /** The Cluster slot map, on an ioredis Cluster. */
  readonly slotMap: SlotMap | undefined;
}

/**
 * ioredis's EVAL/EVALSHA with binary replies: present on every client at run time but
 * missing from its typings (`callBuffer('EVALSHA', …)` would be typed, but ioredis drops
 * its command name when auto-pipelining).
 */
interface Ioredis {
  evalshaBuffer(sha: string, numkeys: number, ...args: string[]): Promise<Buffer>;
  evalBuffer(script: string, numkeys: number, ...args: string[]): Promise<Buffer>;
  del(key: string): Promise<number>;
  connect(): Promise<void>;
  status: string;
  on(event: 'ready', fn: () => void): unknown;
  off(event: 'ready', fn: () => void): unknown;
}

/** node-redis (`redis` 5 and later): the part of `RedisClientType` the store uses. */
interface NodeRedis {
  isReady: boolean;
  isOpen: boolean;
  evalSha(sha: string, o: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, o: { keys: string[]; arguments: string[] }): Promise<unknown>;
  del(key: string): Promise<number>;
  withTypeMapping(m: Record<number, unknown>): NodeRedis;
  on(event: 'ready', fn: () => void): unknown;
  off(event: 'ready', fn: () => void): unknown;
}

const noop = (): void => {};

export function isIoredis(c: unknown): boolean {
  return (
    typeof (c as Partial<Ioredis> | null)?.evalshaBuffer === 'function' &&
    typeof (c as Partial<Ioredis>).evalBuffer === 'function'
  );
}

export function isNodeRedis(c: unknown): boolean {
  const n = c as Partial<NodeRedis> | null;
  return (
    typeof n?.evalSha === 'function' &&
    typeof n.withTypeMapping === 'function' &&
    typeof n.isReady === 'boolean'
  );
}

export function isScriptClient(c: unknown): c is ScriptClient {
  const s = c as Partial<ScriptClient> | null;
  return (
    typeof s?.evalsha === 'function' &&
    typeof s.eval === 'function' &&
    typeof s.del === 'function' &&
    typeof s.isReady === 'function' &&
    typeof s.onReady === 'function'
  );
}

/** ioredis `Redis` or `Cluster` (5 or 6): positional calls, no array built per decision. */
export function ioredisBackend(client: unknown): ScriptBackend {
  const c = client as Ioredis;
  return {
    run: (lua, sha, reload, key, cost, now) =>
      now === undefined
        ? reload
          ? c.evalBuffer(lua, 1, key, cost)
          : c.evalshaBuffer(sha, 1, key, cost)
        : reload
          ? c.evalBuffer(lua, 1, key, cost, now)
          : c.evalshaBuffer(sha, 1, key, cost, now),
    del: (key) => c.del(key),
    isReady: () => c.status === 'ready',
    onReady: (fn) => {
      c.on('ready', fn);
      return () => void c.off('ready', fn);
    },
    connect: () => {
      // A lazyConnect client connects on its first command; the store sends none before
      // `ready`, so it asks.
      if (c.status === 'wait') c.connect().catch(noop);
    },
    slotMap: isSlotMap(client) ? client : undefined,
  };
}

/** RESP's blob string type (`$`): mapped to Buffer, so the binary reply is not decoded as text. */
const BLOB_STRING = 36;

/** node-redis (`createClient()` from `redis` 5+); a single node (its Cluster client is not supported). */
export function nodeRedisBackend(client: unknown): ScriptBackend {
  const c = client as NodeRedis;
  const binary = c.withTypeMapping({ [BLOB_STRING]: Buffer });
  return {
    run: (lua, sha, reload, key, cost, now) => {
      const o = { keys: [key], arguments: now === undefined ? [cost] : [cost, now] };
      return (reload ? binary.eval(lua, o) : binary.evalSha(sha, o)) as Promise<Buffer>;
    },
    del: (key) => c.del(key),
    isReady: () => c.isReady,
    onReady: (fn) => {
      c.on('ready', fn);
      return () => void c.off('ready', fn);
    },
    connect: noop,
    slotMap: undefined,
  };
}

/** A user's {@link ScriptClient}. */
export function scriptClientBackend(c: ScriptClient): ScriptBackend {
  return {
    run: (lua, sha, reload, key, cost, now) => {
      const args = now === undefined ? [cost] : [cost, now];
      return reload ? c.eval(lua, [key], args) : c.evalsha(sha, [key], args);
    },
    del: (key) => c.del(key),
    isReady: () => c.isReady(),
    onReady: (fn) => c.onReady(fn),
    connect: noop,
    slotMap: undefined,
  };
}
