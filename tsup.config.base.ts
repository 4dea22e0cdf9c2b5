import type { Options } from 'tsup';

/** The one build every package shares: ESM and CommonJS with bundled declarations. */
export const packageBuild: Options = {
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  // Project references are for tsc -b; the declaration bundle is built standalone.
  dts: { compilerOptions: { composite: false, declarationMap: false } },
  // Maps without embedded sources: their `sources` point at the shipped src/*.ts, so
  // stack traces (node --enable-source-maps) and debuggers show TypeScript lines while each
  // tarball carries the sources once, not again inside every .map.
  sourcemap: true,
  esbuildOptions(options) {
    options.sourcesContent = false;
  },
  clean: true,
  target: 'node20',
  platform: 'node',
};
