#!/usr/bin/env node
/**
 * Fleet-aware breakers against local-only ones. Three instances of a small Express service
 * (three child processes) guard the same dependency with a breaker named `upstream`; two
 * take heavy traffic, the third a trickle. Two phases:
 *
 * A. the dependency fails for everyone: how many requests the quiet instance still sends
 *    to it, and how long until its breaker opens. Local breakers: the quiet instance has to
 *    collect `minimumCalls` failures of its own. Fleet (quorum 2): it opens as soon as two
 *    instances report theirs open.
 * B. one bad node: only instance 1 sees the dependency fail (its own network path, say).
 *    Healthy instances must keep serving: with quorum 2 they do; a naive shared breaker
 *    (quorum 1, the design the peers declined) opens them all and refuses good requests.
 *
 * Needs Redis (REDIS_URL, default redis://127.0.0.1:6379).
 * `node examples/load/beyond/fleet-breakers.mjs [--quick]`
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { main, openLoad, printPlainTable, sleep } from './support.mjs';

const SELF = fileURLToPath(import.meta.url);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const BREAKER = {
  failureRateThreshold: 0.5,
  minimumCalls: 10,
  window: { kind: 'count', size: 20 },
  openFor: '10s',
};

// --- the instance (child process) ---------------------------------------------------------

async function instance({ id, quorum, prefix }) {
  const [{ BreakerFleet }, { breakwater }, { RedisBreakerCoordinator }, { default: express }, { Redis }] =
    await Promise.all([
      import('@breakwater/core'),
      import('@breakwater/express'),
      import('@breakwater/redis-pool'),
      import('express'),
      import('ioredis'),
    ]);
  let fleet;
  let client;
  if (quorum > 0) {
    client = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    await once(client, 'ready');
    const coordinator = new RedisBreakerCoordinator({ client, instanceId: id, prefix, timeout: '100ms' });
    fleet = new BreakerFleet({ coordinator, quorum, pollInterval: '100ms' });
  }
  const bw = breakwater({
    metrics: false,
    breakers: { upstream: { ...BREAKER, ...(fleet && { fleet }) } },
  });
  let failing = false;
  const app = express();
  app.get('/data', bw.route({ circuitBreaker: 'upstream' }), (_req, res) => {
    // The dependency, as this instance sees it.
    if (failing) res.status(502).json({ code: 'UPSTREAM_ERROR' });
    else res.json({ ok: true });
  });
  app.post('/control', (req, res) => {
    if (req.query.failing !== undefined) failing = req.query.failing === '1';
    if (req.query.reset === '1') bw.breakers.get('upstream').reset();
    res.json({ failing, state: bw.breakers.get('upstream').state });
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  console.log(JSON.stringify({ event: 'listening', port: server.address().port }));
  process.stdin.on('end', () => {
    fleet?.close();
    client?.disconnect();
    server.close();
    server.closeAllConnections();
    bw.close();
  });
  process.stdin.resume();
}

// --- the scenario --------------------------------------------------------------------------

async function startInstance(options) {
  const child = spawn(process.execPath, [SELF, '--serve', JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let buf = '';
  const port = await new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => {
      buf += c;
      const m = /"port":(\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`instance ${options.id} exited (${code})`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      if (child.exitCode === null) await once(child, 'exit');
      clearTimeout(t);
    },
  };
}

function post(url) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
}

async function phase(urls, rates, ms) {
  const t0 = Date.now();
  const loads = urls.map((u, i) =>
    openLoad(`${u}/data`, rates[i], t0, {
      maxSockets: 32,
      read: (_res, body) => ({ code: /"code"\s*:\s*"([A-Z_]+)"/.exec(body)?.[1] }),
    }),
  );
  await sleep(ms);
  await Promise.all(loads.map((l) => l.stop()));
  return loads.map((l) => l.samples);
}

async function runVariant(name, quorum, { rates, phaseAms, phaseBms }) {
  const prefix = `bw-fleet-scenario:${process.pid}:${name.replace(/\W+/g, '-')}:`;
  const insts = await Promise.all(['i1', 'i2', 'i3'].map((id) => startInstance({ id, quorum, prefix })));
  const urls = insts.map((i) => i.url);
  try {
    // A: the dependency fails for every instance.
    await Promise.all(urls.map((u) => post(`${u}/control?failing=1`)));
    const a = await phase(urls, rates, phaseAms);
    const quiet = a[2];
    const reached = quiet.filter((s) => s.code === 'UPSTREAM_ERROR').length;
    const firstOpen = quiet.find((s) => s.code === 'CIRCUIT_OPEN')?.t;
    // B: the dependency heals, except for instance 1 (one bad node).
    await Promise.all(urls.map((u, i) => post(`${u}/control?reset=1&failing=${i === 0 ? 1 : 0}`)));
    await sleep(400); // reports of phase A are withdrawn on reset or run out
    await Promise.all(urls.map((u) => post(`${u}/control?reset=1`)));
    const b = await phase(urls, rates, phaseBms);
    const healthy = [...b[1], ...b[2]];
    const wronglyRefused = healthy.filter((s) => s.code === 'CIRCUIT_OPEN').length;
    const failedHealthy = healthy.filter((s) => s.status !== 200 && s.code !== 'CIRCUIT_OPEN').length;
    return {
      variant: name,
      quietUpstreamCalls: reached,
      quietOpenMs: firstOpen === undefined ? 'never' : firstOpen,
      fleetUpstreamCalls: a.flat().filter((s) => s.code === 'UPSTREAM_ERROR').length,
      badNodeRefusedHealthy: wronglyRefused,
      badNodeHealthyServed: healthy.length - wronglyRefused - failedHealthy,
    };
  } finally {
    await Promise.all(insts.map((i) => i.stop()));
  }
}

/** Runs the three variants; see the file's comment. */
export async function run({ quick = false } = {}) {
  const rates = quick ? [60, 60, 5] : [100, 100, 5];
  const opts = { rates, phaseAms: quick ? 2500 : 6000, phaseBms: quick ? 1500 : 4000 };
  const rows = [];
  for (const [name, quorum] of [
    ['local only', 0],
    ['fleet, quorum 2', 2],
    ['shared, quorum 1', 1],
  ])
    rows.push(await runVariant(name, quorum, opts));
  const [local, fleet, naive] = rows;
  const checks = [
    {
      name: 'fleet: the quiet instance sends fewer calls to the failing dependency',
      pass: fleet.quietUpstreamCalls < local.quietUpstreamCalls,
      value: `${fleet.quietUpstreamCalls} vs ${local.quietUpstreamCalls} (local)`,
      want: 'fewer than local only',
    },
    {
      name: 'fleet: the quiet instance opens within a second of the outage',
      pass: typeof fleet.quietOpenMs === 'number' && fleet.quietOpenMs < 1000,
      value: `${fleet.quietOpenMs} ms (local: ${local.quietOpenMs})`,
      want: '< 1000 ms',
    },
    {
      name: 'fleet: one bad node opens no healthy instance (quorum 2)',
      pass: fleet.badNodeRefusedHealthy === 0,
      value: `${fleet.badNodeRefusedHealthy} refused (quorum 1: ${naive.badNodeRefusedHealthy})`,
      want: '0',
    },
  ];
  return {
    name: 'fleet-breakers',
    title: `Fleet-aware breakers: 3 instances at ${rates.join(' / ')} req/s, failure phase then one bad node`,
    command: `node examples/load/beyond/fleet-breakers.mjs${quick ? ' --quick' : ''}`,
    rows,
    checks,
  };
}

await main(import.meta.url, run, { serve: instance, print: printPlainTable });
