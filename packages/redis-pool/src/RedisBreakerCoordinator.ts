import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { BreakwaterError, ConfigError, type Duration } from '@breakwater/core';
import type { BreakerCoordinator } from '@breakwater/core/extend';
import type { Cluster, Redis } from 'ioredis';
import { withTimeout } from './connection.js';
import type { RedisPool } from './RedisPool.js';
import { checkKeys, expectObject, optDuration, optString } from './validate.js';

/** Options of a {@link RedisBreakerCoordinator}: give `client` or `pool`. */
export interface RedisBreakerCoordinatorOptions {
  /** An ioredis `Redis` or `Cluster` client (left open: its owner closes it). */
  client?: Redis | Cluster;
  /** A {@link RedisPool}: exchanges go through its shared client. */
  pool?: RedisPool;
  /** This instance's id in the fleet. Default: host name, pid and a random suffix. */
  instanceId?: string;
  /** Prefix of every key; the breaker's name follows in a hash tag: `bw:breaker:{name}`. Default `'bw:breaker:'`. */
  prefix?: string;
  /** An exchange slower than this fails (the breakers go on by their local state). Default `'250ms'`. */
  timeout?: Duration;
}

/**
 * One sorted set per breaker: member = instance id, score = when its report expires (by
 * Redis's clock, so instances' clocks may differ). Expired reports are dropped, this
 * instance's report is renewed or withdrawn, and the live ones are counted, in one call.
 * ARGV: instance id, TTL in ms (> 0: report open, 0: withdraw, < 0: only count).
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
elseif ttl == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
local n = redis.call('ZCARD', KEYS[1])
if n > 0 then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(last[2])) + 1000)
end
return n
`;
const SHA = createHash('sha1').update(SCRIPT).digest('hex');

/**
 * The Redis side of fleet-aware breakers (core's `BreakerFleet`): each instance reports
 * the breakers it saw trip, and reads how many instances report each one. A report
 * expires unless renewed, so a crashed instance stops counting on its own.
 *
 * ```ts
 * const fleet = new BreakerFleet({ coordinator: new RedisBreakerCoordinator({ pool }), quorum: 2 });
 * const bw = breakwater({ breakers: { upstream: { consecutiveFailures: 5, fleet } } });
 * ```
 */
export class RedisBreakerCoordinator implements BreakerCoordinator {
  readonly instanceId: string;
  readonly prefix: string;
  readonly timeoutMs: number;
  private readonly client: Redis | Cluster;

  constructor(options: RedisBreakerCoordinatorOptions) {
    const path = 'coordinator';
    const o = expectObject(options, path);
    checkKeys(o, ['client', 'pool', 'instanceId', 'prefix', 'timeout'], path);
    if ((o.client === undefined) === (o.pool === undefined))
      throw new ConfigError(path, Object.keys(o), 'exactly one of client or pool');
    const client = o.pool !== undefined ? (o.pool as RedisPool).client : o.client;
    if (typeof (client as Redis | undefined)?.evalsha !== 'function')
      throw new ConfigError(
        o.pool !== undefined ? `${path}.pool` : `${path}.client`,
        o.pool ?? o.client,
        o.pool !== undefined ? 'a RedisPool' : 'an ioredis Redis or Cluster client',
      );
    this.client = client as Redis | Cluster;
    this.instanceId =
      optString(o.instanceId, `${path}.instanceId`) ??
      `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    if (o.prefix !== undefined && (typeof o.prefix !== 'string' || /[{}]/.test(o.prefix)))
      throw new ConfigError(`${path}.prefix`, o.prefix, 'a string without { or }');
    this.prefix = (o.prefix as string | undefined) ?? 'bw:breaker:';
    this.timeoutMs = optDuration(o.timeout, `${path}.timeout`, 250, 1); // 250ms
  }

  exchange(name: string, open: boolean | undefined, ttlMs: number): Promise<number> {
    const ttl = open === true ? Math.max(1, Math.round(ttlMs)) : open === false ? 0 : -1;
    return withTimeout(
      this.run(`${this.prefix}{${name}}`, ttl),
      this.timeoutMs,
      () =>
        new BreakwaterError(
          'COORDINATOR_UNAVAILABLE',
          `Redis breaker coordinator timed out after ${this.timeoutMs}ms`,
        ),
    );
  }

  /** EVALSHA; after NOSCRIPT (Redis restarted, SCRIPT FLUSH) EVAL once, which caches it again. */
  private async run(key: string, ttl: number): Promise<number> {
    try {
      return Number(await this.client.evalsha(SHA, 1, key, this.instanceId, ttl));
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
      return Number(await this.client.eval(SCRIPT, 1, key, this.instanceId, ttl));
    }
  }
}
