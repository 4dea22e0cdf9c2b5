#!/usr/bin/env node
/**
 * Quota leasing under load: many simulated instances (each its own RedisRateLimitStore and
 * ioredis connection) deciding for a few hot keys on one Redis, leasing off and on.
 * Prints Redis commands per 1,000 decisions (EVALSHA + EVAL from INFO commandstats),
 * the most admitted in one window against the limit (the observed overshoot, against the
 * stated bound N × (size − 1)), and the measured single-node EVALSHA ceiling with the
 * sizing it implies for a fleet.
 *
 *   node load/lease.mjs [--instances 50] [--keys 10] [--size 10] [--ttl 1000]
 *        [--seconds 3] [--redis redis://127.0.0.1:6379]
 *
 * Two workloads: keys well under their limit (the usual case: leasing saves calls) and
 * keys far over it (where the overshoot shows, and refusals are remembered for their
 * retry-after).
 *
 * Needs the packages built (`pnpm run build`). Decisions use the process's clock (the
 * store's `clock` option) so every instance agrees where a window starts and the count per
 * window is exact; in production the store uses Redis's clock.
 */
import { parseArgs } from 'node:util';
import { RedisRateLimitStore } from '@breakwater/redis-pool';
import { Redis } from 'ioredis';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    instances: { type: 'string', default: '50' },
    keys: { type: 'string', default: '10' },
    size: { type: 'string', default: '10' },
    ttl: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '3' },
    redis: { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
});
const N = Number(values.instances);
const KEYS = Number(values.keys);
const SIZE = Number(values.size);
const TTL = Number(values.ttl);
const SECONDS = Number(values.seconds);
const WINDOW_MS = 1000;
const clock = { now: () => Date.now(), setTimeout, clearTimeout };

const admin = new Redis(values.redis);
const ready = (c) => (c.status === 'ready' ? Promise.resolve() : new Promise((r) => c.once('ready', r)));

async function scriptCalls() {
  const info = await admin.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const m of info.matchAll(/cmdstat_(evalsha|eval):calls=(\d+),usec=(\d+)/g)) {
    calls += Number(m[2]);
    usec += Number(m[3]);
  }
  return { calls, usec };
}

/** One run: N instances, 4 loops each, for SECONDS; returns the figures of the table. */
async function scenario(LIMIT, lease) {
  const windows = [
    Object.freeze({ name: 's', algorithm: 'fixed-window', limit: LIMIT, windowMs: WINDOW_MS, burst: LIMIT }),
  ];
  const prefix = `bwload:lease:${process.pid}:${LIMIT}:${lease ? 'on' : 'off'}:`;
  const clients = Array.from({ length: N }, () => new Redis(values.redis, { enableAutoPipelining: true }));
  await Promise.all(clients.map(ready));
  const stores = clients.map(
    (client) =>
      new RedisRateLimitStore({
        client,
        prefix,
        timeout: '2s',
        clock,
        ...(lease ? { lease: { size: SIZE, ttl: TTL } } : {}),
      }),
  );
  const before = await scriptCalls();
  const perWindow = new Map();
  let decisions = 0;
  let admitted = 0;
  let errors = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    stores.flatMap((store, i) =>
      Array.from({ length: 4 }, async (_, j) => {
        let n = i * 7 + j;
        while (Date.now() < end) {
          const key = `k${n++ % KEYS}`;
          try {
            const d = await store.consume(key, windows, 1);
            decisions++;
            if (d.allowed) {
              admitted++;
              const w = `${key}:${Math.floor(Date.now() / WINDOW_MS)}`;
              perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
            }
          } catch {
            errors++;
          }
        }
      }),
    ),
  );
  const after = await scriptCalls();
  await Promise.all(clients.map((c) => c.quit()));
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  // Whole windows only: the first and last are cut by the start and end of the run.
  const counts = [...perWindow.entries()]
    .filter(([w]) => {
      const t = Number(w.split(':')[1]) * WINDOW_MS;
      return t >= end - SECONDS * 1000 + WINDOW_MS && t + WINDOW_MS <= end;
    })
    .map(([, c]) => c);
  const calls = after.calls - before.calls;
  return {
    limit: LIMIT,
    mode: lease ? `on (size ${SIZE}, ttl ${TTL}ms)` : 'off',
    decisions,
    errors,
    calls,
    perThousand: (1000 * calls) / decisions,
    admittedPerSec: admitted / SECONDS,
    maxInWindow: Math.max(...counts),
    overshoot: Math.max(0, Math.max(...counts) - LIMIT),
    bound: lease ? N * (SIZE - 1) : 0,
    usecPerCall: calls > 0 ? (after.usec - before.usec) / calls : 0,
  };
}

/** The single-node ceiling: one connection, 256 decisions in flight, over distinct keys. */
async function ceiling() {
  const client = new Redis(values.redis, { enableAutoPipelining: true });
  await ready(client);
  const store = new RedisRateLimitStore({ client, prefix: `bwload:ceiling:${process.pid}:`, timeout: '5s' });
  const tb = [
    Object.freeze({ name: 'm', algorithm: 'token-bucket', limit: 1e9, windowMs: 60_000, burst: 1e9 }),
  ];
  const before = await scriptCalls();
  let n = 0;
  const t0 = performance.now();
  const end = Date.now() + 3000;
  await Promise.all(
    Array.from({ length: 256 }, async (_, i) => {
      while (Date.now() < end) {
        await store.consume(`c${i}`, tb, 1);
        n++;
      }
    }),
  );
  const perSec = n / ((performance.now() - t0) / 1000);
  const after = await scriptCalls();
  const keys = await admin.keys(`bwload:ceiling:${process.pid}:*`);
  if (keys.length > 0) await admin.del(...keys);
  await client.quit();
  return { perSec, usecPerCall: (after.usec - before.usec) / (after.calls - before.calls) };
}

await ready(admin);
const UNDER = 1_000_000;
const OVER = 200;
const rows = [];
for (const limit of [UNDER, OVER]) for (const lease of [false, true]) rows.push(await scenario(limit, lease));
const top = await ceiling();
await admin.quit();

const fmt = (x, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(
  `\n${N} instances × 4 loops, ${KEYS} keys, a fixed window per key, ${SECONDS}s per run, one Redis\n`,
);
console.log(
  '| workload | leasing | decisions | Redis script calls | calls per 1,000 decisions | admitted/s | most in one window (limit) | overshoot | stated bound N × (size − 1) |',
);
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows)
  console.log(
    `| ${r.limit === UNDER ? 'under the limit' : 'over the limit'} | ${r.mode} | ${fmt(r.decisions)} | ${fmt(r.calls)} | ${fmt(r.perThousand, 1)} | ${fmt(r.admittedPerSec)} | ${fmt(r.maxInWindow)} (${fmt(r.limit)}) | ${fmt(r.overshoot)} | ${fmt(r.bound)} |`,
  );
const on = rows[1];
console.log(
  `\nSingle-node ceiling, measured here: ${fmt(top.perSec)} decisions/s end to end (one client, 256 in flight); ` +
    `${fmt(top.usecPerCall, 2)} µs of Redis time per EVALSHA, so at most ${fmt(1e6 / top.usecPerCall)}/s for Redis's one core.`,
);
const demand = 100 * 10_000;
const offCalls = demand;
const onCalls = (demand * on.perThousand) / 1000;
console.log(
  `Sizing, 100 instances × 10,000 decisions/s = ${fmt(demand)} decisions/s:\n` +
    `  leasing off: ${fmt(offCalls)} script calls/s = ${fmt(offCalls / (1e6 / top.usecPerCall), 1)}× one Redis core's ceiling ` +
    `(${fmt(offCalls / top.perSec, 1)}× the end-to-end rate measured): a Cluster of at least ${Math.ceil(offCalls / (1e6 / top.usecPerCall))} masters, keys spread evenly.\n` +
    `  leasing on (size ${SIZE}): ${fmt(onCalls)} calls/s at the under-the-limit run's ${fmt(on.perThousand, 1)} per 1,000 ` +
    `= ${fmt((100 * onCalls) / (1e6 / top.usecPerCall), 0)}% of one core; the price, at most ${fmt(100 * (SIZE - 1))} units per key per window beyond the limit (100 × (size − 1)).`,
);
