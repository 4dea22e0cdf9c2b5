/**
 * Hosts one micro subject in its own process (`node micro-worker.mjs <group/subject>`), so
 * subjects never share JIT feedback or heap. Answers `sample(n)` with ns/op and `alloc(n)`
 * with bytes allocated per op.
 */
import { GCProfiler } from 'node:v8';
import { serve } from '../lib/worker.mjs';
import { subjects } from './micro-subjects.mjs';

const name = process.argv[2];
const op = subjects[name]();

async function loop(n) {
  for (let i = 0; i < n; i++) await op();
}

serve({
  /** Warms the JIT up; answers ns/op so the runner can size the samples of slow subjects. */
  async warmup(n) {
    const t0 = process.hrtime.bigint();
    await loop(n);
    return Number(process.hrtime.bigint() - t0) / n;
  },
  async sample(n) {
    const t0 = process.hrtime.bigint();
    await loop(n);
    return Number(process.hrtime.bigint() - t0) / n;
  },
  async alloc(n) {
    // Allocated = heap growth + everything the collections freed meanwhile.
    const p = new GCProfiler();
    const before = process.memoryUsage().heapUsed;
    p.start();
    await loop(n);
    const after = process.memoryUsage().heapUsed;
    const { statistics } = p.stop();
    let freed = 0;
    for (const s of statistics)
      freed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize;
    return (after - before + freed) / n;
  },
});
