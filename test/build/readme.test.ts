/**
 * The README's quick starts run as written: each is extracted, started as its own
 * process against the built packages, and asked for its routes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(`${root}/README.md`, 'utf8');

function block(heading: string): string {
  const at = readme.indexOf(`## ${heading}`);
  expect(at, `README section ${heading}`).toBeGreaterThan(-1);
  const start = readme.indexOf('```js\n', at) + 6;
  return readme.slice(start, readme.indexOf('```', start));
}

let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill();
    await exited;
  }
  child = undefined;
});

describe.each(['Quick start: Express', 'Quick start: Koa'])('%s', (heading) => {
  test('runs as written', async () => {
    mkdirSync(`${root}/build`, { recursive: true });
    const file = `${root}/build/readme-${heading.endsWith('Koa') ? 'koa' : 'express'}.mjs`;
    writeFileSync(file, block(heading));
    child = spawn(process.execPath, [file], { cwd: root, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const port = await new Promise<number>((resolve, reject) => {
      child!.stdout!.on('data', (d) => {
        const m = /listening on (\d+)/.exec(String(d));
        if (m) resolve(Number(m[1]));
      });
      child!.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const order = await fetch(`${base}/api/orders/7`);
    expect(order.status).toBe(200);
    expect(order.headers.get('ratelimit-policy')).toBe('"per-minute";q=100;w=60');
    const body = (await order.json()) as { id: string; msLeft: number; aborted: boolean };
    expect(body.id).toBe('7');
    expect(body.msLeft).toBeGreaterThan(1000);
    expect(body.aborted).toBe(false);
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/breakwater_http_request_duration_seconds_count\{[^}]*route="\/api\/orders\/:id"/);
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
  });
});

describe('The policies on their own', () => {
  test('the compose() example runs as written and retries a 503', async () => {
    let calls = 0;
    const upstream = http.createServer((req, res) => {
      calls++;
      res.statusCode = calls === 1 ? 503 : 201;
      res.end(req.method);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    try {
      mkdirSync(`${root}/build`, { recursive: true });
      const file = `${root}/build/readme-compose.mjs`;
      writeFileSync(file, block('The policies on their own'));
      const { port } = upstream.address() as AddressInfo;
      child = spawn(process.execPath, [file], {
        cwd: root,
        env: { ...process.env, PAYMENTS_URL: `http://127.0.0.1:${port}/charge` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      const code = await new Promise((r) => child!.once('exit', r));
      expect(code, out).toBe(0);
      expect(out.trim()).toBe('201');
      expect(calls).toBe(2);
    } finally {
      upstream.closeAllConnections();
      await new Promise((r) => upstream.close(r));
    }
  });
});

describe.each(['fastify', 'hono'])('packages/%s/README.md', (pkg) => {
  test('the example runs as written', async () => {
    const md = readFileSync(`${root}/packages/${pkg}/README.md`, 'utf8');
    const at = md.indexOf('## Example');
    expect(at, `${pkg} README example`).toBeGreaterThan(-1);
    const start = md.indexOf('```js\n', at) + 6;
    mkdirSync(`${root}/build`, { recursive: true });
    const file = `${root}/build/readme-${pkg}.mjs`;
    writeFileSync(file, md.slice(start, md.indexOf('```', start)));
    child = spawn(process.execPath, [file], {
      cwd: root,
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const port = await new Promise<number>((resolve, reject) => {
      child!.stdout!.on('data', (d) => {
        const m = /listening on (\d+)/.exec(String(d));
        if (m) resolve(Number(m[1]));
      });
      child!.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const order = await fetch(`${base}/api/orders/7`);
    expect(order.status).toBe(200);
    expect(order.headers.get('ratelimit-policy')).toBe('"per-minute";q=100;w=60');
    const body = (await order.json()) as { id: string; msLeft: number; aborted: boolean };
    expect(body).toMatchObject({ id: '7', aborted: false });
    expect(body.msLeft).toBeGreaterThan(1000);
    expect(body.msLeft).toBeLessThanOrEqual(2000);
    const prices = await fetch(`${base}/api/prices`);
    expect([prices.status, await prices.json()]).toEqual([200, { eur: 1.08 }]);
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/breakwater_http_request_duration_seconds_count\{[^}]*route="\/api\/orders\/:id"/);
    expect(text).toMatch(/breakwater_http_request_duration_seconds_count\{[^}]*route="\/api\/prices"/);
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    expect(stderr).toBe('');
  });
});
