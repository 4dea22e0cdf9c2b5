/**
 * The load scenarios. Each has a duration per scale (`test`: seconds, for the test
 * suite; `demo`: `pnpm demo`; `full`: the command line), a `run(ctx)` that drives the
 * traffic and the chaos, and a `check(result)` that returns its thresholds. A scenario
 * that misses one fails (the command line exits non-zero).
 */
import { check, inOrder } from './runner.mjs';

const CACHE_KEYS = ['product-1', 'product-2', 'product-3', 'product-4', 'product-5'];
const ms = (v) => `${v} ms`;
const pct = (v) => `${(v * 100).toFixed(2)}%`;

/** Refusals expected (`true`), forbidden (`false`) or not judged (absent), by reason. */
function refusalChecks(summary, expected, label = '') {
  return Object.entries(expected).map(([reason, want]) =>
    want
      ? check(
          `${label}${reason} refusals appear`,
          summary.refusals[reason] > 0,
          summary.refusals[reason],
          '> 0',
        )
      : check(`${label}no ${reason} refusals`, summary.refusals[reason] === 0, summary.refusals[reason], '0'),
  );
}

function answered(summary) {
  return check(
    'every request answered',
    summary.unanswered === 0,
    `${summary.unanswered} unanswered`,
    '0 unanswered',
  );
}

const steadyMix = (client, k = 1) => [
  { name: 'external-data', path: '/api/external-data', connections: 4, rate: 30 * k, client },
  {
    name: 'cache-get',
    paths: CACHE_KEYS.map((key) => `/api/cache/${key}`),
    connections: 4,
    rate: 30 * k,
    client,
  },
  {
    name: 'cache-post',
    method: 'POST',
    paths: CACHE_KEYS.map((key) => `/api/cache/${key}`),
    body: { value: { price: 42, currency: 'EUR' }, ttlMs: 60_000 },
    connections: 2,
    rate: 10 * k,
    client,
  },
  { name: 'health', path: '/health', connections: 1, rate: 10 * k, client },
];

export const basic = {
  name: 'basic',
  title: 'Basic: ramp to moderate load',
  description:
    'Mixed traffic ramps up in three steps to a moderate rate. Every policy stays out of the way: no refusals, low latency.',
  duration: { test: 3, demo: 10, full: 30 },
  async run(ctx) {
    const step = ctx.D / 3;
    // Three steps, each started on the clock (not after the previous one drained).
    await Promise.all(
      [1 / 3, 2 / 3, 1].flatMap((k, i) => [
        ctx.at(i * step, `step ${i + 1}: ${Math.round(k * 100)}% of the rate`),
        ...[
          ...steadyMix('basic', k),
          {
            name: 'heavy-computation',
            path: '/api/heavy-computation',
            connections: 2,
            rate: Math.max(1, Math.round(4 * k)),
            client: 'basic',
          },
        ].map((s) => ctx.load(s, { at: i * step, duration: step })),
      ]),
    );
  },
  check(r) {
    const s = r.summary;
    const offered = ((30 + 30 + 10 + 10 + 4) * (1 / 3 + 2 / 3 + 1)) / 3;
    return [
      answered(s),
      check('error rate ≤ 1%', s.errorRate <= 0.01, pct(s.errorRate), '≤ 1%'),
      check('p95 ≤ 400 ms', s.latency.p95 <= 400, ms(s.latency.p95), '≤ 400 ms'),
      check('p99 ≤ 1000 ms', s.latency.p99 <= 1000, ms(s.latency.p99), '≤ 1000 ms'),
      check(
        'throughput ≥ 75% of offered',
        s.throughput >= offered * 0.75,
        `${s.throughput} req/s`,
        `≥ ${(offered * 0.75).toFixed(0)} req/s`,
      ),
      ...refusalChecks(s, { rate_limited: false, circuit_open: false, bulkhead_full: false, timeout: false }),
    ];
  },
};

export const spike = {
  name: 'spike',
  title: 'Spike: a sudden burst',
  description:
    'Steady clients keep going while two bursts hit: one client saturates /api/heavy-computation (the bulkhead sheds what its queue cannot hold, ' +
    'the work runs in worker threads so /health stays fast), then another floods /api/cache (its rate limit answers 429; other clients are unaffected).',
  duration: { test: 5, demo: 12, full: 30 },
  async run(ctx) {
    const D = ctx.D;
    const a = [0.15 * D, 0.5 * D];
    const b = [0.6 * D, 0.85 * D];
    ctx.window('heavy burst', a[0], a[1]);
    ctx.window('cache flood', b[0], b[1]);
    await Promise.all([
      ctx.load({
        name: 'steady external-data',
        path: '/api/external-data',
        connections: 2,
        rate: 10,
        client: 'steady',
      }),
      ctx.load({
        name: 'steady cache-get',
        paths: CACHE_KEYS.map((k) => `/api/cache/${k}`),
        connections: 2,
        rate: 10,
        client: 'steady',
      }),
      ctx.probeHealth({ everyMs: 50 }),
      ctx.at(a[0], 'heavy burst', async () => {
        await ctx.runtimeNow('?reset=1');
      }),
      ctx.load(
        {
          name: 'burst heavy-computation',
          path: '/api/heavy-computation',
          connections: 16,
          rate: 80,
          client: 'burst-heavy',
        },
        { at: a[0], duration: a[1] - a[0] },
      ),
      ctx.at(a[1] - 0.05, 'heavy burst ends', async () => {
        ctx.extra.heavyBurstRuntime = await ctx.runtimeNow();
      }),
      ctx.load(
        {
          name: 'burst cache-get',
          paths: CACHE_KEYS.map((k) => `/api/cache/${k}`),
          connections: 16,
          rate: 800,
          client: 'burst-cache',
        },
        { at: b[0], duration: b[1] - b[0] },
      ),
      ctx.at(b[0], 'cache flood'),
    ]);
  },
  check(r, { healthBetween }) {
    const s = r.summary;
    const { from, to } = r.windows['heavy burst'];
    const health = healthBetween(from, to);
    r.extra.healthDuringHeavy = health;
    const steadyE = r.streams['steady external-data'];
    const steadyC = r.streams['steady cache-get'];
    const heavy = r.streams['burst heavy-computation'];
    const flood = r.streams['burst cache-get'];
    const eld = r.extra.heavyBurstRuntime?.eldP50;
    return [
      answered(s),
      ...refusalChecks(s, { rate_limited: true, bulkhead_full: true, circuit_open: false, timeout: false }),
      check(
        'heavy burst: shed by the bulkhead only',
        heavy.refusals.bulkhead_full > 0 && heavy.refusals.rate_limited === 0,
        `bulkhead_full ${heavy.refusals.bulkhead_full}, rate_limited ${heavy.refusals.rate_limited}`,
        'bulkhead_full > 0, rate_limited 0',
      ),
      check('heavy burst: work still done', heavy.ok > 0, `${heavy.ok} computed`, '> 0'),
      check('cache flood: rate limited', flood.refusals.rate_limited > 0, flood.refusals.rate_limited, '> 0'),
      check(
        'steady clients unaffected (no refusals, no errors)',
        steadyE.refused + steadyC.refused + steadyE.errors + steadyC.errors === 0,
        `${steadyE.refused + steadyC.refused} refused, ${steadyE.errors + steadyC.errors} errors`,
        '0',
      ),
      check(
        '/health p50 during the heavy burst ≤ 20 ms',
        health.p50 <= 20,
        `${ms(health.p50)} (p95 ${ms(health.p95)}, ${health.probes} probes)`,
        '≤ 20 ms',
      ),
      check('/health p95 during the heavy burst ≤ 100 ms', health.p95 <= 100, ms(health.p95), '≤ 100 ms'),
      check(
        'event-loop delay p50 during the heavy burst ≤ 20 ms',
        eld !== undefined && eld <= 20,
        eld === undefined ? 'not measured' : `${ms(eld)} (p99 ${ms(r.extra.heavyBurstRuntime.eldP99)})`,
        '≤ 20 ms',
      ),
      check(
        'refusals answered fast (p50 ≤ 20 ms)',
        s.refusedLatencyP50 <= 20,
        `${ms(s.refusedLatencyP50)} (p99 ${ms(s.refusedLatencyP99)})`,
        '≤ 20 ms',
      ),
    ];
  },
};

export const chaos = {
  name: 'chaos',
  title: 'Chaos: the upstream fails and recovers',
  description:
    'The upstream goes down mid-run and /api/error-prone starts failing: their breakers open, refuse at once (503 CIRCUIT_OPEN) instead of ' +
    'waiting on a dead upstream, half-open to probe, and close once it is back. Meanwhile /api/external-data degrades instead of refusing: ' +
    'its last good answer goes out (staleIfError, Breakwater-Fallback), counted as a fallback served beside the refusals.',
  duration: { test: 8, demo: 20, full: 40 },
  async run(ctx) {
    const D = ctx.D;
    const before = await ctx.service.get('/admin/error-prone');
    ctx.extra.errorProneRate = before.json?.failureRate ?? 0.05;
    ctx.window('recovered', 0.8 * D, D);
    await Promise.all([
      ctx.load({
        name: 'external-data',
        path: '/api/external-data',
        connections: 8,
        rate: 40,
        client: 'chaos',
      }),
      ctx.load({ name: 'error-prone', path: '/api/error-prone', connections: 4, rate: 30, client: 'chaos' }),
      ctx.at(0, 'error-prone healthy', () => ctx.service.put('/admin/error-prone', { failureRate: 0 })),
      ctx.at(0.2 * D, 'upstream down, error-prone failing', async () => {
        await ctx.upstream.set({ outage: 'error' });
        await ctx.service.put('/admin/error-prone', { failureRate: 0.9 });
      }),
      ctx.at(0.5 * D, 'upstream back, error-prone healthy', async () => {
        await ctx.upstream.set({ outage: false });
        await ctx.service.put('/admin/error-prone', { failureRate: 0 });
      }),
    ]);
  },
  async cleanup(ctx) {
    await ctx.upstream.reset();
    await ctx.service.put('/admin/error-prone', { failureRate: ctx.extra.errorProneRate ?? 0.05 });
  },
  check(r, { between }) {
    const s = r.summary;
    const D = r.durationS;
    const { from, to } = r.windows.recovered;
    const late = between(from, to);
    r.extra.afterRecovery = late;
    const of = (name) => r.breakers.transitions.filter((t) => t.breaker === name);
    const last = (name) => of(name).at(-1)?.to ?? r.breakers.initial[name] ?? 'closed';
    const cycle = ['closed>open', 'open>half-open', 'half-open>closed'];
    const breakerChecks = ['upstream', 'GET /api/error-prone'].flatMap((name) => [
      check(
        `breaker ${name}: closed → open → half-open → closed`,
        inOrder(of(name), cycle),
        of(name).length ? [of(name)[0].from, ...of(name).map((t) => t.to)].join(' → ') : 'no transitions',
        'closed → open → half-open → … → closed',
      ),
      check(`breaker ${name}: closed at the end`, last(name) === 'closed', last(name), 'closed'),
    ]);
    const pool = r.pools.changes.filter((c) => c.pool === 'upstream').map((c) => c.to);
    const ext = r.streams['external-data'];
    const by = Object.entries(ext?.fallbacksBy ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    return [
      answered(s),
      ...refusalChecks(s, { circuit_open: true, rate_limited: false, bulkhead_full: false, timeout: false }),
      check(
        'external-data degrades: stale copies served while the upstream is down',
        (ext?.fallbacks ?? 0) > 0,
        `${ext?.fallbacks ?? 0} fallbacks${by ? ` (${by})` : ''}`,
        '> 0',
      ),
      ...breakerChecks,
      check(
        'open breaker fails fast (refusal p50 ≤ 20 ms)',
        s.refusedLatencyP50 <= 20,
        `${ms(s.refusedLatencyP50)} (p99 ${ms(s.refusedLatencyP99)})`,
        '≤ 20 ms',
      ),
      check(
        "upstream pool's health: down and back",
        pool.includes('fail') && pool.at(-1) === 'pass',
        pool.join(' → ') || 'no change',
        '… fail … → pass',
      ),
      check(
        `after recovery (last ${(0.2 * D).toFixed(0)} s): error rate ≤ 2%`,
        late.errorRate <= 0.02,
        pct(late.errorRate),
        '≤ 2%',
      ),
      check('after recovery: no refusals', late.refused === 0, late.refused, '0'),
    ];
  },
};

export const endurance = {
  name: 'endurance',
  title: 'Endurance: sustained load',
  description:
    'Steady mixed traffic for the whole run: latency stays flat, and the heap and open handles come back to where they started.',
  duration: { test: 4, demo: 14, full: 60 },
  async run(ctx) {
    const settle = async () => {
      await new Promise((r) => setTimeout(r, 300));
      return ctx.runtimeNow('?gc=1');
    };
    ctx.extra.before = await settle();
    await Promise.all([
      ...steadyMix('endurance').map((s) => ctx.load(s)),
      ctx.sampleRuntime({ everyS: ctx.D > 10 ? 1 : 0.5 }),
    ]);
    ctx.extra.after = await settle();
  },
  check(r) {
    const s = r.summary;
    const { before, after } = r.extra;
    const heapGrowth = before && after ? Math.round((after.heapMB - before.heapMB) * 10) / 10 : undefined;
    const handleGrowth = before && after ? after.handles - before.handles : undefined;
    return [
      answered(s),
      check('error rate ≤ 1%', s.errorRate <= 0.01, pct(s.errorRate), '≤ 1%'),
      check('p95 ≤ 100 ms', s.latency.p95 <= 100, ms(s.latency.p95), '≤ 100 ms'),
      check('p99 ≤ 250 ms', s.latency.p99 <= 250, ms(s.latency.p99), '≤ 250 ms'),
      check(
        'throughput ≥ 75% of offered (80 req/s)',
        s.throughput >= 60,
        `${s.throughput} req/s`,
        '≥ 60 req/s',
      ),
      ...refusalChecks(s, { rate_limited: false, circuit_open: false, bulkhead_full: false, timeout: false }),
      check(
        'heap after load within 32 MB of before',
        heapGrowth !== undefined && heapGrowth <= 32,
        heapGrowth === undefined
          ? 'not measured'
          : `${heapGrowth >= 0 ? '+' : ''}${heapGrowth} MB (${before.heapMB} → ${after.heapMB})`,
        '≤ +32 MB',
      ),
      check(
        'open handles back to where they were (±4)',
        handleGrowth !== undefined && handleGrowth <= 4,
        handleGrowth === undefined ? 'not measured' : `${before.handles} → ${after.handles}`,
        '≤ +4',
      ),
    ];
  },
};

export const scenarios = { basic, spike, chaos, endurance };
