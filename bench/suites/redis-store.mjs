// Decisions per second of the Redis rate-limit store at 50 concurrent in-flight decisions,
// beside a bare EVALSHA of a trivial INCR+PEXPIRE script on the same Redis (the ceiling).
// Single-window token bucket and a three-window decision; auto-pipelining on and off.
// Alternating rounds (A B C A B C …), medians reported.
//
// Run after building the packages (`pnpm run build` at the root):
//   node bench/suites/redis-store.mjs            (REDIS_URL, ROUNDS=3, SECONDS=2, CONCURRENCY=50)
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

// Resolve from bench/, whose node_modules link the workspace packages and ioredis.
const require = createRequire(new URL('../package.json', import.meta.url));
const { RedisRateLimitStore } = await import(require.resolve('@breakwater/redis-pool'));
const { Redis } = await import(require.resolve('ioredis'));

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const rounds = Number(process.env.ROUNDS ?? 3);
const seconds = Number(process.env.SECONDS ?? 2);
const concurrency = Number(process.env.CONCURRENCY ?? 50);
const KEYS = 1000;
const prefix = `bwbench:${process.pid}:`;

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
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const clients = {
  on: new Redis(url, { enableAutoPipelining: true }),
  off: new Redis(url, { enableAutoPipelining: false }),
};
const sha = await clients.on.script('LOAD', TRIVIAL);
const scenarios = [];
for (const [pipe, client] of Object.entries(clients)) {
  const store = new RedisRateLimitStore({ client, prefix, timeout: '2s' });
  scenarios.push(
    {
      name: `bare EVALSHA INCR+PEXPIRE (ceiling), autopipelining ${pipe}`,
      fn: (k) => client.evalsha(sha, 1, `${prefix}bare:${k}`),
    },
    { name: `store, 1 window token bucket, autopipelining ${pipe}`, fn: (k) => store.consume(k, one, 1) },
    { name: `store, 3 windows, autopipelining ${pipe}`, fn: (k) => store.consume(k, three, 1) },
  );
}

// Warm-up: load scripts, open sockets, JIT.
for (const s of scenarios) for (let i = 0; i < 200; i++) await s.fn(`warm${i}`);

const results = new Map(scenarios.map((s) => [s.name, []]));
for (let r = 0; r < rounds; r++) {
  for (const s of scenarios) {
    const rate = await measure(s.fn);
    results.get(s.name).push(rate);
    console.error(`round ${r + 1} ${s.name}: ${Math.round(rate)}/s`);
  }
}

const info = await clients.on.info('server');
const version = /redis_version:(\S+)/.exec(info)?.[1];
console.log(
  `\nRedis ${version} at ${url}, Node ${process.version}, ${concurrency} in flight, ${rounds} rounds × ${seconds}s, medians:\n`,
);
console.log('| scenario | decisions/s (median) | rounds | vs ceiling |');
console.log('| --- | ---: | --- | ---: |');
for (const pipe of ['on', 'off']) {
  const ceiling = median(results.get(`bare EVALSHA INCR+PEXPIRE (ceiling), autopipelining ${pipe}`));
  for (const s of scenarios.filter((x) => x.name.endsWith(`autopipelining ${pipe}`))) {
    const xs = results.get(s.name);
    const m = median(xs);
    console.log(
      `| ${s.name} | ${Math.round(m)} | ${xs.map((x) => Math.round(x)).join(', ')} | ${((m / ceiling) * 100).toFixed(0)}% |`,
    );
  }
}

// Clean up the bench's keys.
let cursor = '0';
do {
  const [next, keys] = await clients.on.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
  if (keys.length > 0) await clients.on.del(...keys);
  cursor = next;
} while (cursor !== '0');
await Promise.all(Object.values(clients).map((c) => c.quit()));
