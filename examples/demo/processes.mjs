/**
 * Starts the flaky upstream and a demo service as child processes on free ports and
 * stops them again: SIGTERM, then SIGKILL if one has not exited within 5 s. Each child
 * prints one JSON line when it listens; its other output goes to `log`, prefixed.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
/** The frameworks the demo service runs on, by name, with the name to print. */
export const FRAMEWORKS = { express: 'Express', koa: 'Koa', fastify: 'Fastify', hono: 'Hono' };
const SERVICES = Object.fromEntries(
  Object.keys(FRAMEWORKS).map((f) => [f, here(`../${f}-service/server.mjs`)]),
);
const UPSTREAM = here('../upstream/server.mjs');

/** Spawns `node args...` and resolves with `{ child, info }` once it prints its "listening" line. */
export function startChild(name, args, { env = {}, log = () => {}, timeoutMs = 15_000 } = {}) {
  // BW_EXIT_WITH_STDIN: the child exits when this process's end of its stdin closes, so
  // even a demo that dies abruptly leaves no server behind.
  const child = spawn(process.execPath, args, {
    env: { ...process.env, BW_EXIT_WITH_STDIN: '1', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  createInterface({ input: child.stderr }).on('line', (l) => log(`  ${l}`));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        return log(`  [${name}] ${line}`);
      }
      if (msg.event === 'listening') {
        clearTimeout(timer);
        resolve({ child, info: msg, exited, stop: () => stopChild(child, exited) });
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it listened (${signal ?? `exit code ${code}`})`));
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child, exited, graceMs = 5_000) {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts the upstream, then the service (`framework`: a key of FRAMEWORKS) pointed at it.
 * `env` adds variables for the service (REDIS_URL passes through from the environment).
 * Resolves with `{ target, upstream, token, redis, framework, stop() }`.
 */
export async function startStack({ framework = 'express', env = {}, log = () => {} } = {}) {
  if (!Object.hasOwn(SERVICES, framework)) throw new Error(`no demo service on ${JSON.stringify(framework)}`);
  const token = process.env.ADMIN_TOKEN || randomBytes(12).toString('hex');
  const up = await startChild('upstream', [UPSTREAM], {
    env: { PORT: '0', LATENCY_MS: '15', JITTER_MS: '10' },
    log,
  });
  let svc;
  try {
    svc = await startChild(
      `${framework}-service`,
      // --expose-gc: the endurance scenario compares the heap after a GC.
      ['--expose-gc', SERVICES[framework]],
      { env: { PORT: '0', UPSTREAM_URL: up.info.url, ADMIN_TOKEN: token, ...env }, log },
    );
  } catch (e) {
    await up.stop();
    throw e;
  }
  let stopping;
  return {
    framework,
    target: svc.info.url,
    upstream: up.info.url,
    token,
    redis: svc.info.redis,
    pids: [up.child.pid, svc.child.pid],
    stop() {
      stopping ??= (async () => {
        await svc.stop();
        await up.stop();
      })();
      return stopping;
    },
  };
}
