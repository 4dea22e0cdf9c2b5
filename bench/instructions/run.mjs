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
import { fileURLToPath } from 'node:url';
import { countInstructions, perUnit } from './callgrind.mjs';

const args = process.argv.slice(2);
const opt = (name, d) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? d);
const names = args.filter((a) => !a.startsWith('--'));
const subjects = names.length > 0 ? names : ['guard/breakwater', 'composition/breakwater'];
const small = opt('small', 20_000);
const large = opt('large', 120_000);
const loop = fileURLToPath(new URL('./loop.mjs', import.meta.url));
for (const s of subjects) {
  const per = perUnit((n) => countInstructions(loop, [s, String(n)]), small, large);
  console.log(`${s}: ${per} instructions per call`);
}
