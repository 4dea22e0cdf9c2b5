#!/usr/bin/env node
/**
 * Instructions per call, counted by valgrind: a figure a shared, noisy machine does not move.
 *
 * Subject mode, run under valgrind (from the repo root or bench/):
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
 *     node [--predictable] bench/suites/instructions.mjs <subject> <n>
 *
 * builds one subject, warms it up with a fixed number of calls, then makes `n` more calls,
 * one after another, and exits. The instruction total of a run with n = N2 less one with
 * n = N1, over N2 − N1, is the steady-state instructions per call: startup, module loading,
 * warm-up and exit are the same in both runs and cancel out.
 *
 * Subjects (built by micro-subjects.mjs, so they follow the micro suite when the API moves):
 *   guard    one request through a route guard with four policies (rate limit, breaker,
 *            bulkhead, timeout), driven by micro-guard.mjs's BenchCall as the adapters drive it
 *   compose  one `compose()` call of the five policies (rate limit → breaker → bulkhead →
 *            timeout → retry) around `async () => 42`
 * Limits are never reached and the timeout (1 s) never fires: every call is admitted and ends
 * in time (checked: a refused or failed call stops the run).
 *
 * Wrapper mode runs valgrind twice per subject and prints instructions per call:
 *
 *   node bench/suites/instructions.mjs --measure [guard] [compose] [--n1=10000] [--n2=110000]
 *     [--repeat=1] [--json]
 *
 * The wrapper runs node with --predictable (see NODE_FLAGS); run by hand, pass it too
 * (`valgrind … node --predictable bench/suites/instructions.mjs guard 110000`): without it the
 * count depends on how V8's background threads were scheduled and barely repeats.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SUBJECTS = { guard: 'guard/breakwater', compose: 'composition/breakwater' };
const WARMUP = 5_000; // calls before the counted ones, in every run (n = 0 included)
// V8's predictable mode: no background compiler or GC threads (their work is done, and
// counted, on the main thread), fixed seeds, no timer-driven memory reducer. Without it two
// identical runs differ by up to a factor of two per call; with it, by well under 1%.
const NODE_FLAGS = ['--predictable'];
const self = fileURLToPath(import.meta.url);

/** The instruction total of one callgrind output file (its `summary:` or `totals:` line). */
function instructions(file) {
  const text = readFileSync(file, 'utf8');
  const m = text.match(/^summary:\s+(\d+)/m) ?? text.match(/^totals:\s+(\d+)/m);
  if (!m) throw new Error(`${file}: no summary line`);
  return Number(m[1]);
}

function countRun(subject, n) {
  const out = join(tmpdir(), `bw-instr-${process.pid}-${subject}-${n}.cg`);
  const args = ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath];
  const r = spawnSync('valgrind', [...args, ...NODE_FLAGS, self, subject, String(n)], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`valgrind ${subject} ${n}: exit ${r.status}\n${r.stderr}`);
  const total = instructions(out);
  rmSync(out, { force: true });
  return total;
}

async function measure(argv) {
  const opts = new Map(
    argv.filter((a) => a.startsWith('--')).map((a) => [a.slice(2).split('=')[0], a.split('=')[1] ?? 'true']),
  );
  const picked = argv.filter((a) => !a.startsWith('--'));
  const names = picked.length > 0 ? picked : Object.keys(SUBJECTS);
  const n1 = Number(opts.get('n1') ?? 10_000);
  const n2 = Number(opts.get('n2') ?? 110_000);
  const repeat = Number(opts.get('repeat') ?? 1);
  if (!(n2 > n1)) throw new Error('--n2 must exceed --n1');
  const rows = [];
  for (let r = 0; r < repeat; r++) {
    for (const s of names) {
      if (!SUBJECTS[s]) throw new Error(`unknown subject ${s} (${Object.keys(SUBJECTS).join(', ')})`);
      const i1 = countRun(s, n1);
      const i2 = countRun(s, n2);
      const row = { subject: s, n1, n2, i1, i2, perCall: (i2 - i1) / (n2 - n1) };
      rows.push(row);
      process.stderr.write(`${s}: I(${n1}) = ${i1}, I(${n2}) = ${i2}\n`);
      process.stdout.write(`${s}: ${row.perCall.toFixed(1)} instructions per call\n`);
    }
  }
  if (opts.has('json')) process.stdout.write(`${JSON.stringify(rows)}\n`);
}

async function run(subject, n) {
  const name = SUBJECTS[subject];
  if (!name) throw new Error(`unknown subject ${subject} (${Object.keys(SUBJECTS).join(', ')})`);
  if (!Number.isInteger(n) || n < 0) throw new Error(`n must be a whole number ≥ 0, not ${n}`);
  if (!process.execArgv.includes('--predictable'))
    process.stderr.write('instructions: node without --predictable; counts will not repeat well\n');
  // The micro suite's own builders: guard/breakwater drives the guard with BenchCall
  // (./micro-guard.mjs), composition/breakwater is compose() of the five policies.
  const { subjects } = await import('./micro-subjects.mjs');
  const op = subjects[name]();
  let bad = 0;
  const loop = async (count) => {
    for (let i = 0; i < count; i++) {
      // BenchCall settles with the refusal when the guard refuses; compose resolves 42.
      const v = await op();
      if (subject === 'guard' ? v !== undefined : v !== 42) bad++;
    }
  };
  await loop(WARMUP);
  await loop(n);
  if (bad > 0) {
    process.stderr.write(`${subject}: ${bad} calls were refused or failed\n`);
    process.exit(1);
  }
  process.exit(0);
}

const argv = process.argv.slice(2);
if (argv[0] === '--measure') await measure(argv.slice(1));
else await run(argv[0], Number(argv[1] ?? 0));
