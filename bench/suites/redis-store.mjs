// Decisions per second of the Redis rate-limit store at 50 concurrent in-flight decisions,
// beside a bare EVALSHA of a trivial INCR+PEXPIRE script on the same Redis (the ceiling)
// and rate-limiter-flexible's RateLimiterRedis (one limiter; three in a RateLimiterUnion for
// the three-window decision). Single-window token bucket and a three-window decision;
// ioredis auto-pipelining on and off, each with its own client.
//
// Every round runs each subject once, back to back (A B C D E, A B C D E, …), and the
// ratios are taken per round between neighbours, so drift of a shared machine cancels out;
// medians and min–max over the rounds are reported.
//
// Run after building the packages (`pnpm run build` at the root):
//   node bench/suites/redis-store.mjs       (REDIS_URL, ROUNDS=5, SECONDS=2, CONCURRENCY=50,
//                                             REDIS_POOL_MODULE: path of another build to measure)
//   node bench/suites/redis-store.mjs --quick   (3 rounds of 0.3s: checks the harness works)
// Under bench/run.mjs the result goes to BENCH_RESULT_FILE as JSON in the harness's shape.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

// Resolve from bench/, whose node_modules link the workspace packages and the peers.
const require = createRequire(new URL('../package.json', import.meta.url));
// REDIS_POOL_MODULE: another build of @breakwater/redis-pool, to compare two versions.
const { RedisRateLimitStore } = await import(
  process.env.REDIS_POOL_MODULE ?? require.resolve('@breakwater/redis-pool')
);
const { Redis } = await import(require.resolve('ioredis'));
const { RateLimiterRedis, RateLimiterUnion } = require('rate-limiter-flexible');

const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const rounds = Number(process.env.ROUNDS ?? (quick ? 3 : 5));
const seconds = Number(process.env.SECONDS ?? (quick ? 0.3 : 2));
const concurrency = Number(process.env.CONCURRENCY ?? 50);
const KEYS = 1000;
const prefix = `bwbench:${process.pid}:`;
if (rounds < 3) throw new Error('ROUNDS: at least 3 alternating rounds');

const TRIVIAL = "redis.call('INCR', KEYS[1]) redis.call('PEXPIRE', KEYS[1], 60000) return 1";
const win = (algorithm, limit, windowMs) =>
  Object.freeze({ name: `w${windowMs}`, algorithm, limit, windowMs, burst: limit });
// Limits too high to refuse, so every call does the full work of an admitted decision.
const one = Object.freeze([win('token-bucket', 1e9, 60_000)]);
const three = Object.freeze([
  win('token-bucket', 1e9, 1000),
  win('fixed-window', 1e9, 60_000),
  win('sliding-window', 1e9, 3_600_000),
]);

async function measure(fn) {
  let n = 0;
  let i = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      await fn(`k${i++ % KEYS}`);
      n++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return n / ((performance.now() - t0) / 1000);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const summary = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), samples: xs });
const ratio = (a, b) => summary(a.map((x, i) => x / b[i]));

const clients = {
  on: new Redis(url, { enableAutoPipelining: true }),
  off: new Redis(url, { enableAutoPipelining: false }),
};
const sha = await clients.on.script('LOAD', TRIVIAL);
const rlr = (client, tag, duration) =>
  new RateLimiterRedis({
    storeClient: client,
    keyPrefix: `${prefix}rlf:${tag}:${duration}`,
    points: 1e9,
    duration,
  });

const names = {
  ceiling: 'bare EVALSHA INCR+PEXPIRE (ceiling)',
  rlf1: 'RateLimiterRedis, 1 limiter (60s)',
  store1: 'store, 1 window token bucket',
  rlf3: 'RateLimiterUnion of 3 RateLimiterRedis (1s, 60s, 1h)',
  store3: 'store, 3 windows (token bucket, fixed, sliding)',
};
const subjects = [];
for (const [pipe, client] of Object.entries(clients)) {
  const store = new RedisRateLimitStore({ client, prefix, timeout: '2s' });
  const single = rlr(client, pipe, 60);
  const union = new RateLimiterUnion(rlr(client, pipe, 1), rlr(client, pipe, 60), rlr(client, pipe, 3600));
  // The store runs next to the ceiling it is held to, then next to its peers.
  const fns = {
    ceiling: (k) => client.evalsha(sha, 1, `${prefix}bare:${k}`),
    store1: (k) => store.consume(k, one, 1),
    store3: (k) => store.consume(k, three, 1),
    rlf1: (k) => single.consume(k, 1),
    rlf3: (k) => union.consume(k, 1),
  };
  for (const [id, fn] of Object.entries(fns))
    subjects.push({ id, pipe, name: `${names[id]}, auto-pipelining ${pipe}`, fn, rates: [] });
}

// Warm-up: load scripts, open sockets, JIT.
for (const s of subjects) for (let i = 0; i < 500; i++) await s.fn(`warm${i % 50}`);

for (let r = 0; r < rounds; r++) {
  for (const s of subjects) {
    const rate = await measure(s.fn);
    s.rates.push(rate);
    console.error(`round ${r + 1}/${rounds} ${s.name}: ${Math.round(rate)}/s`);
  }
}

const info = await clients.on.info('server');
const version = /redis_version:(\S+)/.exec(info)?.[1];
const variants = {};
for (const s of subjects) variants[s.name] = summary(s.rates);
const comparisons = [];
const by = (id, pipe) => subjects.find((s) => s.id === id && s.pipe === pipe).rates;
for (const pipe of ['on', 'off']) {
  const add = (a, b, min) => {
    const rt = ratio(by(a, pipe), by(b, pipe));
    comparisons.push({
      name: `${names[a]} vs ${names[b]}, auto-pipelining ${pipe}`,
      ratio: rt,
      goal: { min },
      met: rt.median >= min,
    });
  };
  add('store1', 'ceiling', 0.8);
  add('store1', 'rlf1', 1.0);
  add('store3', 'ceiling', 0.8);
  add('store3', 'rlf3', 1.0);
}

const fmt = (x) => (x >= 1000 ? `${Math.round(x / 100) / 10}k` : `${Math.round(x * 100) / 100}`);
const lines = [
  `Redis ${version} at ${url}, Node ${process.version}, ${concurrency} in flight, ${rounds} alternating rounds × ${seconds}s${quick ? ' (quick: harness check, numbers not meaningful)' : ''}`,
  '',
  '| subject | decisions/s (median) | min–max |',
  '| --- | ---: | ---: |',
  ...subjects.map((s) => {
    const v = variants[s.name];
    return `| ${s.name} | ${fmt(v.median)} | ${fmt(v.min)}–${fmt(v.max)} |`;
  }),
  '',
  '| comparison (per-round ratios) | median | min–max | goal |',
  '| --- | ---: | ---: | --- |',
  ...comparisons.map(
    (c) =>
      `| ${c.name} | ${c.ratio.median.toFixed(2)}× | ${c.ratio.min.toFixed(2)}–${c.ratio.max.toFixed(2)} | ≥ ${c.goal.min}× ${c.met ? '✅' : '❌'} |`,
  ),
];
console.log(`\n${lines.join('\n')}`);

const result = {
  description: `Decisions/s at ${concurrency} in flight on Redis ${version}, ${rounds} alternating rounds × ${seconds}s; ratios per round.`,
  unit: 'decisions/s',
  variants,
  comparisons,
  met: comparisons.every((c) => c.met),
};
if (process.env.BENCH_RESULT_FILE) writeFileSync(process.env.BENCH_RESULT_FILE, JSON.stringify(result));

// Clean up the bench's keys.
let cursor = '0';
do {
  const [next, keys] = await clients.on.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
  if (keys.length > 0) await clients.on.del(...keys);
  cursor = next;
} while (cursor !== '0');
await Promise.all(Object.values(clients).map((c) => c.quit()));
