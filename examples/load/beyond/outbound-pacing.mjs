#!/usr/bin/env node
/**
 * Outbound pacing that listens: a client service calls a partner API that allows 50 req/s.
 *
 * The partner (a child process, so the load generator never starves it) enforces its own
 * limit like a real API: a token bucket of 50 req/s; over it, 429 with `Retry-After`; every
 * answer carries draft-10 `RateLimit-Policy: "default";q=50;w=1` and
 * `RateLimit: "default";r=<left>;t=<seconds>`. The client offers 150 calls/s (open loop)
 * through an `HttpPool` in three variants:
 *
 *   - `no pacing`:        the pool sends everything — the partner answers 429 to two thirds;
 *   - `static pacing`:    `pace: { rate: 50, adaptive: false }` — the static alternative,
 *                         which works only because someone knew the partner's limit;
 *   - `adaptive pacing`:  `pace: { rate: 200 }` — set 4× too high, it hears the partner's
 *                         headers and converges to its rate;
 *   - `adaptive, 429s only`: the same against a partner that sends no rate-limit headers,
 *                         only 429 + `Retry-After`: the pool halves its pace on each wave of
 *                         429s, pauses as asked, and climbs back step by step.
 *
 * It reports 429s received, successful calls per second, calls refused locally
 * (`POOL_PACE_TIMEOUT`, refused at once rather than queued in vain), the p99 of the pacing
 * wait and the pace the pool ended on.
 *
 *   node examples/load/beyond/outbound-pacing.mjs [--quick]
 */
import http from 'node:http';
import { announcePort, main, percentile, round, sleep, startService } from './support.mjs';

/** The partner's limit, calls per second (token bucket with as many tokens of burst). */
const PARTNER_RATE = 50;
/** The partner's own work per call, in milliseconds. */
const PARTNER_WORK_MS = 5;
/** Calls per second the client service offers (open loop). */
const OFFERED_RPS = 150;
/** Longest a call may wait for a pacing token. */
const MAX_WAIT = '1s';
const MAX_WAIT_MS = 1_000;

const VARIANTS = [
  { variant: 'no pacing', pace: undefined },
  {
    variant: 'static pacing 50/s',
    pace: { rate: PARTNER_RATE, burst: 10, maxWait: MAX_WAIT, adaptive: false },
  },
  { variant: 'adaptive pacing 200/s', pace: { rate: 4 * PARTNER_RATE, burst: 10, maxWait: MAX_WAIT } },
  {
    variant: 'adaptive, 429s only',
    pace: { rate: 4 * PARTNER_RATE, burst: 10, maxWait: MAX_WAIT },
    partnerHeaders: false,
  },
];

// --- the partner API (child process) -----------------------------------------------------

function serve({ headers = true } = {}) {
  const rate = PARTNER_RATE;
  let tokens = rate;
  let last = Date.now();
  const counts = { received: 0, admitted: 0, throttled: 0 };
  const server = http.createServer((req, res) => {
    if (req.url === '/stats') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(counts));
      return;
    }
    counts.received++;
    const now = Date.now();
    tokens = Math.min(rate, tokens + ((now - last) * rate) / 1000);
    last = now;
    const admitted = tokens >= 1;
    if (admitted) tokens -= 1;
    if (headers) {
      res.setHeader('ratelimit-policy', `"default";q=${rate};w=1`);
      res.setHeader('ratelimit', `"default";r=${Math.floor(tokens)};t=${Math.ceil((rate - tokens) / rate)}`);
    }
    if (!admitted) {
      counts.throttled++;
      res.writeHead(429, { 'retry-after': String(Math.max(1, Math.ceil((1 - tokens) / rate))) });
      res.end('{"error":"slow down"}');
      return;
    }
    counts.admitted++;
    setTimeout(() => {
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    }, PARTNER_WORK_MS);
  });
  server.keepAliveTimeout = 5_000;
  announcePort(server.listen(0, '127.0.0.1'));
}

// --- the client service and its load -------------------------------------------------------

async function runVariant(v, seconds) {
  const { HttpPool } = await import('@breakwater/http-pool');
  const partner = await startService(import.meta.url, { headers: v.partnerHeaders !== false }, 'partner');
  const pool = new HttpPool({
    name: 'partner',
    baseUrl: partner.url,
    connections: 64,
    maxQueue: 1_000,
    ...(v.pace && { pace: v.pace }),
  });
  const waits = [];
  pool.events.onPaceWait((ms) => waits.push(ms));
  try {
    const calls = [];
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    for (let i = 0; performance.now() < end; i++) {
      const started = performance.now();
      calls.push(
        pool.get('/api/quote').then(
          (r) => ({ status: r.status, ms: performance.now() - started }),
          (e) => ({ status: 0, code: e?.code ?? String(e), ms: performance.now() - started }),
        ),
      );
      // Open loop: the next call leaves on schedule, answered or not.
      await sleep(Math.max(0, t0 + ((i + 1) * 1000) / OFFERED_RPS - performance.now()));
    }
    const results = await Promise.all(calls);
    const elapsed = (performance.now() - t0) / 1000;
    const seen = await pool.get('/stats').then((r) => r.json());
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.code === 'POOL_PACE_TIMEOUT');
    const sorted = (xs) => xs.map((r) => r.ms).sort((a, b) => a - b);
    waits.sort((a, b) => a - b);
    return {
      variant: v.variant,
      offered: results.length,
      'sent upstream': seen.received,
      '429s': results.filter((r) => r.status === 429).length,
      'ok /s': round(ok.length / elapsed),
      'refused locally': refused.length,
      'other errors': results.filter(
        (r) => r.status !== 200 && r.status !== 429 && r.code !== 'POOL_PACE_TIMEOUT',
      ).length,
      'pace wait p99 ms': v.pace ? round(percentile(waits, 99)) : '-',
      'refusal p99 ms': refused.length > 0 ? round(percentile(sorted(refused), 99)) : '-',
      'ok p99 ms': round(percentile(sorted(ok), 99)),
      'pace at end /s': v.pace ? round(pool.pacer.rate) : '-',
    };
  } finally {
    await pool.destroy();
    await partner.stop();
  }
}

/** Runs the three variants one after another; `quick`: a few seconds each (`seconds` overrides, for tests). */
export async function run({ quick = false, seconds = quick ? 3 : 15 } = {}) {
  const rows = [];
  for (const v of VARIANTS) rows.push(await runVariant(v, seconds));
  const [none, fixed, adaptive, blind] = rows;
  const share = (r) => r['429s'] / Math.max(1, r['sent upstream']);
  const pct = (x) => `${round(x * 100)}%`;
  const checks = [
    {
      name: 'without pacing the partner is hammered: most of what it receives gets a 429',
      pass: share(none) > 0.4,
      value: `${none['429s']} 429s (${pct(share(none))} of ${none['sent upstream']})`,
      want: '> 40%',
    },
    {
      name: 'static pacing at the right rate gets (almost) no 429',
      pass: share(fixed) <= 0.01,
      value: `${fixed['429s']} 429s (${pct(share(fixed))})`,
      want: '<= 1%',
    },
    {
      name: 'adaptive pacing, set 4× too high, gets (almost) no 429 once the partner has spoken',
      pass: share(adaptive) <= 0.02 && adaptive['429s'] * 20 <= none['429s'],
      value: `${adaptive['429s']} 429s (${pct(share(adaptive))}; no pacing: ${none['429s']})`,
      want: '<= 2%, and <= 1/20 of no pacing',
    },
    {
      name: "adaptive pacing converges to the partner's rate: successful calls/s near static pacing's",
      pass: adaptive['ok /s'] >= 0.85 * fixed['ok /s'] && adaptive['ok /s'] <= PARTNER_RATE * 1.1,
      value: `${adaptive['ok /s']}/s vs ${fixed['ok /s']}/s`,
      want: `>= 85% of static, <= ${round(PARTNER_RATE * 1.1)}/s`,
    },
    {
      name: 'the adaptive pace ends near the partner limit, never above',
      pass: adaptive['pace at end /s'] >= 0.6 * PARTNER_RATE && adaptive['pace at end /s'] <= PARTNER_RATE,
      value: `${adaptive['pace at end /s']}/s`,
      want: `${0.6 * PARTNER_RATE}..${PARTNER_RATE}/s`,
    },
    {
      name: 'without rate-limit headers, 429 + Retry-After alone still cut the 429s by 5× or more',
      pass: blind['429s'] * 5 <= none['429s'] && blind['ok /s'] >= 0.6 * fixed['ok /s'],
      value: `${blind['429s']} 429s vs ${none['429s']} unpaced; ${blind['ok /s']}/s ok`,
      want: `<= ${Math.floor(none['429s'] / 5)}, >= ${round(0.6 * fixed['ok /s'])}/s ok`,
    },
    {
      name: `excess calls are refused locally and fast (typed POOL_PACE_TIMEOUT), waits stay within maxWait (${MAX_WAIT})`,
      pass:
        fixed['refused locally'] > 0 &&
        adaptive['refused locally'] > 0 &&
        fixed['other errors'] === 0 &&
        adaptive['other errors'] === 0 &&
        adaptive['pace wait p99 ms'] <= MAX_WAIT_MS + 50 &&
        fixed['pace wait p99 ms'] <= MAX_WAIT_MS + 50,
      value: `refused ${fixed['refused locally']} / ${adaptive['refused locally']}, wait p99 ${fixed['pace wait p99 ms']} / ${adaptive['pace wait p99 ms']} ms, refusal p99 ${fixed['refusal p99 ms']} / ${adaptive['refusal p99 ms']} ms`,
      want: `> 0 refused, 0 other errors, wait p99 <= ${MAX_WAIT_MS} ms`,
    },
  ];
  return {
    name: 'outbound-pacing',
    title: `Outbound pacing: ${OFFERED_RPS} calls/s offered to a partner API limited to ${PARTNER_RATE}/s (${seconds} s per variant)`,
    command: `node examples/load/beyond/outbound-pacing.mjs${quick ? ' --quick' : ''}`,
    rows,
    checks,
  };
}

await main(import.meta.url, run, { serve });
