/**
 * docs/guide.md's examples run as written: each `js` block is started as its own process
 * against the built packages and must build its policies (a bad option is a ConfigError
 * at construction) and exit cleanly.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const guide = readFileSync(`${root}/docs/guide.md`, 'utf8');

const blocks: Array<[string, string]> = [];
for (let at = guide.indexOf('```js\n'); at !== -1; at = guide.indexOf('```js\n', at + 1)) {
  const heading = guide.lastIndexOf('\n### ', at);
  const title = guide.slice(heading + 5, guide.indexOf('\n', heading + 5));
  blocks.push([title, guide.slice(at + 6, guide.indexOf('```', at + 6))]);
}

describe('docs/guide.md', () => {
  test('has the three starting points', () => {
    expect(blocks.map(([t]) => t)).toEqual(['A public API', 'An internal service', 'A login route']);
  });

  test.each(blocks)('%s runs as written', async (title, code) => {
    mkdirSync(`${root}/build`, { recursive: true });
    const file = `${root}/build/guide-${title.toLowerCase().replace(/\W+/g, '-')}.mjs`;
    writeFileSync(file, code);
    const { stderr } = await run(process.execPath, [file], { cwd: root, timeout: 15_000 });
    expect(stderr).toBe('');
  });
});
