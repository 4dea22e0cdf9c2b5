import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import base from './vitest.config';

// The Redis suites again with `ioredis` resolved to ioredis 6 (redis-pool's peer range is
// ^5 || ^6): the pool, the store and the Cluster/Sentinel paths on the newer major.
const fromRedisPool = createRequire(
  fileURLToPath(new URL('./packages/redis-pool/package.json', import.meta.url)),
);
const ioredis6 = fromRedisPool.resolve('ioredis6');
const aliases = base.resolve?.alias as Array<{ find: RegExp; replacement: string }>;

export default defineConfig({
  ...base,
  resolve: { alias: [...aliases, { find: /^ioredis$/, replacement: ioredis6 }] },
  test: {
    ...base.test,
    include: ['packages/redis-pool/src/**/*.test.ts', 'test/redis/**/*.test.ts'],
    env: { BW_IOREDIS: '6' },
  },
});
