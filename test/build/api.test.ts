/**
 * The public API is what the checked-in lists say: each entry point's exports, by name and
 * kind, must match packages/<pkg>/api/<entry>.api.txt. A change of the public surface
 * fails here until the lists are regenerated (`node scripts/api-report.mjs`) and so shows
 * in review.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('the API lists match the entry points', () => {
  let out = '';
  try {
    execFileSync(process.execPath, ['scripts/api-report.mjs', '--check'], {
      cwd: root,
      encoding: 'utf8',
      stdio: 'pipe',
      timeout: 60_000,
    });
  } catch (e) {
    out = String((e as { stderr?: string }).stderr ?? e);
  }
  expect(out, out).toBe('');
});
