import { readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, isAbsolute, join, relative } from 'node:path';
import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

export default defineConfig({
  ...packageBuild,
  // The API's tiers are entry points of one package: shared chunks keep one copy of each
  // class, so `instanceof` and the declarations agree across the tiers, in ESM and CJS.
  entry: ['src/index.ts', 'src/adapter.ts', 'src/extend.ts'],
  splitting: true,
  // prom-client is loaded with `createRequire(import.meta.url)` (src/metrics/promClient.ts):
  // the shim gives the CommonJS build an `import.meta.url` of its own.
  shims: true,
  // tsup's CommonJS code splitting names the .cjs itself in its map by absolute path (the
  // build machine's): made relative, as the other sources are.
  async onSuccess() {
    for (const file of await readdir('dist')) {
      if (!file.endsWith('.cjs.map')) continue;
      const path = join('dist', file);
      const map = JSON.parse(await readFile(path, 'utf8')) as { sources: string[]; file?: string };
      map.sources = map.sources.map((s) => (isAbsolute(s) ? relative('dist', s) : s));
      if (map.file !== undefined && isAbsolute(map.file)) map.file = basename(map.file);
      await writeFile(path, JSON.stringify(map));
    }
  },
});
