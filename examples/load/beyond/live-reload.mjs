#!/usr/bin/env node
/**
 * Live reload against a restart. The Express demo service runs in a child process under a
 * steady load on `GET /api/error-prone` (one client, a per-client rate limit from the
 * config file); midway the file is edited to lower the limit, then to raise it.
 *
 * - live reload: the service watches its file and applies the edit (bw.reconfigure);
 * - restart (the static alternative): the file is edited and the service restarted.
 *
 * Reported per phase: offered, allowed and refused rates (from the second half of the
 * phase, once the edit took effect), failed requests (neither 200 nor 429, or no answer),
 * and the time from the file write to the first request answered under the new limit
 * (read from the `RateLimit-Policy` header of the answers).
 *
 * `node examples/load/beyond/live-reload.mjs [--quick]`
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { DEFAULT_CONFIG_FILE, readConfigFile } from '../../shared/config.mjs';
import { main, openLoad, printPlainTable, round, sleep } from './support.mjs';

const SERVER = fileURLToPath(new URL('../../express-service/server.mjs', import.meta.url));
const PATH = '/api/error-prone';
const CLIENT = 'load';

/** The demo's own config file with the route's limit set to `limit` per second. */
function configText(base, limit) {
  const routes = { ...base.breakwater.routes };
  routes[`GET ${PATH}`] = {
    timeout: '1s',
    // A small burst: a new limit shows in the rates at once rather than after a full bucket drains.
    rateLimit: {
      limit,
      window: '1s',
      burst: Math.max(1, Math.round(limit / 5)),
      key: { header: 'x-client-id' },
    },
  };
  return stringify({ ...base, breakwater: { ...base.breakwater, routes } });
}

async function freePort() {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Starts the service; resolves once it listens. `events` gets its JSON lines (reloads). */
async function startService(file, port, events) {
  const child = spawn(process.execPath, [SERVER], {
    env: {
      ...process.env,
      CONFIG: file,
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: 'off',
      WORKERS: '1',
      ERROR_RATE: '0',
      ADMIN_TOKEN: 'live-reload-scenario',
      UPSTREAM_URL: 'http://127.0.0.1:9',
      BW_EXIT_WITH_STDIN: '1',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr = (stderr + c).slice(-4000);
  });
  let buf = '';
  const listening = new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => {
      buf += c;
      for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let ev;
        try {
          ev = JSON.parse(line);
        } catch {
          continue;
        }
        if (ev.event === 'listening') resolve();
        else events.push({ ...ev, seen: Date.now() });
      }
    });
    child.once('exit', (code) => reject(new Error(`service exited (${code}) before listening: ${stderr}`)));
  });
  await listening;
  return {
    child,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

async function runVariant(mode, { rate, phaseS, limits, base, dir }) {
  const file = join(dir, `${mode}.yaml`);
  writeFileSync(file, configText(base, limits[0]));
  const port = await freePort();
  const events = [];
  let svc = await startService(file, port, events);
  const url = `http://127.0.0.1:${port}${PATH}`;
  // Warm up (the route's guard is built at its first request), then measure from t0.
  for (let i = 0; i < 3; i++)
    await fetch(url, { headers: { 'x-client-id': 'warm-up', connection: 'close' } });
  const t0 = Date.now();
  const load = openLoad(url, rate, t0, {
    headers: { 'x-client-id': CLIENT },
    read: (res) => {
      const m = /q=(\d+)/.exec(res.headers['ratelimit-policy'] ?? '');
      return { q: m ? Number(m[1]) : undefined };
    },
  });
  const writes = [0];
  try {
    for (let p = 1; p < limits.length; p++) {
      await sleep(phaseS * 1000 - (Date.now() - t0 - writes[p - 1]));
      writes.push(Date.now() - t0);
      writeFileSync(file, configText(base, limits[p]));
      if (mode === 'restart') {
        await svc.stop();
        svc = await startService(file, port, events);
      }
    }
    await sleep(phaseS * 1000 - (Date.now() - t0 - writes.at(-1)));
  } finally {
    await load.stop();
    await svc.stop();
  }
  const end = Date.now() - t0;
  const samples = load.samples;
  return limits.map((limit, p) => {
    const from = writes[p];
    const to = p + 1 < writes.length ? writes[p + 1] : end;
    const effect = p === 0 ? 0 : (samples.find((s) => s.t >= from && s.q === limit)?.t ?? Number.NaN) - from;
    // Steady state: the second half of the phase, well after the edit took effect.
    const mid = from + (to - from) / 2;
    const steady = samples.filter((s) => s.t >= mid && s.t < to);
    const spanS = (to - mid) / 1000;
    const inPhase = samples.filter((s) => s.t >= from && s.t < to);
    return {
      variant: mode === 'live' ? 'live reload' : 'restart',
      phase: p === 0 ? 'start' : limit < limits[p - 1] ? 'lowered' : 'raised',
      limit,
      offered: round(steady.length / spanS, 0),
      allowed: round(steady.filter((s) => s.status === 200).length / spanS, 0),
      refused: round(steady.filter((s) => s.status === 429).length / spanS, 0),
      failed: inPhase.filter((s) => s.status !== 200 && s.status !== 429).length,
      effectMs: p === 0 ? '' : round(effect, 0),
    };
  });
}

/** Runs both variants; see the file's comment. */
export async function run({ quick = false } = {}) {
  const rate = quick ? 150 : 300;
  const phaseS = quick ? 2.5 : 8;
  // Offered load against: a limit below it, one further below, one above (nothing refused).
  const limits = [Math.round(rate * 0.6), Math.round(rate / 3), Math.round(rate * 1.4)];
  const base = readConfigFile(DEFAULT_CONFIG_FILE);
  const dir = mkdtempSync(join(tmpdir(), 'bw-live-reload-'));
  const rows = [];
  try {
    for (const mode of ['live', 'restart'])
      rows.push(...(await runVariant(mode, { rate, phaseS, limits, base, dir })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const live = rows.filter((r) => r.variant === 'live reload');
  const restart = rows.filter((r) => r.variant === 'restart');
  const within = (v, want, tol) => Math.abs(v - want) <= want * tol;
  const liveEffects = live.slice(1).map((r) => r.effectMs);
  const restartEffects = restart.slice(1).map((r) => r.effectMs);
  const checks = [
    {
      name: 'live reload: no request fails because of the reload',
      pass: live.every((r) => r.failed === 0),
      value: live.map((r) => r.failed).join(' / '),
      want: '0 in every phase',
    },
    {
      name: 'live reload: the lowered limit holds (allowed ≈ limit)',
      pass: within(live[1].allowed, live[1].limit, 0.25),
      value: `${live[1].allowed}/s`,
      want: `${live[1].limit}/s ± 25%`,
    },
    {
      name: 'live reload: the raised limit admits the whole load',
      pass: live[2].refused <= live[2].offered * 0.02,
      value: `${live[2].refused}/s refused of ${live[2].offered}/s`,
      want: '≤ 2% refused',
    },
    {
      name: 'live reload: file write to effect',
      pass: liveEffects.every((ms) => ms < 1_000),
      value: liveEffects.map((ms) => `${ms} ms`).join(' / '),
      want: '< 1000 ms each',
    },
    {
      name: 'live reload takes effect sooner than a restart',
      pass: liveEffects.every((ms, i) => !(ms >= restartEffects[i])),
      value: `${liveEffects.join(' / ')} ms vs ${restartEffects.join(' / ')} ms`,
      want: 'live < restart',
    },
  ];
  return {
    name: 'live-reload',
    title: `Live reload vs restart: a per-client limit edited under ${rate} req/s (${limits.join(' → ')}/s)`,
    command: `node examples/load/beyond/live-reload.mjs${quick ? ' --quick' : ''}`,
    rows,
    checks,
  };
}

await main(import.meta.url, run, { print: printPlainTable });
