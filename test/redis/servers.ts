/**
 * Private Redis topologies for the fleet tests: a Cluster with replicas (so a failover can
 * happen) and a Sentinel group (one master, one replica, three sentinels). Every process
 * is started here on free ports and stopped here by its own handle, never by name.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type PrivateRedis, rawCommand, startRedis } from '../helpers/redis-server.js';

/** Resolves once an ioredis client (Redis or Cluster) is ready: connected, handshake done. */
export function whenReady(c: { status: string; once(e: 'ready', f: () => void): unknown }): Promise<void> {
  return c.status === 'ready' ? Promise.resolve() : new Promise((r) => void c.once('ready', r));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
  everyMs = 20,
): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`not within ${timeoutMs}ms: ${what}`);
    await sleep(everyMs);
  }
  return performance.now() - t0;
}

export function cli(port: number, ...args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('redis-cli', ['-p', String(port), ...args], { timeout: 3000 }, (err, stdout) =>
      resolve(err ? undefined : stdout),
    );
  });
}

let sentinelBinary: Promise<boolean> | undefined;
/** True when `redis-sentinel` can be run (Debian's `redis-sentinel` package). */
export function canStartSentinel(): Promise<boolean> {
  sentinelBinary ??= new Promise((resolve) =>
    execFile('redis-sentinel', ['--version'], (err) => resolve(!err)),
  );
  return sentinelBinary;
}

/** A node of a private Cluster: its server and the role it had at start. */
export interface ClusterMember {
  readonly server: PrivateRedis;
  readonly port: number;
}

export interface ClusterWithReplicas {
  readonly nodes: Array<{ host: string; port: number }>;
  readonly members: ClusterMember[];
  /** Ports of the masters now, by CLUSTER NODES as `port` asks it. */
  masters(askPort?: number): Promise<number[]>;
  /** CLUSTER INFO's cluster_state as the node on `port` sees it. */
  state(port: number): Promise<string | undefined>;
  stop(): Promise<void>;
}

/**
 * `masters` masters with `replicas` replicas each, on free ports, joined with
 * `redis-cli --cluster create`; returns once every node agrees the cluster is ok.
 * `nodeTimeout` is cluster-node-timeout: how soon a silent master is failed over;
 * `extra`: more redis-server arguments for every node.
 */
export async function startClusterWithReplicas(
  masters: number,
  replicas: number,
  nodeTimeout: number,
  extra: string[] = [],
): Promise<ClusterWithReplicas> {
  const dir = mkdtempSync(join(tmpdir(), 'bw-fleet-'));
  const members: ClusterMember[] = [];
  const total = masters * (1 + replicas);
  try {
    for (let i = 0; i < total; i++) {
      const nodeDir = mkdtempSync(join(dir, `n${i}-`));
      const server = await startRedis(
        [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(nodeDir, 'nodes.conf'),
          '--cluster-node-timeout',
          String(nodeTimeout),
          // A replica fails over however long ago it last heard from its master: in a test
          // the cluster is seconds old, and a replica that has not yet synced must still take over.
          '--cluster-replica-validity-factor',
          '0',
          ...extra,
        ],
        nodeDir,
      );
      members.push({ server, port: server.port });
    }
    const addrs = members.map((m) => `127.0.0.1:${m.port}`);
    await new Promise<void>((resolve, reject) =>
      execFile(
        'redis-cli',
        ['--cluster', 'create', ...addrs, '--cluster-replicas', String(replicas), '--cluster-yes'],
        { timeout: 30_000 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`cluster create failed: ${stderr || stdout}`)) : resolve(),
      ),
    );
    await until(
      () =>
        settled(
          members.map((m) => m.port),
          masters,
        ),
      30_000,
      'the cluster to settle',
      100,
    );
  } catch (e) {
    await Promise.all(members.map((m) => m.server.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const masterPorts = async (askPort = members.find((m) => m.server.running)!.port) => {
    const out = (await cli(askPort, 'cluster', 'nodes')) ?? '';
    return out
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => /master/.test(f[2] ?? '') && !/fail/.test(f[2] ?? '') && (f[8] ?? '') !== '')
      .map((f) => Number(f[1]!.split('@')[0]!.split(':')[1]));
  };
  return {
    nodes: members.map((m) => ({ host: '127.0.0.1', port: m.port })),
    members,
    masters: masterPorts,
    async state(port) {
      const info = await cli(port, 'cluster', 'info');
      return /cluster_state:(\w+)/.exec(info ?? '')?.[1];
    },
    async stop() {
      await Promise.all(members.map((m) => m.server.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every node: cluster ok, all slots ok, knows every node, and sees `masters` masters with slots. */
async function settled(ports: number[], masters: number): Promise<boolean> {
  for (const p of ports) {
    const info = await cli(p, 'cluster', 'info');
    if (info === undefined || !/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384\b/.test(info))
      return false;
    if (Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1]) !== ports.length) return false;
    const nodes = (await cli(p, 'cluster', 'nodes')) ?? '';
    const lines = nodes.trim().split('\n');
    if (lines.some((l) => /fail|handshake|noaddr/.test(l.split(' ')[2] ?? ''))) return false;
    if (lines.some((l) => l.split(' ')[7] !== 'connected')) return false;
    const withSlots = lines.filter((l) => /master/.test(l.split(' ')[2] ?? '') && l.split(' ').length > 8);
    if (withSlots.length !== masters) return false;
  }
  return true;
}

/** One master, one replica and three sentinels watching them as `name`. */
export interface SentinelGroup {
  readonly name: string;
  readonly master: PrivateRedis;
  readonly replica: PrivateRedis;
  readonly sentinels: Array<{ host: string; port: number }>;
  /** The master's port as the first reachable sentinel reports it. */
  masterPort(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/**
 * Starts the group and returns once every sentinel knows the master, its replica and the
 * other two sentinels. `downAfter`: down-after-milliseconds (how soon a silent master is
 * failed over).
 */
export async function startSentinelGroup(name: string, downAfter = 1000): Promise<SentinelGroup> {
  const dir = mkdtempSync(join(tmpdir(), 'bw-sentinel-'));
  const master = await startRedis();
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(master.port)]);
  const procs: ChildProcess[] = [];
  const ports: number[] = [];
  const stopAll = async () => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((r) => {
            if (p.exitCode !== null || p.signalCode !== null) return r();
            p.once('exit', () => r());
            p.kill('SIGKILL');
          }),
      ),
    );
    await Promise.all([master.kill(), replica.kill()]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(
      async () => /master_link_status:up/.test((await cli(replica.port, 'info', 'replication')) ?? ''),
      10_000,
      'the replica to sync',
    );
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${i}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${name} ${downAfter}`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const p = spawn('redis-sentinel', [conf], { stdio: 'ignore' });
      p.on('error', () => {});
      procs.push(p);
      ports.push(port);
    }
    await until(
      async () => {
        for (const port of ports) {
          const m = await rawCommand(port, `SENTINEL MASTER ${name}`, '127.0.0.1', 500);
          if (m === undefined) return false;
          const info = await cli(port, 'sentinel', 'master', name);
          if (info === undefined) return false;
          const f = info.trim().split('\n');
          const get = (k: string) => f[f.indexOf(k) + 1];
          if (get('num-slaves') !== '1' || get('num-other-sentinels') !== '2') return false;
        }
        return true;
      },
      20_000,
      'the sentinels to find the replica and each other',
      100,
    );
  } catch (e) {
    await stopAll();
    throw e;
  }
  return {
    name,
    master,
    replica,
    sentinels: ports.map((port) => ({ host: '127.0.0.1', port })),
    async masterPort() {
      for (const port of ports) {
        const out = await cli(port, 'sentinel', 'get-master-addr-by-name', name);
        const p = out?.trim().split('\n')[1];
        if (p !== undefined) return Number(p);
      }
      return undefined;
    },
    stop: stopAll,
  };
}
