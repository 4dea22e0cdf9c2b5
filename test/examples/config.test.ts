/**
 * The demo service's configuration: the shipped YAML file loads; bad settings in the
 * file, the environment or the pool and route options stop the start with an error that
 * names where the setting came from, its path and the bad value.
 */
import { describe, expect, test } from 'vitest';
import { modules } from './helpers.js';

const m = await modules();
const base = () => m.readConfigFile(m.DEFAULT_CONFIG_FILE) as Record<string, any>;
const resolve = (raw: unknown, env: Record<string, string> = {}) => m.resolveConfig(raw, env, 'service.yaml');

describe('demo service configuration', () => {
  test('the shipped file loads, with the environment on top', () => {
    const c = resolve(base(), {
      PORT: '8080',
      UPSTREAM_URL: 'http://10.0.0.1:9000',
      ERROR_RATE: '0.2',
      WORKERS: '2',
    });
    expect(c.port).toBe(8080);
    expect(c.upstream.url).toBe('http://10.0.0.1:9000');
    expect(c.errorProne.failureRate).toBe(0.2);
    expect(c.pools.workers.threads).toBe(2);
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(resolve(base(), { REDIS_URL: 'off' }).redis).toBeUndefined();
    // Both windows of the per-client limit share one key object, as breakwater() wants.
    const [a, b] = c.breakwater.defaults.rateLimit;
    expect(a.key).toBe(b.key);
  });

  test.each([
    [{ PORT: '70000' }, 'environment variable PORT: PORT: expected an integer from 0 to 65535, got 70000'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL: expected a URL starting redis:// or rediss://'],
    [{ UPSTREAM_URL: 'ftp://x' }, 'UPSTREAM_URL: expected a URL starting http:// or https://'],
    [{ ERROR_RATE: '2' }, 'ERROR_RATE: expected a number from 0 to 1, got 2'],
    [{ WORKERS: '0' }, 'WORKERS: expected an integer from 1 to 64, got 0'],
  ])('environment %o is refused', (env, message) => {
    expect(() => resolve(base(), env)).toThrow(message);
  });

  test.each([
    [
      (c: any) => (c.service.port = 'eighty'),
      'service.yaml: service.port: expected an integer from 0 to 65535, got "eighty"',
    ],
    [
      (c: any) => (c.cache.ttl = 'soon'),
      "service.yaml: cache.ttl: expected a duration like '250ms', '2s' or '1m', got \"soon\"",
    ],
    [(c: any) => (c.surprise = 1), 'service.yaml: config.surprise: expected one of service, upstream'],
    [
      (c: any) => (c.pools.http.baseUrl = 'http://x'),
      'service.yaml: pools.http.baseUrl: expected no such key (set upstream.url)',
    ],
    [
      (c: any) => (c.errorProne.failureRate = -1),
      'service.yaml: errorProne.failureRate: expected a number from 0 to 1, got -1',
    ],
  ])('a bad file setting is refused (%#)', (edit, message) => {
    const raw = base();
    edit(raw);
    expect(() => resolve(raw)).toThrow(message);
  });

  test('pool and route options are checked by their constructors at start, with the path', async () => {
    const raw = base();
    raw.pools.http.connections = 0;
    await expect(m.startExpressService(resolve(raw, { REDIS_URL: 'off' }))).rejects.toThrow(
      /service\.yaml: pools\.http: httpPool\[upstream\]\.connections: .*0/,
    );
    const raw2 = base();
    raw2.breakwater.routes['GET /api/heavy-computation'].bulkhead.maxConcurrent = 0;
    await expect(m.startKoaService(resolve(raw2, { REDIS_URL: 'off', PORT: '0' }))).rejects.toThrow(
      /maxConcurrent.*0/,
    );
    const raw3 = base();
    raw3.breakwater.routes['GET /api/nope'] = { timeout: '1s' };
    expect(() => resolve(raw3)).toThrow(
      "service.yaml: breakwater.routes['GET /api/nope']: expected one of the service's routes",
    );
  });
});
