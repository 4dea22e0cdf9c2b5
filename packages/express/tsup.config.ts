import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  // Project references are for tsc -b; the declaration bundle is built standalone.
  dts: { compilerOptions: { composite: false, declarationMap: false } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
});
