/**
 * The cache behind /api/cache/:key: Redis through the RedisPool when Redis answers, an
 * in-process map (bounded, with TTLs) when it does not. Every answer says which one
 * served it, so a client can tell it got the degraded path.
 */
import { CircuitBreaker } from '@breakwater/core';

/** A bounded map with per-entry expiry; the oldest entry goes first when it is full. */
export class FallbackCache {
  constructor(maxKeys) {
    this.maxKeys = maxKeys;
    this.map = new Map();
  }

  get(key) {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (e.expires <= Date.now()) {
      this.map.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key, value, ttlMs) {
    this.map.delete(key);
    this.map.set(key, { value, expires: Date.now() + ttlMs });
    while (this.map.size > this.maxKeys) this.map.delete(this.map.keys().next().value);
  }

  get size() {
    return this.map.size;
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const FALLBACK_WARNING =
  'Redis is unavailable: served from the in-process fallback cache (not shared between instances)';

/**
 * `redis`: a RedisPool or undefined (no Redis configured). Redis calls pass a breaker of
 * their own (`redis-cache`), so while Redis is down requests go straight to the fallback
 * instead of each paying the timeout.
 */
export class DemoCache {
  constructor({ redis, keyPrefix, ttlMs, timeoutMs, fallbackMaxKeys }) {
    this.redis = redis;
    this.prefix = `${keyPrefix}cache:`;
    this.ttlMs = ttlMs;
    this.timeoutMs = timeoutMs;
    this.fallback = new FallbackCache(fallbackMaxKeys);
    this.breaker = redis
      ? new CircuitBreaker(
          { consecutiveFailures: 5, minimumCalls: 20, openFor: '1s', openForMax: '5s' },
          'redis-cache',
        )
      : undefined;
    this.lastError = redis ? undefined : 'REDIS_URL is off';
  }

  /** Whether the cache currently serves from Redis. */
  get usingRedis() {
    return this.redis !== undefined && this.breaker.state !== 'open' && this.redis.stats().healthy === 1;
  }

  async get(key) {
    if (this.usingRedis) {
      try {
        const raw = await this.breaker.execute(() =>
          withTimeout(this.redis.client.get(this.prefix + key), this.timeoutMs, 'Redis GET'),
        );
        this.lastError = undefined;
        return { key, found: raw !== null, value: raw === null ? null : JSON.parse(raw), store: 'redis' };
      } catch (e) {
        this.lastError = e instanceof Error ? e.message : String(e);
      }
    }
    const value = this.fallback.get(key);
    return {
      key,
      found: value !== undefined,
      value: value ?? null,
      store: 'memory-fallback',
      warning: FALLBACK_WARNING,
    };
  }

  async set(key, value, ttlMs = this.ttlMs) {
    const json = JSON.stringify(value);
    if (this.usingRedis) {
      try {
        // MULTI on a dedicated connection lent by the pool: the value and the write counter together.
        const [[setErr], [incrErr, writes]] = await this.breaker.execute(() =>
          withTimeout(
            this.redis.use((conn) =>
              conn
                .multi()
                .set(this.prefix + key, json, 'PX', ttlMs)
                .incr(`${this.prefix}#writes`)
                .pexpire(`${this.prefix}#writes`, 86_400_000)
                .exec(),
            ),
            this.timeoutMs * 2,
            'Redis MULTI',
          ),
        );
        if (setErr || incrErr) throw setErr ?? incrErr;
        this.lastError = undefined;
        return { key, stored: true, ttlMs, store: 'redis', writes };
      } catch (e) {
        this.lastError = e instanceof Error ? e.message : String(e);
      }
    }
    this.fallback.set(key, value, ttlMs);
    return { key, stored: true, ttlMs, store: 'memory-fallback', warning: FALLBACK_WARNING };
  }
}
