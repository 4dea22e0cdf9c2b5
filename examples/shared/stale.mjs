/**
 * Where /api/external-data keeps its last good answers for `staleIfError`: in Redis
 * (RedisStaleStore), so every instance of the service can serve what any of them saw
 * last, and in a small in-process copy too, so the service still degrades while Redis
 * itself is down.
 */
import { staleIfError } from '@breakwater/core';
import { RedisStaleStore } from '@breakwater/redis-pool';

/** How old a copy may be and still be served while the upstream is failing. */
export const STALE_MAX_AGE = '10m';

/** A StaleStore (see @breakwater/core): Redis first, the process's own copies when Redis has none. */
export class SharedStaleCopies {
  constructor({ redis, keyPrefix, maxEntries = 100 }) {
    this.redis = redis ? new RedisStaleStore({ pool: redis, prefix: `${keyPrefix}stale:` }) : undefined;
    this.maxEntries = maxEntries;
    this.local = new Map();
  }

  async get(key) {
    // RedisStaleStore never rejects: Redis down or slow reads as "no copy".
    const shared = this.redis ? await this.redis.get(key) : undefined;
    return shared ?? this.local.get(key);
  }

  set(key, entry, ttlMs) {
    this.local.delete(key);
    this.local.set(key, entry);
    if (this.local.size > this.maxEntries) this.local.delete(this.local.keys().next().value);
    return this.redis?.set(key, entry, ttlMs);
  }

  /** For /admin/runtime: the Redis store's counters and the local copies. */
  stats() {
    return { redis: this.redis?.stats, localCopies: this.local.size };
  }
}

/** The fallback of GET /api/external-data: its last good answer, with `Age`, while it refuses or fails. */
export function externalDataFallback(options) {
  const copies = new SharedStaleCopies(options);
  return { copies, fallback: staleIfError({ maxAge: STALE_MAX_AGE, store: copies }) };
}
