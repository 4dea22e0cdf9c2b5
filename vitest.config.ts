import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string, entry = 'index') =>
  fileURLToPath(new URL(`./packages/${pkg}/src/${entry}.ts`, import.meta.url));
const pkgs = ['core', 'express', 'koa', 'fastify', 'hono', 'http-pool', 'redis-pool'];

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources; test/build/ checks the built packages.
    // Exact matches: `@breakwater/core/adapter` must not resolve as `@breakwater/core` + '/adapter'.
    alias: [
      { find: /^@breakwater\/core\/(adapter|extend)$/, replacement: src('core', '$1') },
      ...pkgs.map((p) => ({ find: new RegExp(`^@breakwater/${p}$`), replacement: src(p) })),
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    setupFiles: ['test/setup/leaks.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
