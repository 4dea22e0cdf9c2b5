/**
 * The published shape: every package loads with `import` and with `require` from its
 * built dist/ (run `pnpm build` first; `npm test` does), with its public names present.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

const packages: Array<[string, string[]]> = [
  ['@breakwater/core', ['CircuitBreaker', 'Bulkhead', 'RateLimiter', 'Timeout', 'MemoryStore', 'RateLimitedError', 'parseDuration', 'BreakwaterCore']],
  ['@breakwater/express', ['breakwater', 'CircuitBreaker']],
  ['@breakwater/koa', ['breakwater', 'CircuitBreaker']],
  ['@breakwater/http-pool', []],
  ['@breakwater/redis-pool', []],
];

function run(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 20_000 });
}

describe.each(packages)('%s', (name, names) => {
  const dir = `${root}/packages/${name.split('/')[1]}/dist`;
  test('is built', () => {
    expect(existsSync(`${dir}/index.js`), `${dir}/index.js missing: run pnpm build`).toBe(true);
    expect(existsSync(`${dir}/index.cjs`)).toBe(true);
    expect(existsSync(`${dir}/index.d.ts`)).toBe(true);
    expect(existsSync(`${dir}/index.d.cts`)).toBe(true);
  });

  test('import works', () => {
    const out = run(['--input-type=module', '-e', `const m = await import(${JSON.stringify(name)}); console.log(JSON.stringify(Object.keys(m)));`]);
    const keys = JSON.parse(out) as string[];
    for (const n of names) expect(keys).toContain(n);
  });

  test('require works', () => {
    const out = run(['-e', `const m = require(${JSON.stringify(name)}); console.log(JSON.stringify(Object.keys(m)));`]);
    const keys = JSON.parse(out) as string[];
    for (const n of names) expect(keys).toContain(n);
  });
});

test('an error thrown by one copy is recognised by the brand check of another', () => {
  const out = run([
    '--input-type=module',
    '-e',
    `import { createRequire } from 'node:module';
     const esm = await import('@breakwater/core');
     const cjs = createRequire(process.cwd() + '/')('@breakwater/core');
     const e = new cjs.CircuitOpenError('b', 1000);
     console.log(esm.isCircuitOpenError(e), esm.isBreakwaterError(e), e instanceof esm.CircuitOpenError);`,
  ]);
  expect(out.trim()).toBe('true true false');
});
