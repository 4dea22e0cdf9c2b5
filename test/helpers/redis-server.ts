/**
 * Real Redis for tests: the shared server at REDIS_URL, and private `redis-server`
 * processes on free ports that a test may kill (never a server it did not start).
 *
 * When Redis cannot be reached or started, `redisOrSkip()` prints one loud line and the
 * suite is skipped; under `CI=true` it throws instead, so CI fails.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A free TCP port on 127.0.0.1 (the OS picks; closed again at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Sends one inline command on a fresh socket; resolves with the first reply line, or undefined. */
export function rawCommand(
  port: number,
  command: string,
  host = '127.0.0.1',
  timeoutMs = 500,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host });
    let buf = '';
    const done = (v: string | undefined) => {
      clearTimeout(t);
      sock.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(undefined), timeoutMs);
    sock.on('connect', () => sock.write(`${command}\r\n`));
    sock.on('data', (d) => {
      buf += d.toString();
      const i = buf.indexOf('\r\n');
      if (i >= 0) done(buf.slice(0, i));
    });
    sock.on('error', () => done(undefined));
  });
}

function portOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) };
}

/** True when the server at `url` answers PING. */
export async function reachable(url = REDIS_URL): Promise<boolean> {
  const { host, port } = portOf(url);
  return (await rawCommand(port, 'PING', host)) === '+PONG';
}

let binary: Promise<boolean> | undefined;
/** True when `redis-server` (and `redis-cli`) can be run. */
export function canStartRedis(): Promise<boolean> {
  binary ??= Promise.all(
    ['redis-server', 'redis-cli'].map(
      (b) => new Promise<boolean>((resolve) => execFile(b, ['--version'], (err) => resolve(!err))),
    ),
  ).then((r) => r.every(Boolean));
  return binary;
}

/**
 * Whether the suite can run. Prints one loud line and returns false when it cannot;
 * throws under CI=true. `needs`: 'shared' (REDIS_URL) and/or 'private' (redis-server binary).
 */
export async function redisOrSkip(
  suite: string,
  needs: Array<'shared' | 'private'> = ['shared'],
): Promise<boolean> {
  const missing: string[] = [];
  if (needs.includes('shared') && !(await reachable())) missing.push(`no Redis at ${REDIS_URL}`);
  if (needs.includes('private') && !(await canStartRedis()))
    missing.push('redis-server/redis-cli not installed');
  if (missing.length === 0) return true;
  const msg = `!!!!! SKIPPING ${suite}: ${missing.join('; ')} !!!!!`;
  if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: Redis tests must run)`);
  console.warn(msg);
  return false;
}

/** A redis-server this test started: kill it, start it again on the same port. */
export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** SIGKILL, resolved once the process has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after kill). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: the server keeps its sockets but answers nothing. */
  pause(): void;
  resume(): void;
  readonly running: boolean;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function spawnRedis(port: number, extra: string[], cwd?: string): ChildProcess {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra];
  return spawn('redis-server', args, { stdio: 'ignore', ...(cwd ? { cwd } : {}) });
}

/** Starts a private `redis-server` on a free port and waits until it answers PING. */
export async function startRedis(extra: string[] = [], cwd?: string): Promise<PrivateRedis> {
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const start = async () => {
    proc = spawnRedis(port, extra, cwd);
    proc.on('error', () => {});
    await waitFor(
      async () => (await rawCommand(port, 'PING', '127.0.0.1', 200)) === '+PONG',
      5000,
      `redis-server on ${port}`,
    );
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
    },
    async kill() {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGCONT');
      p.kill('SIGKILL');
      await exited;
    },
    restart: start,
    pause() {
      proc?.kill('SIGSTOP');
    },
    resume() {
      proc?.kill('SIGCONT');
    },
  };
}

/** A three-master Redis Cluster on free ports, joined with `redis-cli --cluster create`. */
export interface PrivateCluster {
  readonly nodes: Array<{ host: string; port: number }>;
  stop(): Promise<void>;
}

export async function startCluster(size = 3): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bw-cluster-'));
  const servers: PrivateRedis[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const nodeDir = mkdtempSync(join(dir, `n${i}-`));
      servers.push(
        await startRedis(
          [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(nodeDir, 'nodes.conf'),
            // Redis's default. A short timeout lets a node starved of CPU on a loaded CI machine
            // be marked failing mid-test (cluster_state:fail, CLUSTERDOWN, clients reconnecting);
            // nothing here needs failures detected quickly.
            '--cluster-node-timeout',
            '15000',
          ],
          nodeDir,
        ),
      );
    }
    const addrs = servers.map((s) => `127.0.0.1:${s.port}`);
    await new Promise<void>((resolve, reject) =>
      execFile(
        'redis-cli',
        ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'],
        { timeout: 20_000 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`cluster create failed: ${stderr || stdout}`)) : resolve(),
      ),
    );
    // `--cluster create` returns once the nodes have met; each node then still has to learn
    // the others' slots (gossip) and switch to cluster_state:ok on its own clock. A client
    // that connects before that reads an incomplete slot map from whichever node it asks,
    // or a failing CLUSTER INFO: ioredis's Cluster then drops the connect without settling
    // it (a dedicated, non-retrying client hangs until its connect timeout) or redirects
    // commands mid-test. So wait until every node reports the cluster ok with every slot
    // served, and every node describes the same masters, slots and links.
    await waitFor(
      () => clusterSettled(servers.map((s) => s.port)),
      20_000,
      'every node to agree the cluster is ok',
    );
  } catch (e) {
    await Promise.all(servers.map((s) => s.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
    async stop() {
      await Promise.all(servers.map((s) => s.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function redisCli(port: number, ...args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('redis-cli', ['-p', String(port), ...args], { timeout: 2000 }, (err, stdout) =>
      resolve(err ? undefined : stdout),
    );
  });
}

/**
 * True when every node says `cluster_state:ok` with all 16384 slots ok and knows all the
 * nodes, and all nodes give the same view of the cluster: each master with its slots,
 * connected, flagged neither failing nor in handshake.
 */
async function clusterSettled(ports: number[]): Promise<boolean> {
  const infos = await Promise.all(ports.map((p) => redisCli(p, 'cluster', 'info')));
  for (const info of infos) {
    if (info === undefined || !/cluster_state:ok/.test(info)) return false;
    if (!/cluster_slots_ok:16384\b/.test(info)) return false;
    if (Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1]) !== ports.length) return false;
  }
  const views = await Promise.all(ports.map((p) => redisCli(p, 'cluster', 'nodes')));
  const normalised = views.map((v) => {
    if (v === undefined) return undefined;
    const lines = v
      .trim()
      .split('\n')
      .map((line) => {
        // <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slots…>
        const f = line.trim().split(' ');
        const flags = (f[2] ?? '').replace('myself,', '');
        if (flags !== 'master' || f[7] !== 'connected') return undefined;
        return `${f[1]?.split('@')[0]} ${f.slice(8).join(' ')}`;
      });
    return lines.includes(undefined) ? undefined : lines.sort().join('\n');
  });
  return normalised[0] !== undefined && normalised.every((v) => v === normalised[0]);
}

/** A key prefix no other test run shares (the shared Redis is shared with parallel suites). */
export function uniquePrefix(label: string): string {
  return `bwtest:${label}:${process.pid}:${Math.random().toString(36).slice(2, 8)}:`;
}
