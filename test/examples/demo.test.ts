/**
 * The commands a user runs: `pnpm demo` (here at test scale, the chaos scenario, on Express
 * and on Fastify) starts the upstream and the service as child processes, prints the report tables, writes the
 * HTML report and stops every process it started; the load command line exits non-zero
 * when a scenario misses a threshold.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { ADMIN_TOKEN, startStack } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bw-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function node(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: join(root, 'examples'),
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the demo and load commands', () => {
  // Express by default; Fastify as chosen with --framework.
  test.each([
    { framework: 'express', title: 'Express', flags: [] },
    { framework: 'fastify', title: 'Fastify', flags: ['--framework', 'fastify'] },
  ])(
    'pnpm demo on $framework: report tables, the HTML report, and every process stopped',
    async ({ framework, title, flags }) => {
      const built = ['core', framework, 'http-pool', 'redis-pool'].every((p) =>
        existsSync(join(root, `packages/${p}/dist/index.js`)),
      );
      expect(built, 'the demo runs the built packages: run pnpm build (npm test does)').toBe(true);
      const out = join(dir, `demo-${framework}.html`);
      const r = await node([
        'demo/run.mjs',
        ...flags,
        '--scale',
        'test',
        '--scenarios',
        'chaos',
        '--out',
        out,
        '--quiet',
      ]);
      expect([0, 1], r.err).toContain(r.code);
      expect(r.out).toContain(`Breakwater demo: the ${title} service under one load scenario`);
      expect(r.out).toContain('Summary');
      expect(r.out).toMatch(
        /scenario\s+result\s+requests\s+req\/s\s+p50\s+p95\s+p99\s+errors\s+fallbacks\s+rate_limited\s+circuit_open\s+bulkhead_full\s+timeout/,
      );
      // The chaos scenario's external-data degraded: fallbacks served beside the refusals.
      expect(r.out).toMatch(/fallbacks served \(degraded answers[^)]*\): [1-9][\d,]* \(/);
      expect(r.out).toMatch(
        /external-data degrades: stale copies served while the upstream is down\s+[1-9]\d* fallbacks/,
      );
      expect(r.out).toMatch(/breaker transition\s+at \(UTC\)\s+breaker\s+from → to/);
      expect(r.out).toMatch(/\+\d+\.\d\d s\s+\d\d:\d\d:\d\d\.\d{3}\s+upstream\s+closed → open/);
      expect(r.out).toMatch(/pool health change\s+at \(UTC\)/);
      expect(r.out).toContain(`HTML report (charts): ${out}`);
      if (r.code === 1) expect(r.out).toContain('✗');
      const html = readFileSync(out, 'utf8');
      expect(html).toContain('<svg class="chart" data-chart="breakers"');
      expect(html).toContain(`${framework} service`);
      const pids = [...r.out.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
      expect(pids).toHaveLength(2);
      for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
    },
    60_000,
  );

  test('load command line: exits 1 and marks the missed threshold', async () => {
    const stack = await startStack('express');
    try {
      stack.upstream.set({ outage: 'error' });
      const r = await node([
        'load/cli.mjs',
        'basic',
        '--target',
        stack.service.url,
        '--upstream',
        stack.upstream.url,
        '--token',
        ADMIN_TOKEN,
        '--scale',
        'test',
        '--duration',
        '1.5',
      ]);
      expect(r.code, r.err).toBe(1);
      expect(r.out).toMatch(/error rate ≤ 1%\s+\d+\.\d\d%\s+≤ 1%\s+✗/);
      expect(r.out).toContain('FAIL');
    } finally {
      await stack.close();
    }
  }, 30_000);

  test('pnpm demo: an unknown framework, or --koa against --framework, is a usage error', async () => {
    const unknown = await node(['demo/run.mjs', '--framework', 'restify']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('--framework: expected express, koa, fastify, hono, got "restify"');
    const both = await node(['demo/run.mjs', '--koa', '--framework', 'hono']);
    expect(both.code).toBe(2);
    expect(both.err).toContain('--koa is --framework koa; it contradicts --framework hono');
  });

  test('load command line: unknown scenario is a usage error', async () => {
    const r = await node(['load/cli.mjs', 'stampede', '--target', 'http://127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown scenario "stampede"');
  });
});
