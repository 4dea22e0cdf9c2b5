import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

export default defineConfig({
  ...packageBuild,
  // The API's tiers are entry points of one package: shared chunks keep one copy of each
  // class, so `instanceof` and the declarations agree across the tiers, in ESM and CJS.
  entry: ['src/index.ts', 'src/adapter.ts', 'src/extend.ts'],
  splitting: true,
});
