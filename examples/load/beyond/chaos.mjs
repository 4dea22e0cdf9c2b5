#!/usr/bin/env node
/**
 * Chaos injection rehearsed under load, toggled at run time through the admin endpoint.
 *
 * A service (a child process) has two routes with the same policies — a 400 ms timeout
 * and a strict breaker (trips at 15% failures over the last 40 calls, open for 1 s) —
 * and a healthy handler. Open-loop load runs on both through three phases:
 *
 *   1. `off`:       chaos off (the default), the static baseline;
 *   2. `on`:        `POST /admin/chaos` (bearer token) turns on, for `orders` only, 10%
 *                   faults (503) and 10% latency (600 ms, past the timeout);
 *   3. `recovered`: `POST /admin/chaos` turns it off again.
 *
 * The `control` route never gets chaos: the comparison with chaos off, under the same
 * load at the same time. The report shows, per route and phase, what clients saw
 * (injected faults, timeouts, circuit-open refusals) and what the metrics counted
 * (`breakwater_chaos_injected_total`, breaker transitions), and checks that the breaker
 * tripped on injected failure as on real failure, that the metrics count every
 * injection, and that the route recovers once chaos is off.
 *
 *   node examples/load/beyond/chaos.mjs [--quick]
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { announcePort, main, percentile, request, round, sleep, startService } from './support.mjs';

const ROUTES = ['orders', 'control'];
const POLICY = {
  timeout: '400ms',
  circuitBreaker: {
    failureRateThreshold: 0.15,
    minimumCalls: 20,
    window: { kind: 'count', size: 40 },
    openFor: '1s',
  },
};
const CHAOS = { fault: { rate: 0.1, status: 503 }, latency: { rate: 0.1, ms: 600 } };

// --- the service (child process) ---------------------------------------------------------

async function serve(config) {
  const { breakwater } = await import('@breakwater/express');
  const { Registry } = await import('prom-client');
  const express = (await import('express')).default;
  const { chaosAdmin } = await import('../../shared/chaos-admin.mjs');
  const bw = breakwater({ registry: new Registry() });
  const app = express();
  app.use(bw.middleware());
  for (const name of ROUTES) {
    app.get(`/api/${name}`, bw.route({ name, ...POLICY }), (_req, res) => {
      setTimeout(() => res.json({ ok: true }), 5 + Math.random() * 10);
    });
  }
  app.get('/metrics', bw.metrics());
  // The examples' admin guard: a bearer token compared in constant time (as in shared/service.mjs).
  const token = Buffer.from(config.token);
  const admin = express.Router();
  admin.use(function requireAdminToken(req, res, next) {
    const auth = req.get('authorization') ?? '';
    const given = Buffer.from(auth.startsWith('Bearer ') ? auth.slice(7) : '');
    if (given.length === token.length && timingSafeEqual(given, token)) return next();
    res.status(401).set('WWW-Authenticate', 'Bearer realm="breakwater-admin"').json({ code: 'UNAUTHORIZED' });
  });
  admin.use(express.json({ limit: '16kb' }));
  const chaos = chaosAdmin(bw.chaos);
  admin.all('/chaos', (req, res, next) => {
    chaos({ method: req.method, body: req.body }).then((r) => {
      res.status(r.status);
      if (r.headers) res.set(r.headers);
      res.send(JSON.stringify(r.body));
    }, next);
  });
  app.use('/admin', admin);
  announcePort(app.listen(0, '127.0.0.1'));
}

// --- the load generator --------------------------------------------------------------------

/** Samples of the metrics text: one value by metric and labels, 0 when absent. */
function metric(text, name, labels) {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf('}'));
    if (want.every((w) => inner.split(',').includes(w))) return Number(line.slice(line.indexOf('}') + 2));
  }
  return 0;
}

/** Open-loop load on both routes at `rps` each for `seconds`. */
async function load(agent, url, rps, seconds) {
  const out = { orders: [], control: [] };
  const pending = [];
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  for (let i = 0; performance.now() < end; i++) {
    for (const r of ROUTES) pending.push(request(agent, `${url}/api/${r}`).then((a) => out[r].push(a)));
    await sleep(Math.max(0, t0 + ((i + 1) * 1000) / rps - performance.now()));
  }
  await Promise.all(pending);
  return out;
}

function figures(route, phase, answers, m) {
  const n = answers.length;
  const count = (code) => answers.filter((a) => a.code === code).length;
  const lat = answers.map((a) => a.ms).sort((a, b) => a - b);
  return {
    variant: `${route} · chaos ${phase}`,
    requests: n,
    'ok %': round((100 * answers.filter((a) => a.status === 200).length) / Math.max(1, n)),
    'injected faults': count('CHAOS_FAULT'),
    timeouts: count('TIMEOUT'),
    'circuit open': count('CIRCUIT_OPEN'),
    'p99 ms': round(percentile(lat, 99)),
    'metric faults': metric(m, 'breakwater_chaos_injected_total', { route, kind: 'fault' }),
    'metric latency': metric(m, 'breakwater_chaos_injected_total', { route, kind: 'latency' }),
    'breaker trips': metric(m, 'breakwater_circuit_breaker_transitions_total', {
      breaker: route,
      from: 'closed',
      to: 'open',
    }),
    'breaker at end': ['closed', 'open', 'half-open'][
      metric(m, 'breakwater_circuit_breaker_state', { breaker: route })
    ],
  };
}

export async function run({ quick = false } = {}) {
  const phases = quick ? { off: 3, on: 5, recovered: 4 } : { off: 8, on: 15, recovered: 10 };
  const rps = quick ? 60 : 100;
  const token = randomBytes(16).toString('hex');
  const svc = await startService(import.meta.url, { token });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const rows = [];
  const admin = {};
  let recoveredTail;
  try {
    await load(agent, svc.url, rps, 1); // warm up
    const body = { route: 'orders', enabled: true, ...CHAOS };
    admin.unauthorized = (await request(agent, `${svc.url}/admin/chaos`, { method: 'POST', body })).status;
    for (const phase of ['off', 'on', 'recovered']) {
      if (phase === 'on')
        admin.enable = await request(agent, `${svc.url}/admin/chaos`, { method: 'POST', body, token });
      if (phase === 'recovered')
        admin.disable = await request(agent, `${svc.url}/admin/chaos`, {
          method: 'POST',
          body: { route: 'orders', enabled: false },
          token,
        });
      const out = await load(agent, svc.url, rps, phases[phase]);
      const m = (await request(agent, `${svc.url}/metrics`)).body;
      for (const r of ROUTES) rows.push(figures(r, phase, out[r], m));
      if (phase === 'recovered') {
        // The last half of the phase: the breaker has had its openFor to close again.
        const last = out.orders.at(-1)?.t ?? 0;
        recoveredTail = out.orders.filter((a) => a.t >= last - (phases.recovered * 1000) / 2);
      }
    }
  } finally {
    agent.destroy();
    await svc.stop();
  }
  // Metric counts are cumulative: a phase's injections are the difference from the one before.
  const ordersRows = rows.filter((r) => r.variant.startsWith('orders'));
  for (let i = ordersRows.length - 1; i > 0; i--)
    for (const k of ['metric faults', 'metric latency', 'breaker trips'])
      ordersRows[i][k] -= ordersRows[i - 1][k];
  const controlRows = rows.filter((r) => r.variant.startsWith('control'));
  for (let i = controlRows.length - 1; i > 0; i--)
    for (const k of ['metric faults', 'metric latency', 'breaker trips'])
      controlRows[i][k] -= controlRows[i - 1][k];
  const [off, on, rec] = ordersRows;
  const tailOk =
    (100 * recoveredTail.filter((a) => a.status === 200).length) / Math.max(1, recoveredTail.length);
  const checks = [
    {
      name: 'the admin endpoint refuses without the token and turns chaos on and off with it',
      pass: admin.unauthorized === 401 && admin.enable?.status === 200 && admin.disable?.status === 200,
      value: `${admin.unauthorized}, ${admin.enable?.status}, ${admin.disable?.status}`,
      want: '401, 200, 200',
    },
    {
      name: 'chaos is off by default: nothing injected before it is enabled',
      pass: off['metric faults'] === 0 && off['metric latency'] === 0 && off['ok %'] >= 99,
      value: `${off['metric faults']} faults, ${off['metric latency']} delays, ${off['ok %']}% ok`,
      want: '0, 0, >= 99%',
    },
    {
      name: "the route's own breaker trips on injected failures",
      pass: on['breaker trips'] >= 1 && on['circuit open'] > 0,
      value: `${on['breaker trips']} trips, ${on['circuit open']} circuit-open refusals`,
      want: '>= 1, > 0',
    },
    {
      name: 'injected latency past the deadline ends in the route timeout',
      pass: on.timeouts > 0 && on['metric latency'] >= on.timeouts,
      value: `${on.timeouts} timeouts, ${on['metric latency']} delays injected`,
      want: '> 0, delays >= timeouts',
    },
    {
      name: 'the metrics count every injected fault a client saw',
      pass: on['metric faults'] === on['injected faults'] && on['metric faults'] > 0,
      value: `metrics ${on['metric faults']}, clients ${on['injected faults']}`,
      want: 'equal, > 0',
    },
    {
      name: 'disabled, the route recovers: breaker closed, the last half of the phase all ok',
      pass: rec['breaker at end'] === 'closed' && rec['metric faults'] === 0 && tailOk >= 99,
      value: `${rec['breaker at end']}, ${rec['metric faults']} faults, ${round(tailOk)}% ok`,
      want: 'closed, 0, >= 99%',
    },
    {
      name: 'the route without chaos is untouched in every phase',
      pass: controlRows.every((r) => r['ok %'] >= 99 && r['metric faults'] === 0 && r['breaker trips'] === 0),
      value: controlRows.map((r) => `${r['ok %']}%`).join(', '),
      want: '>= 99% each, no trips',
    },
  ];
  return {
    name: 'chaos',
    title: `Chaos at run time: ${rps}/s on two routes; 'orders' gets 10% faults + 10% latency (600 ms > 400 ms timeout) for ${phases.on} s`,
    command: `node examples/load/beyond/chaos.mjs${quick ? ' --quick' : ''}`,
    rows,
    checks,
  };
}

await main(import.meta.url, run, { serve });
