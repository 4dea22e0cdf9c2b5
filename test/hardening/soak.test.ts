/**
 * The soak run (scripts/soak.mjs) for ~15 s, against the sources: sustained load with every
 * policy refusing some requests; no heap growth beyond its margin after a forced GC, active
 * handles back to their start counts, bulkheads and the pool idle, event-loop p99 reported.
 * CI runs the same script for a minute as a separate step: `node scripts/soak.mjs --duration 60`.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { bundle, repoRoot, runNode, scratchDir } from './support.js';

const dir = scratchDir('soak');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Summary {
  requests: number;
  statuses: Record<string, number>;
  refusalsByReason: Record<string, number>;
  transportErrors: number;
  heapUsedMB: { start: number; end: number; delta: number; margin: number };
  handleCount: { start: number; end: number };
  handles: { start: Record<string, number>; end: Record<string, number> };
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  leak: boolean;
  failures: string[];
}

test('soak for 10 s under load with every policy refusing: no leak, handles back to start, loop p99 reported', async () => {
  const out = join(dir, 'soak.bundle.mjs');
  await bundle(join(repoRoot, 'scripts/soak.mjs'), out);
  const r = await runNode(out, ['--duration', '10', '--warmup', '1', '--json'], {
    nodeArgs: ['--expose-gc'],
    timeoutMs: 40_000,
  });
  expect(r.killed).toBe(false);
  expect(r.stderr).toBe('');
  const s = JSON.parse(r.stdout) as Summary;
  console.log(
    `soak 10 s: ${s.requests} requests ${JSON.stringify(s.statuses)}, refusals ${JSON.stringify(s.refusalsByReason)}, ` +
      `heap ${s.heapUsedMB.start} → ${s.heapUsedMB.end} MB, handles ${s.handleCount.start} → ${s.handleCount.end}, ` +
      `loop p99 ${s.eventLoopDelayMs.p99} ms`,
  );
  expect(s.failures).toEqual([]);
  expect(s.leak).toBe(false);
  expect(r.code).toBe(0);
  expect(s.requests).toBeGreaterThan(1000);
  expect(s.transportErrors).toBe(0);
  for (const reason of ['rate_limited', 'circuit_open', 'bulkhead_full', 'timeout'])
    expect(s.refusalsByReason[reason], reason).toBeGreaterThan(0);
  expect(s.heapUsedMB.delta).toBeLessThan(s.heapUsedMB.margin);
  expect(s.handles.end).toEqual(s.handles.start);
  expect(s.eventLoopDelayMs.p99).toBeGreaterThanOrEqual(0);
  expect(s.eventLoopDelayMs.p99).toBeLessThan(500);
}, 60_000);

test('the soak can fail: with a leak injected it reports the heap growth and the timers left, and exits 1', async () => {
  const out = join(dir, 'soak-leak.bundle.mjs');
  await bundle(join(repoRoot, 'scripts/soak.mjs'), out);
  const r = await runNode(out, ['--duration', '2', '--warmup', '1', '--json', '--inject-leak'], {
    nodeArgs: ['--expose-gc'],
    timeoutMs: 30_000,
  });
  const s = JSON.parse(r.stdout) as Summary;
  expect(r.code).toBe(1);
  expect(s.leak).toBe(true);
  expect(s.failures.join('\n')).toMatch(/heap grew/);
  expect(s.failures.join('\n')).toMatch(/handles left: Timeout \+\d+/);
}, 40_000);
