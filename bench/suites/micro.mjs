/**
 * Suite 2, core micro: ns/op and bytes allocated per op of each policy's `execute` around a
 * trivial async function, against cockatiel's and opossum's equivalents (rate-limiter-flexible
 * for the limiter, which cockatiel lacks) and a direct call. Every subject runs in its own
 * worker process; rounds alternate between the subjects of a group.
 */
import { fileURLToPath } from 'node:url';
import { startWorker } from '../lib/proc.mjs';
import { ratio, summary } from '../lib/stats.mjs';
import { groups } from './micro-subjects.mjs';

const worker = fileURLToPath(new URL('./micro-worker.mjs', import.meta.url));
const MAX_SAMPLE_NS = 2e9; // 2 s

export async function runMicro({ quick, rounds, log }) {
  const ops = quick ? 10_000 : 1_000_000;
  const allocOps = quick ? 2_000 : 100_000;
  const variants = {};
  const comparisons = [];
  const times = {};
  for (const g of groups) {
    const names = g.subjects.map((s) => `${g.name}/${s}`);
    const workers = names.map((n) => startWorker(worker, [n]));
    try {
      // A sample is `ops` calls, or fewer for a subject so slow that it would run past ~2 s.
      const sizes = [];
      for (const w of workers) {
        const ns = await w.call('warmup', ops / 5);
        sizes.push(Math.max(Math.min(ops, 10_000), Math.min(ops, Math.floor(MAX_SAMPLE_NS / ns))));
      }
      for (const n of names) times[n] = [];
      const bytes = {};
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < names.length; i++)
          times[names[i]].push(await workers[i].call('sample', sizes[i]));
      }
      for (let i = 0; i < names.length; i++) bytes[names[i]] = await workers[i].call('alloc', allocOps);
      for (const n of names) {
        variants[n] = { ...summary(times[n]), bytesPerOp: Math.round(bytes[n]) };
        log(`  ${n}: ${variants[n].median.toFixed(1)} ns/op, ${variants[n].bytesPerOp} B/op`);
      }
    } finally {
      for (const w of workers) await w.stop();
    }
    const ours = `${g.name}/breakwater`;
    for (const peer of g.subjects.filter((s) => s !== 'breakwater' && s !== 'direct')) {
      // Lower is better: ours / peer ≤ 1 beats cockatiel (and rate-limiter-flexible); ≤ 1/3 for opossum.
      const max = peer === 'opossum' ? 1 / 3 : 1;
      const r = ratio(times[ours], times[`${g.name}/${peer}`]);
      comparisons.push({
        name: `${g.name}: breakwater / ${peer}`,
        ratio: r,
        goal: { max: Number(max.toFixed(3)) },
        met: r.median <= max,
      });
    }
  }
  return {
    title: 'Core micro: policies in a tight loop',
    description: `\`await policy.execute(work)\` with \`work = async () => 42\`, ${ops.toLocaleString('en')} calls a sample (fewer for a subject that would take over 2 s); bytes per op from V8's GC profiler over ${allocOps.toLocaleString('en')} calls. \`decision\` is the limiter's decision alone; \`guard\` is the request guard with four policies as the adapters drive it; \`direct\` is \`await work()\`.`,
    status: 'ok',
    unit: 'ns/op',
    higherIsBetter: false,
    rounds,
    variants,
    columns: [{ key: 'bytesPerOp', title: 'bytes/op' }],
    comparisons,
  };
}
