/**
 * @breakwater/redis-pool: a health-checked Redis pool (ioredis + generic-pool) and the
 * Redis rate-limit store that lets many instances share one limit, and the Redis store of
 * `staleIfError` copies that lets them share their last good answers.
 *
 * ```ts
 * import { RedisPool, RedisRateLimitStore } from '@breakwater/redis-pool';
 * const pool = new RedisPool({ name: 'cache', url: 'redis://127.0.0.1:6379', max: 10 });
 * const bw = breakwater({ store: new RedisRateLimitStore({ pool }) });
 * bw.pools.add(pool);
 * ```
 * @packageDocumentation
 */
export type { RedisConnection } from './connection.js';
export {
  isPoolAcquireTimeoutError,
  isPoolClosedError,
  isPoolQueueFullError,
  isPoolUnavailableError,
  isStoreUnavailableError,
  PoolAcquireTimeoutError,
  PoolClosedError,
  PoolQueueFullError,
  PoolUnavailableError,
  StoreUnavailableError,
} from './errors.js';
export type { ClusterNode, RedisHealthCheckOptions, RedisPoolOptions } from './options.js';
export {
  RedisBreakerCoordinator,
  type RedisBreakerCoordinatorOptions,
} from './RedisBreakerCoordinator.js';
export { RedisPool } from './RedisPool.js';
export {
  type NodeRedisClient,
  RedisRateLimitStore,
  type RedisRateLimitStoreOptions,
  type RedisRateLimitStoreStats,
} from './RedisRateLimitStore.js';
export {
  RedisStaleStore,
  type RedisStaleStoreOptions,
  type RedisStaleStoreStats,
} from './RedisStaleStore.js';
export type { ScriptClient } from './scriptClient.js';
