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
  ['@breakwater/core', ['CircuitBreaker', 'Bulkhead', 'RateLimiter', 'Timeout', 'MemoryStore', 'RateLimitedError', 'parseDuration', 'compose']],
  ['@breakwater/core/adapter', ['createBreakwater', 'GuardCall', 'RouteGuard', 'BreakwaterCore']],
  ['@breakwater/core/extend', ['Emitter', 'DeadlineList', 'validate', 'REJECTED']],
  ['@breakwater/express', ['breakwater', 'CircuitBreaker']],
  ['@breakwater/koa', ['breakwater', 'CircuitBreaker']],
  ['@breakwater/http-pool', []],
  ['@breakwater/redis-pool', []],
];

function run(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 20_000 });
}

describe.each(packages)('%s', (name, names) => {
  const [, pkg, entry = 'index'] = name.split('/');
  const dir = `${root}/packages/${pkg}/dist`;
  test('is built', () => {
    expect(existsSync(`${dir}/${entry}.js`), `${dir}/${entry}.js missing: run pnpm build`).toBe(true);
    expect(existsSync(`${dir}/${entry}.cjs`)).toBe(true);
    expect(existsSync(`${dir}/${entry}.d.ts`)).toBe(true);
    expect(existsSync(`${dir}/${entry}.d.cts`)).toBe(true);
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

test.each(['import', 'require'])('the tiers share one copy of each class (%s)', (how) => {
  const load =
    how === 'import'
      ? `const core = await import('@breakwater/core'); const adapter = await import('@breakwater/core/adapter');`
      : `const core = require('@breakwater/core'); const adapter = require('@breakwater/core/adapter');`;
  const out = run([
    ...(how === 'import' ? ['--input-type=module'] : []),
    '-e',
    `${load}
     const bw = new adapter.BreakwaterCore({ metrics: false, breakers: { db: {} } });
     console.log(bw.breakers.get('db') instanceof core.CircuitBreaker);`,
  ]);
  expect(out.trim()).toBe('true');
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
