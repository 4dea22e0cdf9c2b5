import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

/**
 * Starts a server script as its own process. The script prints `{"port":n}` on its first
 * line of stdout once it listens; resolves with the port and a `stop()`.
 */
export async function startServer(script, args = [], { execArgv = [], env } = {}) {
  const child = spawn(process.execPath, [...execArgv, script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: env ? { ...process.env, ...env } : process.env,
  });
  let buf = '';
  const port = await new Promise((resolve, reject) => {
    const onData = (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      child.stdout.off('data', onData);
      try {
        resolve(JSON.parse(buf.slice(0, nl)).port);
      } catch (e) {
        reject(new Error(`${script} ${args.join(' ')}: bad first line ${buf.slice(0, nl)}: ${e}`));
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${script} ${args.join(' ')} exited with ${code}`)));
  });
  child.stdout.resume();
  return {
    port,
    pid: child.pid,
    /** CPU seconds (user + system) the server has used so far; NaN where /proc is missing. */
    cpuSeconds: () => cpuSecondsOf(child.pid),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/**
 * Starts the load generator (autocannon) in its own process. `run(url, options)` drives one
 * run and resolves with its summary (`rps`, `requests`, `errors`, `non2xx`, latencies).
 */
export function startLoadGenerator() {
  const w = startWorker(`${here}load.mjs`);
  return {
    run: (url, { connections = 50, duration, amount, pipelining = 1 } = {}) =>
      w.call('run', { url, connections, duration, amount, pipelining }),
    stop: () => w.stop(),
  };
}

/** Runs a Node script to its end; resolves with its stdout, rejects on a non-zero exit. */
export function runNode(script, args = [], { execArgv = [], env, timeoutMs = 600_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...execArgv, script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env ? { ...process.env, ...env } : process.env,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else {
        const e = new Error(`${script} exited with ${code ?? signal}: ${err.slice(-2000)}`);
        e.stdout = out;
        e.stderr = err;
        reject(e);
      }
    });
  });
}

/**
 * A long-lived worker process (the script calls `serve(handlers)` from worker.mjs): each
 * `call(name, arg)` runs one handler there and resolves with its answer. Keeping a worker
 * per subject isolates their JIT and heap while the runner alternates between them.
 */
export function startWorker(script, args = [], { execArgv = [] } = {}) {
  const child = fork(script, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let seq = 0;
  const pending = new Map();
  child.on('message', (m) => {
    const p = pending.get(m.id);
    if (p === undefined) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(m.error));
    else p.resolve(m.value);
  });
  child.once('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`${script} exited with ${code}`));
    pending.clear();
  });
  return {
    call(name, arg) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, name, arg });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.disconnect();
      await once(child, 'exit');
    },
  };
}

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux the bench runs on

/**
 * CPU time of a process from /proc/<pid>/stat (utime + stime). CPU per request is far
 * steadier than requests per second on a machine where other jobs take turns on the cores.
 */
export function cpuSecondsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}
