#!/usr/bin/env node
/**
 * Runs the benchmark suites and writes results/latest.json and results/latest.md.
 *
 *   node run.mjs            every suite, full length (several minutes) → results/latest.{json,md}
 *   node run.mjs --quick    every suite, a few seconds each: checks the harness, not the numbers
 *                           → results/quick.{json,md}
 *   node run.mjs --only=http-express,core-micro --rounds=7 --duration=5
 *
 * Import the built packages: run `pnpm run build` at the root first (`pnpm bench` does).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { runNode } from './lib/proc.mjs';
import { reportMarkdown } from './lib/report.mjs';
import { runHttp } from './suites/http.mjs';
import { runMemory } from './suites/memory.mjs';
import { runMicro } from './suites/micro.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const quick = args.has('quick');
const rounds = Number(args.get('rounds') ?? (quick ? 3 : 6));
const duration = Number(args.get('duration') ?? 5);
const only = args.get('only')?.split(',');
if (rounds < 3) throw new Error('--rounds: at least 3 alternating rounds');

const log = (line) => process.stderr.write(`${line}\n`);

/**
 * Suites written as standalone scripts by their packages' owners: run as child processes
 * with `--quick` passed on, their JSON (a `BENCH_RESULT_FILE` they wrote, or the last stdout
 * line that parses) and their output kept. A missing script is reported, not fatal.
 */
function external(name, title, shortRun) {
  return async () => {
    const script = `${here}suites/${name}.mjs`;
    if (!existsSync(script))
      return { title, status: 'missing', reason: `bench/suites/${name}.mjs is not there yet` };
    const resultFile = `${here}results/.${name}.json`;
    rmSync(resultFile, { force: true });
    // A script that knows `--quick` gets it; otherwise its own knobs, set short.
    const knowsQuick = readFileSync(script, 'utf8').includes('quick');
    const quickArgs = knowsQuick ? ['--quick'] : shortRun.args;
    const quickEnv = knowsQuick ? {} : shortRun.env;
    let stdout = '';
    let status = 'ok';
    let reason;
    try {
      stdout = await runNode(script, quick ? quickArgs : [], {
        env: { ...(quick ? quickEnv : {}), BENCH_QUICK: quick ? '1' : '', BENCH_RESULT_FILE: resultFile },
        timeoutMs: quick ? 120_000 : 1_200_000,
      });
    } catch (e) {
      status = 'failed';
      reason = String(e.message).split('\n')[0];
      stdout = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    }
    let data;
    if (existsSync(resultFile)) {
      data = JSON.parse(readFileSync(resultFile, 'utf8'));
      rmSync(resultFile, { force: true });
    } else {
      const lines = stdout.trim().split('\n').reverse();
      for (const l of lines) {
        try {
          data = JSON.parse(l);
          break;
        } catch {}
      }
    }
    const shaped = data && typeof data === 'object' && (data.variants || data.comparisons || data.table);
    return {
      title,
      ...(shaped ? data : { data }),
      status: data?.status ?? status,
      reason: data?.reason ?? reason,
      output: stdout,
    };
  };
}

const suites = {
  'http-express': () => runHttp('express', { quick, rounds, duration, log }),
  'http-koa': () => runHttp('koa', { quick, rounds, duration, log }),
  'http-fastify': () => runHttp('fastify', { quick, rounds, duration, log }),
  'http-hono': () => runHttp('hono', { quick, rounds, duration, log }),
  'core-micro': () => runMicro({ quick, rounds, log }),
  'redis-store': external('redis-store', 'Redis rate-limit store', {
    args: [],
    env: { ROUNDS: '3', SECONDS: '0.15' },
  }),
  'http-pool': external('http-pool', 'HttpPool', {
    args: ['--rounds', '3', '--duration', '300', '--warmup', '200'],
    env: {},
  }),
  memory: () => runMemory({ quick, log }),
};

const started = Date.now();
const result = {
  meta: {
    date: new Date().toISOString(),
    node: process.versions.node,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    quick,
    rounds,
    durationPerRunSec: quick ? undefined : duration,
    seconds: 0,
  },
  suites: {},
};

let failed = false;
for (const [name, run] of Object.entries(suites)) {
  if (only && !only.includes(name)) continue;
  log(`▶ ${name}`);
  const t0 = Date.now();
  try {
    result.suites[name] = { name, ...(await run()), seconds: (Date.now() - t0) / 1000 };
    log(`  (${name}: ${Math.round((Date.now() - t0) / 1000)} s)`);
  } catch (e) {
    failed = true;
    result.suites[name] = {
      name,
      title: name,
      status: 'failed',
      reason: e instanceof Error ? e.message : String(e),
    };
    log(`  ✖ ${name}: ${e instanceof Error ? e.stack : e}`);
  }
}
result.meta.seconds = (Date.now() - started) / 1000;

mkdirSync(`${here}results`, { recursive: true });
// A quick or partial run never overwrites the full run's results.
const base = `${here}results/${only ? 'partial' : quick ? 'quick' : 'latest'}`;
writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(`${base}.md`, `${reportMarkdown(result)}\n`);
log(`wrote ${base}.json and ${base}.md in ${Math.round(result.meta.seconds)} s`);
process.stdout.write(`${reportMarkdown(result)}\n`);
process.exit(failed ? 1 : 0);
