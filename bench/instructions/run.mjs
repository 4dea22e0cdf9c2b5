/**
 * Instructions per call of one micro subject, counted by valgrind's callgrind: wall-clock
 * ratios move ±9% on a shared machine, instruction counts do not. Runs the subject twice
 * under callgrind, with `small` and `large` calls, and reports
 * (I(large) − I(small)) / (large − small), so start-up and JIT warm-up cancel out.
 *
 *   node bench/instructions/run.mjs [subject…] [--small=20000] [--large=120000]
 *
 * Subjects are the micro suite's (`guard/breakwater`, `composition/breakwater`, …).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, d) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? d);
const names = args.filter((a) => !a.startsWith('--'));
const subjects = names.length > 0 ? names : ['guard/breakwater', 'composition/breakwater'];
const small = opt('small', 20_000);
const large = opt('large', 120_000);
const loop = fileURLToPath(new URL('./loop.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bw-callgrind-'));

function instructions(subject, n) {
  const out = join(dir, `cg.${n}`);
  execFileSync(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${out}`,
      process.execPath,
      // One thread, a GC schedule that does not depend on timing: the same count run after run.
      '--predictable',
      loop,
      subject,
      String(n),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // The summary line holds the total instruction count.
  const total = /^summary:\s+(\d+)/m.exec(readFileSync(out, 'utf8'));
  if (!total) throw new Error(`no callgrind summary for ${subject}`);
  return Number(total[1]);
}

try {
  for (const s of subjects) {
    const a = instructions(s, small);
    const b = instructions(s, large);
    console.log(`${s}: ${Math.round((b - a) / (large - small))} instructions per call`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
