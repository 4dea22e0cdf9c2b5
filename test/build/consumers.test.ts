/**
 * TypeScript projects written against the packed packages type-check: a node16 project
 * holding both an `.mts` and a `.cts` file (so both the ESM and the CommonJS declarations
 * of every package are in one program, and `req.breakwater` must be declared once), and a
 * bundler-resolution project. Run `pnpm build` first; `npm test` does.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { install, type PackageDir, pack, removeScratch, root, scratch } from './packed.js';

const PACKED: PackageDir[] = ['core', 'express', 'http-pool'];
const TYPES = ['express', '@types/express', '@types/node'];

let dir: string | undefined;
let tarballs: Map<PackageDir, string>;

beforeAll(() => {
  dir = scratch('breakwater-consumers-');
  tarballs = pack(PACKED, dir);
}, 120_000);

afterAll(() => removeScratch(dir));

/** The handler every project writes: `req.breakwater` typed, and handed to a pool. */
function app(load: string): string {
  return `${load}
const bw = breakwater();
const app = express();
const pool = new HttpPool({ name: 'api', baseUrl: 'http://127.0.0.1:1' });
app.use(bw.middleware());
app.get('/orders/:id', bw.route({ timeout: '2s' }), async (req, res) => {
  const left: number | undefined = req.breakwater?.remainingMs();
  const signal: AbortSignal | undefined = req.breakwater?.signal;
  // @ts-expect-error: the context is typed, not any.
  req.breakwater?.noSuchMember;
  const upstream = await pool.request({ path: '/x', context: req.breakwater, signal });
  res.json({ left, status: upstream.status });
});
`;
}

const ESM = app(`import express from 'express';
import { breakwater } from '@breakwater/express';
import { HttpPool } from '@breakwater/http-pool';`);

const CJS = app(`import express = require('express');
import bwe = require('@breakwater/express');
import hp = require('@breakwater/http-pool');
const { breakwater } = bwe;
const { HttpPool } = hp;`);

function project(name: string, files: Record<string, string>, compilerOptions: object, without: string[] = []) {
  const d = join(dir!, name);
  install(d, tarballs, { extra: TYPES, without });
  writeFileSync(join(d, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  for (const [file, text] of Object.entries(files)) writeFileSync(join(d, file), text);
  const options = { target: 'ES2022', lib: ['ES2023'], strict: true, noEmit: true, types: ['node'], ...compilerOptions };
  writeFileSync(join(d, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, files: Object.keys(files) }));
  return d;
}

function tsc(d: string): string {
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', d], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    return '';
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e);
  }
}

test('node16: an .mts and a .cts file in one program', () => {
  const d = project(
    'node16-mixed',
    { 'esm.mts': ESM, 'cjs.cts': CJS },
    { module: 'node16', moduleResolution: 'node16', skipLibCheck: false },
  );
  expect(tsc(d)).toBe('');
}, 60_000);

test('bundler resolution', () => {
  const d = project(
    'bundler',
    { 'app.ts': ESM },
    { module: 'esnext', moduleResolution: 'bundler', skipLibCheck: false },
  );
  expect(tsc(d)).toBe('');
}, 60_000);

test('node16 without prom-client installed (skipLibCheck, as most projects set it)', () => {
  const d = project(
    'node16-no-prom-client',
    { 'esm.mts': ESM, 'cjs.cts': CJS },
    { module: 'node16', moduleResolution: 'node16', skipLibCheck: true },
    ['prom-client'],
  );
  expect(tsc(d)).toBe('');
}, 60_000);
