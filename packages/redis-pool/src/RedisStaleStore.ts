import { ConfigError, type Duration, type StaleEntry, type StaleStore } from '@breakwater/core';
import type { Cluster, Redis } from 'ioredis';
import { withTimeout } from './connection.js';
import type { RedisPool } from './RedisPool.js';
import { isIoredis } from './scriptClient.js';
import { checkKeys, expectObject, optDuration, optInt } from './validate.js';

/** Options of a {@link RedisStaleStore}: give `client` or `pool`. */
export interface RedisStaleStoreOptions {
  /** An ioredis `Redis` or `Cluster` client (left open by the store: its owner closes it). */
  client?: Redis | Cluster;
  /** A {@link RedisPool}: copies go through its shared client. */
  pool?: RedisPool;
  /** Prefix of every key: `<prefix><method> <path>`. Default `'bw:stale:'`. */
  prefix?: string;
  /** A read slower than this serves nothing (the route's default answer goes out). Default `'50ms'`. */
  timeout?: Duration;
  /**
   * Largest copy kept, in bytes as stored (JSON; a binary body is base64, a third larger).
   * Larger ones are not written. Default 2 MiB, room for `staleIfError`'s 1 MiB body.
   */
  maxEntryBytes?: number;
  /**
   * Writes that may wait for Redis at once; past it new copies are dropped, so a Redis
   * that stalls cannot pile up writes (one per good answer). Default 64.
   */
  maxPendingWrites?: number;
}

/** Counters of a store, for tests and dashboards. */
export interface RedisStaleStoreStats {
  /** Reads that found a copy, and that found none. */
  hits: number;
  misses: number;
  /** Copies written (acknowledged by Redis). */
  writes: number;
  /** Reads and writes that failed, and reads past `timeout`. */
  errors: number;
  timeouts: number;
  /** Reads and writes not sent: the client not ready (Redis down), or too many writes waiting. */
  skipped: number;
  /** Copies larger than `maxEntryBytes`, not written. */
  tooLarge: number;
}

/** Bytes of a string as UTF-8, without encoding it when it is surely small enough. */
function byteLength(s: string, max: number): number {
  return s.length * 3 <= max ? s.length : Buffer.byteLength(s);
}

/** A parsed copy, if it has the shape of one. */
function asEntry(v: unknown): StaleEntry | undefined {
  const e = v as Partial<StaleEntry> | null;
  if (
    e === null ||
    typeof e !== 'object' ||
    typeof e.status !== 'number' ||
    typeof e.body !== 'string' ||
    typeof e.binary !== 'boolean' ||
    typeof e.storedAt !== 'number' ||
    e.headers === null ||
    typeof e.headers !== 'object'
  )
    return undefined;
  return e as StaleEntry;
}

/**
 * `staleIfError`'s copies in Redis, so a fleet shares them: what one instance answered
 * last, another serves while its route refuses or fails. Each copy is one string key
 * under `prefix`, written with `PX` = the fallback's `maxAge`, so Redis drops it when it
 * may no longer be served.
 *
 * Redis down never fails a request: while the client is not ready nothing is sent (reads
 * find nothing, so the route's default answer goes out; copies are dropped), a read is
 * bounded by `timeout`, and waiting writes by `maxPendingWrites`. No call rejects.
 *
 * ```ts
 * const stale = staleIfError({ maxAge: '10m', store: new RedisStaleStore({ pool }) });
 * app.get('/prices', bw.route({ circuitBreaker: {}, fallback: stale }), handler);
 * ```
 */
export class RedisStaleStore implements StaleStore {
  readonly prefix: string;
  private readonly client: Redis | Cluster;
  private readonly timeoutMs: number;
  private readonly maxEntryBytes: number;
  private readonly maxPendingWrites: number;
  private pendingWrites = 0;
  private readonly counts: RedisStaleStoreStats = {
    hits: 0,
    misses: 0,
    writes: 0,
    errors: 0,
    timeouts: 0,
    skipped: 0,
    tooLarge: 0,
  };

  constructor(options: RedisStaleStoreOptions) {
    const path = 'redisStaleStore';
    const o = expectObject(options, path);
    checkKeys(o, ['client', 'pool', 'prefix', 'timeout', 'maxEntryBytes', 'maxPendingWrites'], path);
    if ((o.client === undefined) === (o.pool === undefined))
      throw new ConfigError(path, Object.keys(o), 'exactly one of client or pool');
    const client = o.pool !== undefined ? (o.pool as RedisPool).client : o.client;
    if (!isIoredis(client))
      throw new ConfigError(
        o.pool !== undefined ? `${path}.pool` : `${path}.client`,
        o.pool ?? o.client,
        o.pool !== undefined ? 'a RedisPool' : 'an ioredis Redis or Cluster client',
      );
    this.client = client as Redis | Cluster;
    if (o.prefix !== undefined && typeof o.prefix !== 'string')
      throw new ConfigError(`${path}.prefix`, o.prefix, 'a string');
    this.prefix = (o.prefix as string | undefined) ?? 'bw:stale:';
    this.timeoutMs = optDuration(o.timeout, `${path}.timeout`, 50, 1); // 50ms
    this.maxEntryBytes = optInt(o.maxEntryBytes, `${path}.maxEntryBytes`, 2 * 1024 * 1024, 1); // 2 MiB
    this.maxPendingWrites = optInt(o.maxPendingWrites, `${path}.maxPendingWrites`, 64, 1);
  }

  /** Counters since the store was made (a copy). */
  get stats(): RedisStaleStoreStats {
    return { ...this.counts };
  }

  /** The copy under `key`, or `undefined`: none, Redis down or slow, or not a copy. Never rejects. */
  get(key: string): Promise<StaleEntry | undefined> {
    const c = this.counts;
    if (this.client.status !== 'ready') {
      c.skipped++;
      return Promise.resolve(undefined);
    }
    let timedOut = false;
    return withTimeout(this.client.get(this.prefix + key), this.timeoutMs, () => {
      timedOut = true;
      return new Error('timeout');
    }).then(
      (raw) => {
        let e: StaleEntry | undefined;
        if (raw !== null) {
          try {
            e = asEntry(JSON.parse(raw));
          } catch {
            // Not a copy of ours: as good as none.
          }
        }
        if (e === undefined) c.misses++;
        else c.hits++;
        return e;
      },
      () => {
        if (timedOut) c.timeouts++;
        else c.errors++;
        return undefined;
      },
    );
  }

  /** Keeps `entry` under `key` for `ttlMs`. Resolves when Redis has it or the write is given up; never rejects. */
  set(key: string, entry: StaleEntry, ttlMs: number): Promise<void> {
    const c = this.counts;
    if (this.client.status !== 'ready' || this.pendingWrites >= this.maxPendingWrites) {
      c.skipped++;
      return Promise.resolve();
    }
    const json = JSON.stringify(entry);
    if (byteLength(json, this.maxEntryBytes) > this.maxEntryBytes) {
      c.tooLarge++;
      return Promise.resolve();
    }
    this.pendingWrites++;
    return this.client.set(this.prefix + key, json, 'PX', Math.max(1, Math.ceil(ttlMs))).then(
      () => {
        this.pendingWrites--;
        c.writes++;
      },
      () => {
        this.pendingWrites--;
        c.errors++;
      },
    );
  }
}
