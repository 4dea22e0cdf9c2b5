import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources; test/build/ checks the built packages.
    alias: {
      '@breakwater/core': src('core'),
      '@breakwater/express': src('express'),
      '@breakwater/koa': src('koa'),
      '@breakwater/http-pool': src('http-pool'),
      '@breakwater/redis-pool': src('redis-pool'),
    },
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
