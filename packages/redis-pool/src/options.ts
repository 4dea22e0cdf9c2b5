import type { ConnectionOptions } from 'node:tls';
import { ConfigError, type Duration } from '@breakwater/core';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import {
  checkKeys,
  expectObject,
  isPlainObject,
  optBoolean,
  optDuration,
  optInt,
  optString,
} from './validate.js';

/** A Redis Cluster seed node: `'host:port'` or `{ host, port }`. */
export type ClusterNode = string | { host: string; port: number };

/** Background health check of a {@link RedisPool}. */
export interface RedisHealthCheckOptions {
  /** Time between the end of one check and the start of the next. Default `'10s'`. */
  interval?: Duration;
  /** A PING slower than this fails the check. Default `'1s'`. */
  timeout?: Duration;
  /** Consecutive failed checks that mark the pool unhealthy. Default 3. */
  unhealthyThreshold?: number;
  /** Consecutive passed checks that mark an unhealthy pool healthy again. Default 1. */
  healthyThreshold?: number;
  /** Spread of the interval, 0..1: each pool runs at `interval × (1 ± jitter)`. Default 0.1. */
  jitter?: number;
}

/** Options of a {@link RedisPool}. */
export interface RedisPoolOptions {
  /** Name in metrics, health and errors. Default `'redis'`. */
  name?: string;
  /** `redis://[user:pass@]host:port/db` or `rediss://…` for TLS. Exclusive with `nodes`. */
  url?: string;
  /** Default `'127.0.0.1'` when neither `url` nor `nodes` is given. */
  host?: string;
  /** Default 6379. */
  port?: number;
  /** Database index. Default 0. Not with `nodes` (Cluster has only database 0). */
  db?: number;
  username?: string;
  password?: string;
  /** `true` or Node TLS options to connect with TLS. Default off. */
  tls?: boolean | ConnectionOptions;
  /** Redis Cluster seed nodes: `pool.client` and lent connections are then ioredis `Cluster`s. */
  nodes?: readonly ClusterNode[];
  /** Extra ioredis options for every connection (ours win where they overlap). */
  redisOptions?: RedisOptions;
  /** Extra ioredis Cluster options (with `nodes`). */
  clusterOptions?: ClusterOptions;
  /** Dedicated connections kept open even when idle. Default 0. */
  min?: number;
  /** Most dedicated connections open at once (the shared client not counted). Default 10. */
  max?: number;
  /** Longest a `use()` waits for a connection. At least 1ms. Default `'1s'`. */
  acquireTimeout?: Duration;
  /** Callers allowed to wait for a connection; 0 means none waits. Default 100. */
  maxWaitingClients?: number;
  /** An idle dedicated connection is closed after this; 0 keeps idle connections. Default `'30s'`. */
  idleTimeout?: Duration;
  /** A dedicated connection is closed (on return) once this old; 0 means no limit. Default 0. */
  maxLifetime?: Duration;
  /** Connecting gives up after this. Default `'2s'`. */
  connectTimeout?: Duration;
  /** Pause after a failed connect, doubling on each failure up to `max`. Default `{ initial: '100ms', max: '5s' }`. */
  createBackoff?: { initial?: Duration; max?: Duration };
  /** `close()` waits this long for lent connections to come back, then ends them. Default `'5s'`. */
  closeTimeout?: Duration;
  /** Background health check, or `false` for none. */
  healthCheck?: RedisHealthCheckOptions | false;
  /** Auto-pipelining on the shared client. Default true. */
  autoPipelining?: boolean;
  /** Whether this pool's health counts for readiness. Default true. */
  critical?: boolean;
}

export interface ResolvedHealthCheck {
  intervalMs: number;
  timeoutMs: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
  jitter: number;
}

export interface ResolvedPoolOptions {
  name: string;
  url: string | undefined;
  host: string;
  port: number;
  db: number;
  username: string | undefined;
  password: string | undefined;
  tls: ConnectionOptions | undefined;
  nodes: ClusterNode[] | undefined;
  redisOptions: RedisOptions;
  clusterOptions: ClusterOptions;
  min: number;
  max: number;
  acquireTimeoutMs: number;
  maxWaitingClients: number;
  idleTimeoutMs: number;
  maxLifetimeMs: number;
  connectTimeoutMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  closeTimeoutMs: number;
  /** With `healthCheck: false`, only the timeout is used (for live probes). */
  healthCheck: ResolvedHealthCheck | undefined;
  probeTimeoutMs: number;
  autoPipelining: boolean;
  critical: boolean;
}

const KNOWN = [
  'name',
  'url',
  'host',
  'port',
  'db',
  'username',
  'password',
  'tls',
  'nodes',
  'redisOptions',
  'clusterOptions',
  'min',
  'max',
  'acquireTimeout',
  'maxWaitingClients',
  'idleTimeout',
  'maxLifetime',
  'connectTimeout',
  'createBackoff',
  'closeTimeout',
  'healthCheck',
  'autoPipelining',
  'critical',
];

/** Checks every option once, at construction, naming the bad one (`redisPool.max: …`). */
export function resolvePoolOptions(raw: unknown, path = 'redisPool'): ResolvedPoolOptions {
  const o = expectObject(raw, path);
  checkKeys(o, KNOWN, path);
  const url = optString(o.url, `${path}.url`);
  if (url !== undefined && !/^rediss?:\/\//.test(url))
    throw new ConfigError(`${path}.url`, url, "a URL starting with 'redis://' or 'rediss://'");
  let nodes: ClusterNode[] | undefined;
  if (o.nodes !== undefined) {
    if (!Array.isArray(o.nodes) || o.nodes.length === 0)
      throw new ConfigError(`${path}.nodes`, o.nodes, "a non-empty array of 'host:port' or { host, port }");
    nodes = o.nodes.map((n: unknown, i) => checkNode(n, `${path}.nodes[${i}]`));
    if (url !== undefined) throw new ConfigError(`${path}.url`, url, 'no url when nodes are given');
    if (o.db !== undefined && o.db !== 0)
      throw new ConfigError(`${path}.db`, o.db, '0 or nothing (Redis Cluster has only database 0)');
  }
  if (o.tls !== undefined && typeof o.tls !== 'boolean' && !isPlainObject(o.tls))
    throw new ConfigError(`${path}.tls`, o.tls, 'true, false or TLS options');
  for (const k of ['redisOptions', 'clusterOptions'] as const)
    if (o[k] !== undefined) expectObject(o[k], `${path}.${k}`);

  // generic-pool turns an explicit 0 into its own default for several options (max 0 → 1,
  // idleTimeoutMillis 0 → 30s, acquireTimeoutMillis 0 → no timeout): each is decided here instead.
  const max = optInt(o.max, `${path}.max`, 10, 1, 10_000);
  const min = optInt(o.min, `${path}.min`, 0, 0, 10_000);
  if (min > max) throw new ConfigError(`${path}.min`, min, `an integer from 0 to max (${max})`);

  let healthCheck: ResolvedHealthCheck | undefined;
  let probeTimeoutMs = 1000; // 1s
  if (o.healthCheck !== false && o.healthCheck !== undefined && !isPlainObject(o.healthCheck))
    throw new ConfigError(`${path}.healthCheck`, o.healthCheck, 'health check options or false');
  if (o.healthCheck !== false) {
    const hp = `${path}.healthCheck`;
    const h = (o.healthCheck ?? {}) as Record<string, unknown>;
    checkKeys(h, ['interval', 'timeout', 'unhealthyThreshold', 'healthyThreshold', 'jitter'], hp);
    const jitter = h.jitter ?? 0.1;
    if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1))
      throw new ConfigError(`${hp}.jitter`, jitter, 'a number from 0 to 1');
    healthCheck = {
      intervalMs: optDuration(h.interval, `${hp}.interval`, 10_000, 1), // 10s
      timeoutMs: optDuration(h.timeout, `${hp}.timeout`, 1000, 1), // 1s
      unhealthyThreshold: optInt(h.unhealthyThreshold, `${hp}.unhealthyThreshold`, 3, 1),
      healthyThreshold: optInt(h.healthyThreshold, `${hp}.healthyThreshold`, 1, 1),
      jitter,
    };
    probeTimeoutMs = healthCheck.timeoutMs;
  }
  let backoffInitialMs = 100; // 100ms
  let backoffMaxMs = 5000; // 5s
  if (o.createBackoff !== undefined) {
    const b = expectObject(o.createBackoff, `${path}.createBackoff`);
    checkKeys(b, ['initial', 'max'], `${path}.createBackoff`);
    backoffInitialMs = optDuration(b.initial, `${path}.createBackoff.initial`, backoffInitialMs, 1);
    backoffMaxMs = optDuration(
      b.max,
      `${path}.createBackoff.max`,
      Math.max(backoffMaxMs, backoffInitialMs),
      1,
    );
    if (backoffMaxMs < backoffInitialMs)
      throw new ConfigError(
        `${path}.createBackoff.max`,
        b.max,
        `a duration >= initial (${backoffInitialMs}ms)`,
      );
  }

  return {
    name: optString(o.name, `${path}.name`) ?? 'redis',
    url,
    host: optString(o.host, `${path}.host`) ?? '127.0.0.1',
    port: optInt(o.port, `${path}.port`, 6379, 1, 65_535),
    db: optInt(o.db, `${path}.db`, 0, 0),
    username: optString(o.username, `${path}.username`),
    password: optString(o.password, `${path}.password`),
    tls:
      o.tls === true ? {} : o.tls === false || o.tls === undefined ? undefined : (o.tls as ConnectionOptions),
    nodes,
    redisOptions: (o.redisOptions ?? {}) as RedisOptions,
    clusterOptions: (o.clusterOptions ?? {}) as ClusterOptions,
    min,
    max,
    acquireTimeoutMs: optDuration(o.acquireTimeout, `${path}.acquireTimeout`, 1000, 1), // 1s
    maxWaitingClients: optInt(o.maxWaitingClients, `${path}.maxWaitingClients`, 100, 0),
    idleTimeoutMs: optDuration(o.idleTimeout, `${path}.idleTimeout`, 30_000), // 30s; 0 = never
    maxLifetimeMs: optDuration(o.maxLifetime, `${path}.maxLifetime`, 0), // 0 = no limit
    connectTimeoutMs: optDuration(o.connectTimeout, `${path}.connectTimeout`, 2000, 1), // 2s
    backoffInitialMs,
    backoffMaxMs,
    closeTimeoutMs: optDuration(o.closeTimeout, `${path}.closeTimeout`, 5000), // 5s
    healthCheck,
    probeTimeoutMs,
    autoPipelining: optBoolean(o.autoPipelining, `${path}.autoPipelining`, true),
    critical: optBoolean(o.critical, `${path}.critical`, true),
  };
}

function checkNode(n: unknown, path: string): ClusterNode {
  if (typeof n === 'string' && /^[^\s:]+:\d{1,5}$/.test(n)) return n;
  if (isPlainObject(n) && typeof n.host === 'string' && n.host.length > 0) {
    optInt(n.port, `${path}.port`, 0, 1, 65_535);
    if (n.port === undefined) throw new ConfigError(`${path}.port`, n.port, 'an integer from 1 to 65535');
    return { host: n.host, port: n.port as number };
  }
  throw new ConfigError(path, n, "'host:port' or { host, port }");
}
