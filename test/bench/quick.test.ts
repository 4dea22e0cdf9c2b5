/**
 * The benchmark harness works: `node bench/run.mjs --quick` (what CI runs) exits 0 and
 * writes a results file with every suite in it. It checks the harness, not the numbers.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SUITES = [
  'http-express',
  'http-koa',
  'http-fastify',
  'http-hono',
  'core-micro',
  'redis-store',
  'http-pool',
  'memory',
];
const HTTP = ['http-express', 'http-koa', 'http-fastify', 'http-hono'];

interface Suite {
  status: string;
  reason?: string;
  variants?: Record<string, { median: number }>;
  comparisons?: Array<{ name: string; ratio: { median: number } }>;
  table?: { rows: unknown[][] };
}

test('bench/run.mjs --quick runs every suite and writes results/quick.json', async () => {
  const started = Date.now();
  const code = await new Promise<number>((resolve) => {
    const child = execFile(
      process.execPath,
      ['bench/run.mjs', '--quick'],
      { cwd: root, timeout: 100_000 },
      (err) => resolve(err ? ((err as { code?: number }).code ?? 1) : 0),
    );
    child.stdout?.resume();
  });
  expect(code).toBe(0);
  const result = JSON.parse(readFileSync(`${root}bench/results/quick.json`, 'utf8')) as {
    meta: { date: string; quick: boolean };
    suites: Record<string, Suite>;
  };
  expect(result.meta.quick).toBe(true);
  expect(Date.parse(result.meta.date)).toBeGreaterThanOrEqual(started - 1000);
  expect(Object.keys(result.suites).sort()).toEqual([...SUITES].sort());
  // Our own suites produce numbers; the standalone scripts may be absent or skip (no Redis).
  for (const name of [...HTTP, 'core-micro', 'memory']) {
    const s = result.suites[name]!;
    expect(s.status, `${name}: ${s.reason}`).toBe('ok');
  }
  for (const name of [...HTTP, 'core-micro']) {
    const s = result.suites[name]!;
    for (const [variant, v] of Object.entries(s.variants!))
      expect(v.median, `${name} ${variant}`).toBeGreaterThan(0);
    for (const c of s.comparisons!) expect(Number.isFinite(c.ratio.median), `${name} ${c.name}`).toBe(true);
  }
  expect(result.suites.memory!.table!.rows.length).toBeGreaterThan(0);
  const md = readFileSync(`${root}bench/results/quick.md`, 'utf8');
  for (const name of ['Express', 'Koa', 'Fastify', 'Hono']) expect(md).toContain(`HTTP overhead: ${name}`);
}, 110_000);

test('bench/inproc.mjs drives each framework under Breakwater in memory (what instructions/http.mjs counts)', async () => {
  const run = (framework: string) =>
    new Promise<number>((resolve) => {
      execFile(
        process.execPath,
        ['bench/inproc.mjs', framework, 'breakwater', '--requests=500'],
        { cwd: root, timeout: 60_000 },
        (err) => resolve(err ? ((err as { code?: number }).code ?? 1) : 0),
      );
    });
  // A request answered anything but 200 makes the harness exit non-zero.
  const codes = await Promise.all(['express', 'koa', 'fastify', 'hono'].map(run));
  expect(codes).toEqual([0, 0, 0, 0]);
}, 90_000);
