import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { ResolvedPoolOptions } from './options.js';
import { slotPerMaster, tagOf } from './slots.js';

/** What the pool lends and shares: an ioredis client, or a Cluster client with `nodes`. */
export type RedisConnection = Redis | Cluster;

/** Connection options common to the shared client and the dedicated ones. */
function baseOptions(o: ResolvedPoolOptions): RedisOptions {
  const base: RedisOptions = {
    // ioredis keeps a ref'd 2s timer per ended socket that never connected: end sooner.
    disconnectTimeout: 200,
    ...o.redisOptions,
    connectTimeout: o.connectTimeoutMs,
  };
  if (o.url === undefined) {
    base.host = o.host;
    base.port = o.port;
    if (o.nodes === undefined) base.db = o.db;
  }
  if (o.username !== undefined) base.username = o.username;
  if (o.password !== undefined) base.password = o.password;
  if (o.tls !== undefined) base.tls = o.tls;
  base.connectionName ??= o.name;
  return base;
}

/**
 * The shared client: reconnects by itself (ioredis's default strategy), queues commands
 * while it connects, but gives a command up after one failed reconnect so callers are not
 * held through a long outage.
 */
export function createSharedClient(o: ResolvedPoolOptions): RedisConnection {
  const base = baseOptions(o);
  if (o.nodes !== undefined) {
    return new Cluster(o.nodes, {
      ...o.clusterOptions,
      enableAutoPipelining: o.autoPipelining,
      redisOptions: { ...base, maxRetriesPerRequest: 1 },
    });
  }
  const opts: RedisOptions = { maxRetriesPerRequest: 1, ...base, enableAutoPipelining: o.autoPipelining };
  return o.url === undefined ? new Redis(opts) : new Redis(o.url, opts);
}

/**
 * A dedicated connection: connects only when asked, never reconnects and never queues
 * offline. A connection that drops is simply broken and the pool replaces it, so a lent
 * connection never silently changes server session (WATCH, SELECT, subscriptions).
 */
export function createDedicated(o: ResolvedPoolOptions): RedisConnection {
  const base: RedisOptions = {
    ...baseOptions(o),
    enableAutoPipelining: false,
    autoResubscribe: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  };
  if (o.nodes !== undefined) {
    // Cluster node connections open lazily on their first command, so they keep the
    // offline queue; the Cluster client itself does not queue while it is down.
    return new Cluster(o.nodes, {
      ...o.clusterOptions,
      lazyConnect: true,
      enableOfflineQueue: false,
      enableAutoPipelining: false,
      clusterRetryStrategy: () => null,
      redisOptions: base,
    });
  }
  const opts: RedisOptions = { ...base, lazyConnect: true, enableOfflineQueue: false };
  return o.url === undefined ? new Redis(opts) : new Redis(o.url, opts);
}

/** The node connections of a Cluster client (masters), or the client itself. */
export function nodesOf(c: RedisConnection): Redis[] {
  return c instanceof Cluster ? c.nodes('master') : [c];
}

/** PINGs a client; a Cluster client PINGs every master it knows (at least one). */
export async function pingAll(c: RedisConnection): Promise<void> {
  const nodes = c instanceof Cluster && c.status === 'ready' ? c.nodes('master') : [];
  if (nodes.length === 0) await c.ping();
  else await Promise.all(nodes.map((n) => n.ping()));
}

/**
 * A Cluster that cannot serve every slot: a node says `cluster_state:fail`, or the slot
 * map leaves slots without a master. Requests for those keys fail already, so the pool is
 * unhealthy at once, not after `unhealthyThreshold` checks.
 */
export class ClusterDownError extends Error {
  readonly decisive = true;
}

/**
 * What requests see on a Cluster: every master asked says the cluster is ok, every
 * slot has a master, and a keyed command (EXISTS of a key in one of its slots, routed as
 * requests are) reaches each master. Rejects naming what failed.
 */
export async function probeCluster(c: Cluster, timeoutMs: number): Promise<void> {
  // Half the budget: an unreachable master is the keyed probe's to report.
  const infos = await Promise.all(
    c.nodes('master').map((n) =>
      withTimeout(n.cluster('INFO'), timeoutMs / 2, () => new Error('timeout')).then(
        (info) => String(info),
        () => '',
      ),
    ),
  );
  const failing = infos.find((i) => /cluster_state:fail/.test(i));
  if (failing !== undefined) {
    const ok = /cluster_slots_ok:(\d+)/.exec(failing)?.[1];
    throw new ClusterDownError(`cluster_state:fail${ok === undefined ? '' : ` (${ok} of 16384 slots ok)`}`);
  }
  const { masters, unowned } = slotPerMaster(c);
  if (unowned > 0) throw new ClusterDownError(`${unowned} slots have no master`);
  await Promise.all(
    [...masters].map(([addr, slot]) =>
      c.exists(`bw:health:{${tagOf(slot)}}`).catch((e: unknown) => {
        throw new Error(`master ${addr}: ${e instanceof Error ? e.message : String(e)}`);
      }),
    ),
  );
}

/** Rejects after `ms` unless `p` settles first; the timer is cleared either way. */
export function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(onTimeout()), ms);
    t.unref();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Closes a client at once; never throws. */
export function endNow(c: RedisConnection): void {
  try {
    c.disconnect();
  } catch {
    // already ended
  }
}

/** QUIT, so pending replies arrive first; ends the socket anyway after `ms`. */
export async function endGracefully(c: RedisConnection, ms: number): Promise<void> {
  if (c.status === 'end') return;
  try {
    await withTimeout(c.quit(), ms, () => new Error('quit timed out'));
  } catch {
    // Redis gone or slow: fall through and close the socket.
  }
  endNow(c);
}
