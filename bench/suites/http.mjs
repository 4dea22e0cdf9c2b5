/**
 * Suite 1, HTTP overhead: the same route bare, under Breakwater (every policy on and not
 * refusing, plus request metrics), and under the usual peer stack. Each server is its own
 * process and autocannon runs in another; rounds alternate bare, breakwater, peer.
 */
import { fileURLToPath } from 'node:url';
import { startLoadGenerator, startServer } from '../lib/proc.mjs';
import { ratio, summary } from '../lib/stats.mjs';

const GOALS = {
  express: { bare: 0.9, peer: 1.8 },
  koa: { bare: 0.85, peer: 1.0 },
  fastify: { bare: 0.9, peer: 1.0 },
  hono: { bare: 0.9, peer: 1.0 },
};

const PEERS = {
  express: 'express-rate-limit + connect-timeout + express-prom-bundle + opossum (capacity as bulkhead)',
  koa: 'rate-limiter-flexible + prom-client histogram + race timeout + opossum (capacity as bulkhead)',
  fastify:
    '@fastify/rate-limit + @fastify/circuit-breaker + @fastify/under-pressure + fastify-metrics + Fastify `handlerTimeout`',
  hono: 'hono-rate-limiter + @hono/prometheus + hono/timeout + opossum (capacity as bulkhead)',
};

const NAMES = { express: 'Express', koa: 'Koa', fastify: 'Fastify', hono: 'Hono' };

export async function runHttp(framework, { quick, rounds, duration, connections = 50, log }) {
  const script = fileURLToPath(new URL(`../servers/${framework}.mjs`, import.meta.url));
  const variants = ['bare', 'breakwater', 'peer'];
  const servers = {};
  const rps = { bare: [], breakwater: [], peer: [] };
  const cpu = { bare: [], breakwater: [], peer: [] };
  const bad = [];
  // A fixed number of requests in quick mode, a fixed time otherwise.
  const shape = { duration: quick ? 0.25 : duration };
  const loader = startLoadGenerator();
  const load = loader.run;
  try {
    for (const v of variants) servers[v] = await startServer(script, [v]);
    for (const v of variants) await load(url(servers[v]), { connections, duration: quick ? 0.2 : 3 });
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) {
        const c0 = servers[v].cpuSeconds();
        const res = await load(url(servers[v]), { connections, ...shape });
        const c1 = servers[v].cpuSeconds();
        if (res.errors > 0 || res.non2xx > 0)
          bad.push(`${v} round ${r + 1}: ${res.errors} errors, ${res.non2xx} non-2xx`);
        rps[v].push(res.rps);
        cpu[v].push(((c1 - c0) * 1e6) / res.requests);
        log(
          `  ${framework} round ${r + 1} ${v}: ${Math.round(res.rps)} req/s, ${(cpu[v].at(-1)).toFixed(1)} µs CPU/req`,
        );
      }
    }
  } finally {
    await loader.stop();
    for (const s of Object.values(servers)) await s.stop();
  }
  const out = {};
  for (const v of variants) out[v] = { ...summary(rps[v]), cpuUsPerReq: summary(cpu[v]) };
  const goal = GOALS[framework];
  const vsBare = ratio(rps.breakwater, rps.bare);
  const vsPeer = ratio(rps.breakwater, rps.peer);
  return {
    title: `HTTP overhead: ${NAMES[framework]}`,
    description: `\`GET /hello\` answering \`hello\`; autocannon -c ${connections} in its own process. Breakwater: rate limit, circuit breaker, bulkhead, timeout and request metrics, none refusing. Peer stack: ${PEERS[framework]}.`,
    status: bad.length > 0 ? 'invalid' : 'ok',
    reason: bad.join('; ') || undefined,
    unit: 'req/s',
    higherIsBetter: true,
    rounds,
    variants: out,
    columns: [{ key: 'cpuUsPerReq', title: 'server CPU µs/req (median)' }],
    comparisons: [
      { name: 'breakwater / bare', ratio: vsBare, goal: { min: goal.bare }, met: vsBare.median >= goal.bare },
      {
        name: 'breakwater / peer stack',
        ratio: vsPeer,
        goal: { min: goal.peer },
        met: vsPeer.median >= goal.peer,
      },
      { name: 'peer stack / bare', ratio: ratio(rps.peer, rps.bare) },
      {
        name: 'breakwater / bare, by server CPU per request',
        ratio: ratio(cpu.bare, cpu.breakwater),
      },
    ],
  };
}

function url(server) {
  return `http://127.0.0.1:${server.port}/hello`;
}
