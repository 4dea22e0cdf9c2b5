/**
 * prom-client is an optional peer: the packed packages, installed where prom-client is
 * not, load with `import` and `require`, and an Express app on them answers its requests
 * with metrics off (run `pnpm build` first; `npm test` does).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { install, PACKAGES, pack, removeScratch, scratch } from './packed.js';

let dir: string | undefined;

beforeAll(() => {
  dir = scratch('breakwater-no-prom-');
  const tarballs = pack(PACKAGES, dir);
  install(dir, tarballs, { extra: ['express'], without: ['prom-client'] });
}, 120_000);

afterAll(() => removeScratch(dir));

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 20_000 });
}

test('prom-client cannot be found from the installed core', () => {
  const out = node([
    '-e',
    `try { require.resolve('prom-client', { paths: [require.resolve('@breakwater/core')] }); console.log('found'); }
     catch (e) { console.log(e.code); }`,
  ]);
  expect(out.trim()).toBe('MODULE_NOT_FOUND');
});

describe.each(['import', 'require'])('every package loads without prom-client (%s)', (how) => {
  test.each([
    '@breakwater/core',
    '@breakwater/core/adapter',
    '@breakwater/core/extend',
    '@breakwater/express',
    '@breakwater/koa',
    '@breakwater/http-pool',
    '@breakwater/redis-pool',
  ])('%s', (name) => {
    const load = how === 'import' ? `await import(${JSON.stringify(name)})` : `require(${JSON.stringify(name)})`;
    const args = how === 'import' ? ['--input-type=module', '-e'] : ['-e'];
    const code = `const m = ${load}; console.log(Object.keys(m).length > 0);`;
    expect(node([...args, how === 'import' ? code : `(async () => { ${code} })()`]).trim()).toBe('true');
  });
});

describe.each(['import', 'require'])('options that need prom-client fail at construction (%s)', (how) => {
  test.each([
    ['registry', '{ registry: {} }'],
    ['metrics', '{ metrics: true }'],
  ])('%s', (option, options) => {
    const load =
      how === 'import' ? `const m = await import('@breakwater/express');` : `const m = require('@breakwater/express');`;
    const code = `${load}
      try { m.breakwater(${options}); console.log('constructed'); }
      catch (e) { console.log(JSON.stringify({ config: m.isConfigError(e), path: e.path, message: e.message })); }`;
    const out = node(how === 'import' ? ['--input-type=module', '-e', code] : ['-e', `(async () => { ${code} })()`]);
    const e = JSON.parse(out) as { config: boolean; path: string; message: string };
    expect(e.config).toBe(true);
    expect(e.path).toBe(`breakwater.${option}`);
    expect(e.message).toContain('npm install prom-client');
  });
});

let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill();
    await exited;
  }
  child = undefined;
});

const APP = {
  mjs: `import express from 'express';
import { breakwater } from '@breakwater/express';
`,
  cjs: `const express = require('express');
const { breakwater } = require('@breakwater/express');
`,
};

describe.each(['mjs', 'cjs'] as const)('an Express app without prom-client (.%s)', (ext) => {
  test('answers its routes; metrics are off and say so', async () => {
    const file = join(dir!, `app.${ext}`);
    writeFileSync(
      file,
      `${APP[ext]}
const bw = breakwater();
const app = express();
app.use(bw.middleware());
app.get('/metrics', bw.metrics());
app.get('/health/ready', bw.health('ready'));
app.get('/api/orders/:id', bw.route({ timeout: '2s', rateLimit: { limit: 2, window: '1m' } }), (req, res) => {
  res.json({ id: req.params.id, aborted: req.breakwater.signal.aborted });
});
const server = app.listen(0, '127.0.0.1', () => {
  console.log('listening on ' + server.address().port + ' metrics ' + (bw.core.metrics === undefined ? 'off' : 'on'));
});
`,
    );
    child = spawn(process.execPath, [file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const line = await new Promise<string>((resolve, reject) => {
      child!.stdout!.on('data', (d) => {
        const m = /listening on \d+ metrics \w+/.exec(String(d));
        if (m) resolve(m[0]);
      });
      child!.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const [, port, metrics] = /listening on (\d+) metrics (\w+)/.exec(line)!;
    expect(metrics).toBe('off');
    const base = `http://127.0.0.1:${port}`;

    const order = await fetch(`${base}/api/orders/7`);
    expect(order.status).toBe(200);
    expect(await order.json()).toEqual({ id: '7', aborted: false });
    expect(order.headers.get('ratelimit-policy')).toBe('"per-minute";q=2;w=60');
    await (await fetch(`${base}/api/orders/8`)).arrayBuffer();
    // The policies work without metrics: the third request in the window is refused.
    const refused = await fetch(`${base}/api/orders/9`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    await refused.arrayBuffer();

    const m = await fetch(`${base}/metrics`);
    expect(m.status).toBe(501);
    expect(m.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await m.json()) as { status: number; code: string; detail: string };
    expect(problem).toMatchObject({ status: 501, code: 'METRICS_UNAVAILABLE' });
    expect(problem.detail).toContain('prom-client');

    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    expect(stderr).toBe('');
  });
});
