/**
 * No leaked sockets or timers: a child process makes a pool (with health checks and
 * retries), calls an upstream, closes the pool, and must then exit on its own.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { type Upstream, upstream } from './upstream.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bw-http-pool-'));
let up: Upstream | undefined;
afterAll(async () => {
  await up?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const script = `
import { HttpPool } from '@breakwater/http-pool';
const pool = new HttpPool({
  name: 'api',
  baseUrl: process.env.UPSTREAM,
  connections: 4,
  healthCheck: { path: '/health', interval: 20, timeout: 200 },
  retry: { attempts: 3, baseDelay: 5 },
});
const results = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.get('/item/' + i)));
await new Promise((r) => setTimeout(r, 60)); // let a few health checks run
await pool.close();
console.log(JSON.stringify({ statuses: [...new Set(results.map((r) => r.status))], stats: pool.stats() }));
`;

test('a process that closes its pool exits by itself', async () => {
  let n = 0;
  up = await upstream((_req, res) => {
    // Every third call fails once, so retries (and their timers) take part.
    res.statusCode = ++n % 3 === 0 ? 503 : 200;
    res.end('x');
  });
  const src = join(dir, 'child.mjs');
  const out = join(dir, 'child.bundle.mjs');
  writeFileSync(src, script);
  // Bundle against the TypeScript sources, as the tests use them (esbuild comes with tsup).
  const esbuildPath = createRequire(join(root, 'node_modules/tsup/package.json')).resolve('esbuild');
  const esbuild = (await import(pathToFileURL(esbuildPath).href)) as {
    build(o: Record<string, unknown>): Promise<unknown>;
  };
  await esbuild.build({
    entryPoints: [src],
    bundle: true,
    platform: 'node',
    format: 'esm',
    logLevel: 'error',
    outfile: out,
    // The packages' `source` export: their TypeScript, every entry point of each.
    conditions: ['source'],
    // The child's file is outside the repository: resolve packages from its node_modules.
    nodePaths: [join(root, 'node_modules')],
    alias: { undici: join(root, 'packages/http-pool/node_modules/undici') },
    external: ['prom-client'],
    // undici is CommonJS: give the ESM bundle a `require` for its node: built-ins.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  const child = spawn(process.execPath, [out], { env: { ...process.env, UPSTREAM: up.url } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('did not exit within 5 s');
    }, 5_000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c ?? -1);
    });
  });
  expect(stderr).toBe('');
  expect(code).toBe(0);
  const report = JSON.parse(stdout);
  expect(report.statuses).toContain(200);
  expect(report.stats).toMatchObject({ active: 0, idle: 0, pending: 0, inFlight: 0 });
  expect(up.count('/health')).toBeGreaterThan(0);
});
