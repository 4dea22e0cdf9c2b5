#!/usr/bin/env node
/**
 * Soak run: a Breakwater app under sustained load, with every policy refusing some
 * requests, checked for leaks.
 *
 *   node scripts/soak.mjs --duration 60 [--framework express|koa] [--connections 32] [--json]
 *
 * The app (Express 5 or Koa 3, with an HttpPool to a local upstream, metrics, health)
 * runs in this process; the load comes from a child process (undici), so the heap and
 * handles measured are the app's. After a warm-up, it takes a baseline (forced GC, heap
 * used, active handles by type), runs the load for --duration seconds while sampling
 * event-loop delay, stops, lets keep-alive sockets close, and measures again.
 *
 * Prints a summary (requests, refusals by reason, heap and handles start vs end, event-loop
 * p99) and exits 1 on a leak: heap above the start by more than max(4 MB, 10%), handles
 * above their start count, a bulkhead slot or pool connection still taken, an unhandled
 * rejection or uncaught exception, a transport error, or a policy that refused nothing.
 *
 * Run after `pnpm build` (it imports the built packages); the hardening test bundles it
 * against the sources instead.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string' },
    framework: { type: 'string', default: 'express' },
    connections: { type: 'string', default: '32' },
    json: { type: 'boolean', default: false },
    // Self-test: leak on purpose (memory and timers), to prove the checks can fail.
    'inject-leak': { type: 'boolean', default: false },
    role: { type: 'string', default: 'app' },
    url: { type: 'string' },
  },
});

const durationS = Number(args.duration);
if (!(durationS > 0)) {
  console.error(`--duration: expected seconds > 0, got ${args.duration}`);
  process.exit(2);
}
const warmupS = args.warmup === undefined ? Math.min(5, Math.max(1, durationS / 10)) : Number(args.warmup);
const connections = Number(args.connections);

// --- the load: a child process hammering the app ------------------------------------------

const LOOP_RESOLUTION_MS = 10;

/** Paths with their weights: every policy gets traffic that it sometimes refuses. */
const MIX = [
  ['/rl', 30],
  ['/breaker', 20],
  ['/bulkhead', 20],
  ['/timeout', 15],
  ['/all/42', 15],
];

async function runLoad(url, seconds, conns) {
  const { Pool } = await import('undici');
  const pool = new Pool(url, { connections: conns, pipelining: 1 });
  const total = MIX.reduce((s, [, w]) => s + w, 0);
  const statuses = {};
  const codes = {};
  let requests = 0;
  let errors = 0;
  const errorKinds = {};
  const end = Date.now() + seconds * 1000;
  let seq = 0;
  const pick = () => {
    let r = (seq++ * 7919) % total;
    for (const [p, w] of MIX) {
      if (r < w) return p;
      r -= w;
    }
    return MIX[0][0];
  };
  const worker = async (id) => {
    while (Date.now() < end) {
      const path = pick();
      try {
        // Twenty clients by API key; client-0 sends a third of all traffic and goes over its limit.
        const key = seq % 3 === 0 ? 'client-0' : `client-${(seq + id) % 20}`;
        const r = await pool.request({ method: 'GET', path, headers: { 'x-api-key': key } });
        const body = await r.body.text();
        statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
        if (r.statusCode === 429 || r.statusCode === 503 || r.statusCode === 504) {
          const code = /"code":"([A-Z_]+)"/.exec(body)?.[1] ?? 'other';
          codes[code] = (codes[code] ?? 0) + 1;
        }
      } catch (e) {
        errors++;
        const k = e.code ?? e.name ?? 'error';
        errorKinds[k] = (errorKinds[k] ?? 0) + 1;
      }
      requests++;
    }
  };
  const scraper = (async () => {
    while (Date.now() < end) {
      for (const p of ['/metrics', '/health/ready', '/health']) {
        const r = await pool.request({ method: 'GET', path: p });
        await r.body.dump();
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  await Promise.all(Array.from({ length: conns }, (_, i) => worker(i)));
  await scraper;
  await pool.close();
  process.stdout.write(`${JSON.stringify({ requests, statuses, codes, errors, errorKinds })}\n`);
}

function load(url, seconds) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        process.argv[1],
        '--role',
        'load',
        '--url',
        url,
        '--duration',
        String(seconds),
        '--connections',
        String(connections),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      resolve(JSON.parse(out));
    });
  });
}

// --- the app ---------------------------------------------------------------------------------

async function runApp() {
  const problems = [];
  process.on('unhandledRejection', (e) => problems.push(`unhandled rejection: ${e?.stack ?? e}`));
  process.on('uncaughtException', (e) => problems.push(`uncaught exception: ${e?.stack ?? e}`));

  const { HttpPool } = await import('@breakwater/http-pool');
  const { Registry } = await import('prom-client');

  // A local upstream for the pool: answers in 1-10 ms.
  const upstream = http.createServer((_req, res) => {
    setTimeout(() => res.end('{"ok":true}'), 1 + Math.floor(Math.random() * 10));
  });
  upstream.keepAliveTimeout = 1000;
  await listen(upstream);
  const pool = new HttpPool({
    name: 'upstream',
    baseUrl: `http://127.0.0.1:${upstream.address().port}`,
    connections: 8,
    keepAliveTimeout: '500ms',
    // Probes far enough apart that their keep-alive socket closes between them (for the handle counts).
    healthCheck: { path: '/health', interval: '1s', timeout: '200ms' },
  });

  const registry = new Registry();
  const options = { registry, breakers: { upstream: { consecutiveFailures: 5, openFor: '200ms' } } };
  const policies = {
    // Shared settings (the key) go on one window; they cover every window of the route.
    rl: {
      rateLimit: [
        { limit: 20, window: '1s', key: { header: 'x-api-key' } },
        { limit: 5000, window: '1m' },
      ],
    },
    breaker: { circuitBreaker: { consecutiveFailures: 4, openFor: '150ms', minimumCalls: 20 } },
    bulkhead: { bulkhead: { maxConcurrent: 2, maxQueue: 2, queueTimeout: '10ms' } },
    timeout: { timeout: '25ms' },
    all: {
      timeout: '200ms',
      rateLimit: { limit: 100, window: '1s', key: { header: 'x-api-key' } },
      circuitBreaker: 'upstream',
      bulkhead: { maxConcurrent: 16, maxQueue: 16 },
    },
  };
  const leaked = [];
  const behave = {
    rl: () => {
      if (args['inject-leak']) {
        leaked.push(Array.from({ length: 1000 }, (_, i) => ({ i })));
        if (leaked.length % 200 === 0) setInterval(() => {}, 60_000);
      }
      return { status: 200 };
    },
    // Some failures: the breaker trips now and then.
    breaker: () => (Math.random() < 0.35 ? { status: 500 } : { status: 200 }),
    bulkhead: async () => {
      await sleep(5 + Math.random() * 15);
      return { status: 200 };
    },
    // Half the handlers outlive the deadline and then write (to a detached response).
    timeout: async () => {
      await sleep(Math.random() * 50);
      return { status: 200 };
    },
  };

  const { app, bw, kind } = await buildApp(args.framework, options, policies, behave, pool);
  bw.pools.add(pool);
  const server = http.createServer(app);
  server.keepAliveTimeout = 1000;
  await listen(server);
  const url = `http://127.0.0.1:${server.address().port}`;
  const refusals = {};
  bw.core.onRejected((e) => {
    refusals[e.reason] = (refusals[e.reason] ?? 0) + 1;
  });

  const log = (s) => {
    if (!args.json) console.log(s);
  };
  log(`soak: ${kind} app at ${url}; warm-up ${warmupS}s, load ${durationS}s with ${connections} connections`);
  await load(url, warmupS);
  const start = await snapshot();
  for (const k of Object.keys(refusals)) delete refusals[k];

  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  const t0 = Date.now();
  const result = await load(url, durationS);
  const elapsed = (Date.now() - t0) / 1000;
  loop.disable();
  const end = await settle(start);

  const guards = bw.core.guards.map((g) => ({ name: g.name, ...(g.bulkhead ? g.bulkhead.stats : {}) }));
  const busyBulkheads = bw.core.guards
    .filter((g) => g.bulkhead && (g.bulkhead.activeCount > 0 || g.bulkhead.queuedCount > 0))
    .map((g) => g.name);
  const poolStats = pool.stats();
  const heapMargin = Math.max(4 * 2 ** 20, start.heap * 0.1);
  const handleGrowth = Object.entries(end.handles)
    .filter(([t, n]) => n > (start.handles[t] ?? 0))
    .map(([t, n]) => `${t} +${n - (start.handles[t] ?? 0)}`);
  const reasons = ['rate_limited', 'circuit_open', 'bulkhead_full', 'timeout'];
  const failures = [];
  if (end.heap - start.heap > heapMargin)
    failures.push(`heap grew ${mb(end.heap - start.heap)} MB (margin ${mb(heapMargin)} MB)`);
  if (handleGrowth.length > 0) failures.push(`handles left: ${handleGrowth.join(', ')}`);
  if (busyBulkheads.length > 0) failures.push(`bulkhead slots still taken: ${busyBulkheads.join(', ')}`);
  if (poolStats.inFlight !== 0 || poolStats.active !== 0 || poolStats.pending !== 0)
    failures.push(`pool not idle: ${JSON.stringify(poolStats)}`);
  if (result.errors > 0)
    failures.push(`${result.errors} transport errors: ${JSON.stringify(result.errorKinds)}`);
  for (const r of reasons)
    if (!refusals[r]) failures.push(`no ${r} refusals: the soak must make every policy refuse`);
  failures.push(...problems);

  await bw.close();
  await new Promise((r) => server.close(r));
  await new Promise((r) => upstream.close(r));

  // Node's histogram records the whole timer interval: the delay is what exceeds it.
  const p = (q) => +Math.max(0, loop.percentile(q) / 1e6 - LOOP_RESOLUTION_MS).toFixed(2);
  const summary = {
    framework: kind,
    durationS: +elapsed.toFixed(1),
    requests: result.requests,
    rps: Math.round(result.requests / elapsed),
    statuses: result.statuses,
    refusalsByReason: refusals,
    refusalCodesSeenByClient: result.codes,
    transportErrors: result.errors,
    heapUsedMB: {
      start: mb(start.heap),
      end: mb(end.heap),
      delta: mb(end.heap - start.heap),
      margin: mb(heapMargin),
    },
    handles: { start: start.handles, end: end.handles },
    handleCount: { start: count(start.handles), end: count(end.handles) },
    eventLoopDelayMs: {
      p50: p(50),
      p99: p(99),
      max: +Math.max(0, loop.max / 1e6 - LOOP_RESOLUTION_MS).toFixed(2),
    },
    bulkheads: guards.filter((g) => g.maxConcurrent !== undefined),
    pool: poolStats,
    leak: failures.length > 0,
    failures,
  };
  if (args.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    console.log(
      `requests        ${summary.requests} in ${summary.durationS}s (${summary.rps}/s), statuses ${JSON.stringify(summary.statuses)}`,
    );
    console.log(`refusals        ${JSON.stringify(summary.refusalsByReason)}`);
    console.log(
      `heap used       start ${summary.heapUsedMB.start} MB, end ${summary.heapUsedMB.end} MB (delta ${summary.heapUsedMB.delta}, margin ${summary.heapUsedMB.margin})`,
    );
    console.log(
      `handles         start ${summary.handleCount.start} ${JSON.stringify(start.handles)}, end ${summary.handleCount.end} ${JSON.stringify(end.handles)}`,
    );
    console.log(
      `event loop      p50 ${summary.eventLoopDelayMs.p50} ms, p99 ${summary.eventLoopDelayMs.p99} ms, max ${summary.eventLoopDelayMs.max} ms`,
    );
    console.log(
      failures.length === 0 ? 'result          no leak' : `result          LEAK\n  ${failures.join('\n  ')}`,
    );
  }
  // On a leak, whatever leaked may keep the loop alive: exit. Without one the process ends
  // by itself, which proves again that nothing was left behind.
  if (failures.length > 0) process.exit(1);
}

async function buildApp(framework, options, policies, behave, pool) {
  const call = async (ctx) => {
    const r = await pool.get('/item', { context: ctx });
    await r.text();
    return { status: r.status >= 500 ? 502 : 200 };
  };
  const handlerFor = (name) => (name === 'all' ? call : (behave[name] ?? (() => ({ status: 200 }))));
  if (framework === 'koa') {
    const { breakwater } = await import('@breakwater/koa');
    const Koa = (await import('koa')).default;
    const Router = (await import('@koa/router')).default;
    const bw = breakwater(options);
    const app = new Koa();
    app.silent = true;
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch {
        ctx.status = 500;
        ctx.body = { error: 'internal' };
      }
    });
    app.use(bw.middleware());
    const router = new Router();
    router.get('/metrics', bw.metrics());
    router.get('/health/ready', bw.health('ready'));
    router.get('/health', bw.health());
    for (const [name, policy] of Object.entries(policies)) {
      const h = handlerFor(name);
      router.get(name === 'all' ? '/all/:id' : `/${name}`, bw.route(policy), async (ctx) => {
        const r = await h(ctx.state.breakwater);
        ctx.status = r.status;
        ctx.body = { ok: r.status < 400 };
      });
    }
    app.use(router.routes());
    return { app: app.callback(), bw, kind: 'koa' };
  }
  const { breakwater } = await import('@breakwater/express');
  const express = (await import('express')).default;
  const bw = breakwater(options);
  const app = express();
  app.use(bw.middleware());
  app.get('/metrics', bw.metrics());
  app.get('/health/ready', bw.health('ready'));
  app.get('/health', bw.health());
  for (const [name, policy] of Object.entries(policies)) {
    const h = handlerFor(name);
    app.get(name === 'all' ? '/all/:id' : `/${name}`, bw.route(policy), async (req, res) => {
      const r = await h(req.breakwater);
      res.status(r.status).json({ ok: r.status < 400 });
    });
  }
  app.use((_err, _req, res, _next) => {
    if (res.headersSent) res.destroy();
    else res.status(500).json({ error: 'internal' });
  });
  return { app, bw, kind: 'express' };
}

// --- measurements ------------------------------------------------------------------------

function handles() {
  const out = {};
  for (const r of process.getActiveResourcesInfo()) {
    // stdio pipes and in-flight fs reads come and go with logging, not with the app.
    if (r === 'TTYWrap' || r === 'PipeWrap' || r === 'FSReqCallback') continue;
    out[r] = (out[r] ?? 0) + 1;
  }
  return out;
}

async function snapshot() {
  // Idle keep-alive sockets close within a second; wait (up to 3 s) until none is open.
  await sleep(600);
  for (let i = 0; i < 30 && handles().TCPSocketWrap; i++) await sleep(100);
  globalThis.gc();
  await sleep(50);
  globalThis.gc();
  return { heap: process.memoryUsage().heapUsed, handles: handles() };
}

/** Measures after the load, waiting (up to 3 s) for handles to come back to the start counts. */
async function settle(start) {
  let s = await snapshot();
  for (let i = 0; i < 12 && Object.entries(s.handles).some(([t, n]) => n > (start.handles[t] ?? 0)); i++) {
    await sleep(250);
    s = { heap: s.heap, handles: handles() };
  }
  globalThis.gc();
  return { heap: process.memoryUsage().heapUsed, handles: s.handles };
}

function listen(server) {
  return new Promise((r) => server.listen(0, '127.0.0.1', r));
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function mb(bytes) {
  return +(bytes / 2 ** 20).toFixed(2);
}

function count(h) {
  return Object.values(h).reduce((a, b) => a + b, 0);
}

// --- entry point (last: every constant above is initialised) -------------------------------

if (args.role === 'load') await runLoad(args.url, durationS, connections);
else if (typeof globalThis.gc !== 'function') {
  // Forced GC needs --expose-gc: run again with it, passing the exit code through.
  const child = spawn(process.execPath, ['--expose-gc', ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 1 : 0);
  });
} else {
  try {
    await runApp();
  } catch (e) {
    // A start-up failure (bad options, a port): nothing is listening yet worth draining.
    console.error('soak: could not start:', e);
    process.exit(1);
  }
}
