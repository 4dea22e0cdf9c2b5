/**
 * What each package would publish (`pnpm pack` of the built package): a README and the
 * license, no test or scratch file, and source maps that point at shipped sources instead
 * of embedding them. Run `pnpm build` first; `npm test` does.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PACKAGES, pack, removeScratch, root, scratch } from './packed.js';

let dir: string | undefined;
const contents = new Map<string, Map<string, string>>();

beforeAll(() => {
  dir = scratch('breakwater-tarballs-');
  for (const [pkg, tarball] of pack(PACKAGES, dir)) {
    const out = join(dir, pkg);
    execFileSync('mkdir', ['-p', out]);
    execFileSync('tar', ['-xzf', tarball, '-C', out, '--strip-components=1']);
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((f) => f.replace(/^package\//, ''));
    contents.set(pkg, new Map(files.map((f) => [f, join(out, f)])));
  }
}, 120_000);

afterAll(() => removeScratch(dir));

describe.each(PACKAGES)('%s', (pkg) => {
  test('ships a README and the license', () => {
    const files = contents.get(pkg)!;
    expect(files.has('README.md')).toBe(true);
    expect(readFileSync(files.get('README.md')!, 'utf8')).toContain(`# @breakwater/${pkg}`);
    expect(readFileSync(files.get('LICENSE')!, 'utf8')).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));
  });

  test('ships no test or scratch file', () => {
    const stray = [...contents.get(pkg)!.keys()].filter((f) =>
      /(^|\/)(test-[^/]*|[^/]*\.test\.[^/]*|[^/]*\.tsbuildinfo)$|(^|\/)(test|build|\.scratch)\//.test(f),
    );
    expect(stray).toEqual([]);
  });

  test('source maps point at shipped sources and embed none', () => {
    const files = contents.get(pkg)!;
    const maps = [...files.keys()].filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    for (const m of maps) {
      const map = JSON.parse(readFileSync(files.get(m)!, 'utf8')) as { sources: string[]; sourcesContent?: unknown };
      expect(map.sourcesContent, m).toBeUndefined();
      // A helper the bundler inlined (tsup's CommonJS shim) is named by its path in node_modules.
      for (const s of map.sources.filter((x) => !x.includes('/node_modules/')))
        expect(files.has(posix.join(posix.dirname(m), s)), `${m}: ${s}`).toBe(true);
    }
  });
});
