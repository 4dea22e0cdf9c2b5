#!/usr/bin/env node
/**
 * Adaptive timeout against static ones, over a latency distribution that shifts.
 *
 * A service (a child process, so a busy server does not starve the load generator) has
 * three routes with the same simulated upstream: the same seeded latency sequence, a
 * "fast day" then a "slow day", and on both days a small fraction of hung calls (they
 * end only when the route's deadline aborts them). Three variants of the timeout, loaded
 * side by side at the same open-loop rate:
 *
 *   - `static 120ms`:  tuned for the fast day (twice its p99): too tight on the slow day;
 *   - `static 1s`:     tuned for the slow day (four times its p99): too loose on the fast
 *                      day, where every hung call holds its slot (and its client) a second;
 *   - `adaptive`:      `timeout: { adaptive: { percentile: 0.99, factor: 2, min, max } }`.
 *
 * Per variant and day: timeouts, success rate, the p99 of the failures' time-to-fail, the
 * p99 of successes, and the deadline at the end of the day (the adaptive one read from
 * `breakwater_timeout_seconds`).
 *
 *   node examples/load/beyond/adaptive-timeout.mjs [--quick]
 */
import http from 'node:http';
import {
  announcePort,
  main,
  percentile,
  printTable,
  request,
  round,
  sleep,
  startService,
} from './support.mjs';

/** Share of calls that hang (on both days). */
const HUNG = 0.02;
/** The simulated upstream: latency in ms = base + median × e^(σ·Z), per day. */
const DAYS = {
  fast: { base: 10, median: 15, sigma: 0.5 }, // p99 ≈ 60 ms
  slow: { base: 40, median: 60, sigma: 0.5 }, // p99 ≈ 230 ms
};

const VARIANTS = [
  { variant: 'static 120ms', path: '/static-fast', timeout: '120ms' },
  { variant: 'static 1s', path: '/static-slow', timeout: '1s' },
  { variant: 'adaptive', path: '/adaptive', timeout: 'adaptive' },
];

// --- the service (child process) ---------------------------------------------------------

/** mulberry32: a small seeded generator, so every route sees the same latency sequence. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function serve(config) {
  const { breakwater } = await import('@breakwater/express');
  const { Registry } = await import('prom-client');
  const express = (await import('express')).default;
  const bw = breakwater({ registry: new Registry() });
  let day = DAYS.fast;
  const app = express();
  app.use(bw.middleware());
  for (const v of VARIANTS) {
    const rnd = seeded(42);
    let n = 0;
    const timeout =
      v.timeout === 'adaptive'
        ? {
            adaptive: {
              percentile: 0.99,
              factor: 2,
              min: '50ms',
              max: '2s',
              minSamples: 50,
              window: config.window,
              slices: 5,
              refresh: '250ms',
            },
          }
        : v.timeout;
    app.get(v.path, bw.route({ name: v.variant, timeout }), async (req, res) => {
      const u1 = rnd() || 1e-9;
      const u2 = rnd();
      // Every (1/HUNG)th call hangs: the same share on every route and day, not left to chance.
      const hung = n++ % Math.round(1 / HUNG) === Math.round(1 / HUNG / 2);
      const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      // A hung call ends only when the deadline aborts it (a well-behaved outbound call).
      const ms = hung ? 30_000 : day.base + day.median * Math.exp(day.sigma * z);
      await pause(ms, req.breakwater?.signal);
      res.json({ ms: Math.round(ms) });
    });
  }
  app.get('/day', (req, res) => {
    day = DAYS[req.query.set] ?? day;
    res.json({ ok: true });
  });
  app.get('/metrics', bw.metrics());
  announcePort(app.listen(0, '127.0.0.1'));
}

// --- the load generator --------------------------------------------------------------------

/** A GET given 40 s, longer than a hung call (30 s): every call ends at the server, not here. */
const get = (agent, url) => request(agent, url, { timeoutMs: 40_000 });

/** The route's deadline now, in ms, from `breakwater_timeout_seconds`. */
async function deadlineOf(agent, url, route) {
  const text = (await get(agent, `${url}/metrics`)).body ?? '';
  const m = new RegExp(`breakwater_timeout_seconds\\{route="${route}"\\} ([0-9.e+-]+)`).exec(text);
  return m ? Math.round(Number(m[1]) * 1000) : Number.NaN;
}

/** Open-loop load on every variant's route at `rps` each for `seconds`; answers by variant. */
async function load(agent, url, rps, seconds) {
  const out = VARIANTS.map(() => []);
  const pending = [];
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  for (let i = 0; performance.now() < end; i++) {
    VARIANTS.forEach((v, k) => {
      pending.push(get(agent, url + v.path).then((r) => out[k].push(r)));
    });
    await sleep(Math.max(0, t0 + ((i + 1) * 1000) / rps - performance.now()));
  }
  await Promise.all(pending);
  return out;
}

function figures(variant, day, answers, deadlineMs) {
  const ok = answers.filter((r) => r.status === 200);
  const failed = answers.filter((r) => r.status !== 200);
  const timeouts = answers.filter((r) => r.code === 'TIMEOUT').length;
  const failLat = failed.map((r) => r.ms).sort((a, b) => a - b);
  const okLat = ok.map((r) => r.ms).sort((a, b) => a - b);
  return {
    variant,
    day,
    requests: answers.length,
    timeouts,
    'success %': round((100 * ok.length) / Math.max(1, answers.length)),
    'fail p99 ms': round(percentile(failLat, 99)),
    'ok p99 ms': round(percentile(okLat, 99)),
    'deadline ms': deadlineMs,
  };
}

/** Runs the fast day then the slow day; `quick`: a few seconds each. */
export async function run({ quick = false } = {}) {
  const seconds = quick ? 4 : 15;
  const rps = quick ? 60 : 100;
  const window = quick ? '3s' : '10s';
  const svc = await startService(import.meta.url, { window });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const rows = [];
  try {
    // Warm up on the fast day: JIT, sockets, and the adaptive timeout's first samples.
    await load(agent, svc.url, rps, quick ? 1.5 : 3);
    for (const day of ['fast', 'slow']) {
      await get(agent, `${svc.url}/day?set=${day}`);
      const answers = await load(agent, svc.url, rps, seconds);
      for (const [k, v] of VARIANTS.entries()) {
        const d = v.timeout === 'adaptive' ? await deadlineOf(agent, svc.url, v.variant) : undefined;
        rows.push(figures(v.variant, day, answers[k], d ?? (v.timeout === '1s' ? 1000 : 120)));
      }
    }
  } finally {
    agent.destroy();
    await svc.stop();
  }
  const row = (variant, day) => rows.find((r) => r.variant === variant && r.day === day);
  const [tight, loose, adaptive] = VARIANTS.map((v) => v.variant);
  const checks = [
    {
      name: 'slow day: the adaptive timeout times out far less than the fast-day static one',
      pass: row(adaptive, 'slow').timeouts <= 0.4 * row(tight, 'slow').timeouts,
      value: `${row(adaptive, 'slow').timeouts} vs ${row(tight, 'slow').timeouts}`,
      want: '<= 40%',
    },
    {
      name: 'fast day: the adaptive timeout fails hung calls far sooner than the slow-day static one',
      pass: row(adaptive, 'fast')['fail p99 ms'] <= 0.4 * row(loose, 'fast')['fail p99 ms'],
      value: `${row(adaptive, 'fast')['fail p99 ms']} ms vs ${row(loose, 'fast')['fail p99 ms']} ms`,
      want: '<= 40%',
    },
    {
      name: 'slow day: adaptive success rate close to the loose static timeout (shift included)',
      pass: row(adaptive, 'slow')['success %'] >= row(loose, 'slow')['success %'] - 6,
      value: `${row(adaptive, 'slow')['success %']}% vs ${row(loose, 'slow')['success %']}%`,
      want: '>= loose − 6 pp',
    },
    {
      name: 'fast day: adaptive success rate as good as the tight static timeout',
      pass: row(adaptive, 'fast')['success %'] >= row(tight, 'fast')['success %'] - 1,
      value: `${row(adaptive, 'fast')['success %']}% vs ${row(tight, 'fast')['success %']}%`,
      want: '>= tight − 1 pp',
    },
    {
      name: 'the adaptive deadline followed the shift upward',
      pass: row(adaptive, 'slow')['deadline ms'] >= 2 * row(adaptive, 'fast')['deadline ms'],
      value: `${row(adaptive, 'fast')['deadline ms']} ms → ${row(adaptive, 'slow')['deadline ms']} ms`,
      want: 'at least doubled',
    },
  ];
  return {
    name: 'adaptive-timeout',
    title: `Adaptive vs static timeouts: ${rps}/s per route, a fast day then a slow day of ${seconds} s, ${HUNG * 100}% hung calls`,
    command: `node examples/load/beyond/adaptive-timeout.mjs${quick ? ' --quick' : ''}`,
    rows,
    checks,
  };
}

await main(import.meta.url, run, { serve, print: (r) => printTable(r, { textColumns: 2 }) });
