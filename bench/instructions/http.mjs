/**
 * Instructions per HTTP request of a framework's app, counted by valgrind's callgrind on
 * the in-process harness (`bench/inproc.mjs`: real IncomingMessage/ServerResponse pairs on
 * an in-memory socket, no load generator, no kernel). Each variant runs twice, with
 * `small` and `large` requests; (I(large) − I(small)) / (large − small) cancels start-up
 * and warm-up, so the count is the same run after run.
 *
 *   node bench/instructions/http.mjs fastify bare breakwater [--small=5000] [--large=25000]
 *
 * Variants are the bench servers' (`bare`, `breakwater`, `breakwater:limit,metrics`, …).
 */
import { fileURLToPath } from 'node:url';
import { countInstructions, perUnit } from './callgrind.mjs';

const args = process.argv.slice(2);
const opt = (name, d) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? d);
const [framework, ...variants] = args.filter((a) => !a.startsWith('--'));
const small = opt('small', 5_000);
const large = opt('large', 25_000);
const harness = fileURLToPath(new URL('../inproc.mjs', import.meta.url));
let base;
for (const v of variants) {
  const per = perUnit((n) => countInstructions(harness, [framework, v, `--requests=${n}`]), small, large);
  base ??= per;
  const vs = v === variants[0] ? '' : `  ${(base / per).toFixed(3)}× ${variants[0]}`;
  console.log(`${framework} ${v}: ${per} instructions per request${vs}`);
}
