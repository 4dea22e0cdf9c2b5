import type { Options } from 'tsup';

/** The one build every package shares: ESM and CommonJS with bundled declarations. */
export const packageBuild: Options = {
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  // Project references are for tsc -b; the declaration bundle is built standalone.
  dts: { compilerOptions: { composite: false, declarationMap: false } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
};
