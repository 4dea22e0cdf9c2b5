#!/usr/bin/env node
/**
 * Adaptive concurrency against a fixed bulkhead, when the upstream degrades.
 *
 * A service (a child process, so a saturated server does not starve the load generator)
 * has one route that calls an upstream. The upstream (in the same child, on its own port)
 * is a pool of `UPSTREAM_WORKERS` workers with a FIFO queue in front: a call waits for a
 * worker, then takes `serviceMs`. So its latency grows with its concurrency as soon as the
 * workers are busy, and mid-run its service time steps up (a slow disk, a cold cache) —
 * its capacity drops from 800/s to 200/s while the clients keep sending 300/s.
 *
 * Two variants of the same service, each in a fresh process:
 *
 *   - `fixed 64`: `bulkhead: { maxConcurrent: 64 }`, sized for the good days (room for
 *     bursts at 800/s of capacity);
 *   - `adaptive`: `bulkhead: { maxConcurrent: 'adaptive', initial: 64 }` (Gradient2,
 *     defaults otherwise): it starts where the fixed limit stands.
 *
 * The load is open loop (requests leave on schedule, answered or not). It reports the p50
 * and p99 latency of admitted requests (200s) in each phase, the goodput (200s per second),
 * refusals, and the limit over time as `/metrics` shows it (`breakwater_bulkhead_limit`).
 * Checks: in the degraded phase the adaptive route's p99 is lower than the fixed route's,
 * with goodput within 20% of it; on good days the adaptive route refuses under 5%.
 *
 *   node examples/load/beyond/adaptive-concurrency.mjs [--quick]
 */
import http from 'node:http';
import { announcePort, main, percentile, request, round, sleep, startService } from './support.mjs';

/** Upstream workers, and their service time on good days and once degraded. */
const UPSTREAM_WORKERS = 8;
const GOOD_SERVICE_MS = 10;
const DEGRADED_SERVICE_MS = 40;
/** Requests per second the clients send, whatever the answers (open loop). */
const RATE = 300;
/** The fixed bulkhead, sized for the good days. */
const FIXED_LIMIT = 64;
/** Adaptive goodput must be at least this fraction of the fixed route's. */
const GOODPUT_RATIO = 0.8;
/**
 * Most refusals allowed on good days. Not 0: when this (shared, busy) machine stalls the
 * service, the requests that arrived meanwhile hit the upstream at once, more than its 8
 * workers take, and they queue there: the limit rightly learns that 64 at once is too many
 * for this upstream and stays lower while traffic is light (Gradient2 does not grow an
 * app-limited limit), so the next such burst is partly refused where the fixed limit
 * queues it at the upstream.
 */
const GOOD_DAYS_MAX_REFUSED = 0.05;

const VARIANTS = [
  { variant: `fixed ${FIXED_LIMIT}`, bulkhead: { maxConcurrent: FIXED_LIMIT } },
  // Starting where the fixed limit stands: on good days both absorb the same bursts.
  { variant: 'adaptive (gradient2)', bulkhead: { maxConcurrent: 'adaptive', initial: FIXED_LIMIT } },
];

// --- the service (child process) ---------------------------------------------------------

async function serve(config) {
  const { breakwater } = await import('@breakwater/express');
  const { Registry } = await import('prom-client');
  const express = (await import('express')).default;

  // The upstream: workers and a FIFO queue; `/degrade` steps the service time up.
  let serviceMs = GOOD_SERVICE_MS;
  let busy = 0;
  const waiting = [];
  const work = (res) => {
    busy++;
    setTimeout(() => {
      busy--;
      res.end('{"ok":true}');
      const next = waiting.shift();
      if (next) work(next);
    }, serviceMs);
  };
  const upstream = http.createServer((req, res) => {
    if (req.url === '/degrade') {
      serviceMs = DEGRADED_SERVICE_MS;
      return res.end('degraded');
    }
    if (busy < UPSTREAM_WORKERS) work(res);
    else waiting.push(res);
  });
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamUrl = `http://127.0.0.1:${upstream.address().port}`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const call = (path) =>
    new Promise((resolve, reject) => {
      http
        .get(`${upstreamUrl}${path}`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        })
        .on('error', reject);
    });

  const bw = breakwater({ registry: new Registry() });
  const app = express();
  app.use(bw.middleware());
  app.get('/metrics', bw.metrics());
  app.get('/api', bw.route({ name: 'api', timeout: '5s', bulkhead: config.bulkhead }), async (_req, res) => {
    try {
      res.status(await call('/work')).json({ ok: true });
    } catch {
      res.status(502).end();
    }
  });
  app.post('/degrade', async (_req, res) => {
    await call('/degrade');
    res.end();
  });
  announcePort(app.listen(0, '127.0.0.1'));
}

// --- the load generator --------------------------------------------------------------------

function phaseFigures(samples, seconds) {
  const ok = samples.filter((s) => s.status === 200);
  const lat = ok.map((s) => s.ms).sort((a, b) => a - b);
  return {
    p50: round(percentile(lat, 50)),
    p99: round(percentile(lat, 99)),
    goodput: round(ok.length / seconds),
    refused: samples.filter((s) => s.code === 'BULKHEAD_FULL').length,
    errors: samples.filter((s) => s.status !== 200 && s.code !== 'BULKHEAD_FULL').length,
    sent: samples.length,
  };
}

async function runVariant(v, { goodS, degradedS }) {
  const svc = await startService(import.meta.url, { bulkhead: v.bulkhead });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  const probe = new http.Agent({ keepAlive: true, maxSockets: 2 });
  try {
    // Warm up (JIT, sockets) at a gentle pace before measuring.
    for (let i = 0; i < 50; i++) await request(agent, `${svc.url}/api`);
    const samples = [];
    const limits = [];
    const pending = [];
    const t0 = performance.now();
    const at = () => (performance.now() - t0) / 1000;
    let stopped = false;
    const scraper = (async () => {
      while (!stopped) {
        const m = await request(probe, `${svc.url}/metrics`);
        const line = /^breakwater_bulkhead_limit\{bulkhead="api"\} (\S+)$/m.exec(m.body ?? '');
        if (line) limits.push({ t: round(at(), 1), limit: Number(line[1]) });
        await sleep(250);
      }
    })();
    let degradedAt = Number.POSITIVE_INFINITY;
    const degrade = sleep(goodS * 1000).then(async () => {
      await request(probe, `${svc.url}/degrade`, { method: 'POST' });
      degradedAt = at();
    });
    const total = (goodS + degradedS) * 1000;
    // Open loop: requests leave every 1000/RATE ms on schedule, in small batches per tick.
    for (let i = 0; ; i++) {
      const due = (i * 1000) / RATE;
      if (due >= total) break;
      const wait = t0 + due - performance.now();
      if (wait > 1) await sleep(wait);
      const sentAt = at();
      pending.push(request(agent, `${svc.url}/api`).then((r) => samples.push({ ...r, t: sentAt })));
    }
    await degrade;
    await Promise.all(pending);
    stopped = true;
    await scraper;
    // The first half-second after the step is the transition: judged in neither phase.
    const good = samples.filter((s) => s.t < degradedAt);
    const degraded = samples.filter((s) => s.t >= degradedAt + 0.5);
    const g = phaseFigures(good, degradedAt);
    const d = phaseFigures(degraded, degradedS - 0.5);
    const dl = limits.filter((l) => l.t >= degradedAt).map((l) => l.limit);
    return {
      row: {
        variant: v.variant,
        'good p50 ms': g.p50,
        'good p99 ms': g.p99,
        'good refused': g.refused,
        'degraded p50 ms': d.p50,
        'degraded p99 ms': d.p99,
        'degraded goodput /s': d.goodput,
        'degraded refused': d.refused,
        errors: g.errors + d.errors,
        'limit (degraded, min–max)': dl.length ? `${Math.min(...dl)}–${Math.max(...dl)}` : '?',
      },
      good: g,
      degraded: d,
      limits,
    };
  } finally {
    agent.destroy();
    probe.destroy();
    await svc.stop();
  }
}

/** Runs both variants one after another; `quick`: a few seconds each. */
export async function run({ quick = false } = {}) {
  const phases = quick ? { goodS: 2, degradedS: 5 } : { goodS: 10, degradedS: 25 };
  const results = [];
  for (const v of VARIANTS) results.push(await runVariant(v, phases));
  const [fixed, adaptive] = results;
  const ratio = adaptive.degraded.goodput / Math.max(1, fixed.degraded.goodput);
  const limitLine = (r) => r.limits.map((l) => `${l.t}s:${l.limit}`).join(' ');
  return {
    name: 'adaptive-concurrency',
    title: `Adaptive concurrency: an upstream degrading from ${UPSTREAM_WORKERS * (1000 / GOOD_SERVICE_MS)}/s to ${UPSTREAM_WORKERS * (1000 / DEGRADED_SERVICE_MS)}/s under ${RATE} req/s`,
    command: `node examples/load/beyond/adaptive-concurrency.mjs${quick ? ' --quick' : ''}`,
    rows: results.map((r) => r.row),
    limits: { fixed: limitLine(fixed), adaptive: limitLine(adaptive) },
    checks: [
      {
        name: 'degraded: adaptive p99 of admitted requests below the fixed limit’s',
        pass: adaptive.degraded.p99 < fixed.degraded.p99,
        value: `${adaptive.degraded.p99} ms vs ${fixed.degraded.p99} ms`,
        want: 'adaptive < fixed',
      },
      {
        name: `degraded: adaptive goodput at least ${GOODPUT_RATIO} × the fixed limit’s`,
        pass: ratio >= GOODPUT_RATIO,
        value: `${adaptive.degraded.goodput}/s vs ${fixed.degraded.goodput}/s (${round(ratio, 2)})`,
        want: `>= ${GOODPUT_RATIO}`,
      },
      {
        name: `good days: the adaptive route refuses under ${GOOD_DAYS_MAX_REFUSED * 100}% of requests`,
        pass: adaptive.good.refused <= adaptive.good.sent * GOOD_DAYS_MAX_REFUSED,
        value: `${adaptive.good.refused} of ${adaptive.good.sent}`,
        want: `< ${GOOD_DAYS_MAX_REFUSED * 100}%`,
      },
      {
        name: 'no errors (every request answered 200 or a 503 refusal)',
        pass:
          fixed.good.errors + fixed.degraded.errors + adaptive.good.errors + adaptive.degraded.errors === 0,
        value: fixed.good.errors + fixed.degraded.errors + adaptive.good.errors + adaptive.degraded.errors,
        want: '0',
      },
    ],
  };
}

// --- command line --------------------------------------------------------------------------

function print(r) {
  const keys = Object.keys(r.rows[0]);
  const width = keys.map((k) => Math.max(k.length, ...r.rows.map((row) => String(row[k]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(width[i])).join('  ');
  console.log(`\n${r.title}\n`);
  console.log(line(keys));
  for (const row of r.rows) console.log(line(keys.map((k) => row[k])));
  console.log(
    `\nlimit over time (from /metrics):\n  fixed:    ${r.limits.fixed}\n  adaptive: ${r.limits.adaptive}\n`,
  );
  for (const c of r.checks) console.log(`${c.pass ? 'PASS' : 'FAIL'} ${c.name}: ${c.value} (want ${c.want})`);
}

await main(import.meta.url, run, { serve, print });
