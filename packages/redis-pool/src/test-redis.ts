/** What the package's unit tests against a real Redis share. Not part of the package. */
import { Redis } from 'ioredis';

/** The Redis the unit tests use: `REDIS_URL`, default a local one. */
export const REDIS_URL: string = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisUp(): Promise<boolean> {
  const c = new Redis(REDIS_URL, { lazyConnect: true, retryStrategy: () => null, connectTimeout: 500 });
  c.on('error', () => {});
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

/**
 * Whether `suite` can run against real Redis: true when REDIS_URL answers PING; otherwise
 * one loud line and false, or a throw under CI=true (where the Redis tests must run).
 */
export async function redisOrSkip(suite: string): Promise<boolean> {
  if (await redisUp()) return true;
  const msg = `!!!!! SKIPPING ${suite} unit tests: no Redis at ${REDIS_URL} !!!!!`;
  if (process.env.CI === 'true') throw new Error(msg);
  console.warn(msg);
  return false;
}
