/**
 * The demo service's configuration: a YAML or JSON file (routes, limits, pools) and the
 * environment (PORT, HOST, REDIS_URL, REDIS_KEY_PREFIX, UPSTREAM_URL, ADMIN_TOKEN, ERROR_RATE,
 * WORKERS, CONFIG).
 * Everything is checked before anything starts; an error names the file, the setting's
 * path and the bad value. Pool and route options go on to their constructors, which
 * check them the same way (`httpPool[upstream].connections: ...`).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

/** The configuration file used when none is given. */
export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../config/service.yaml', import.meta.url));

/** A configuration mistake: `path` is the setting, `source` the file or variable it came from. */
export class ServiceConfigError extends Error {
  constructor(source, path, value, expected) {
    super(`${source}: ${path}: expected ${expected}, got ${show(value)}`);
    this.name = 'ServiceConfigError';
    this.code = 'INVALID_CONFIG';
    this.path = path;
  }

  /** Wraps a constructor's ConfigError (`httpPool[upstream].connections: ...`) with the file and section. */
  static from(source, section, cause) {
    const err = new ServiceConfigError(source, section, undefined, '');
    err.message = `${source}: ${section}: ${cause.message}`;
    err.cause = cause;
    return err;
  }
}

function show(v) {
  if (v === undefined) return 'nothing';
  try {
    const s = JSON.stringify(v);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(v);
  }
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks helpers bound to one source (the file, or an environment variable). */
function checker(source) {
  const fail = (path, value, expected) => {
    throw new ServiceConfigError(source, path, value, expected);
  };
  return {
    fail,
    object(v, path, known) {
      if (v === undefined) return {};
      if (!isObject(v)) fail(path, v, 'a mapping');
      if (known)
        for (const k of Object.keys(v))
          if (!known.includes(k)) fail(`${path}.${k}`, v[k], `one of ${known.join(', ')}`);
      return v;
    },
    string(v, path, def) {
      if (v === undefined || v === null) return def;
      if (typeof v !== 'string') fail(path, v, 'a string');
      return v;
    },
    int(v, path, def, min, max) {
      if (v === undefined) return def;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
        fail(path, v, `an integer from ${min} to ${max}`);
      return v;
    },
    rate(v, path, def) {
      if (v === undefined) return def;
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) fail(path, v, 'a number from 0 to 1');
      return v;
    },
    duration(v, path, def) {
      if (v === undefined) return def;
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
      const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(v.trim()) : null;
      if (!m) fail(path, v, "a duration like '250ms', '2s' or '1m'");
      return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms'];
    },
    url(v, path, protocols) {
      let u;
      try {
        u = new URL(v);
      } catch {
        fail(path, v, `a URL (${protocols.join(' or ')})`);
      }
      if (!protocols.includes(u.protocol))
        fail(path, v, `a URL starting ${protocols.map((p) => `${p}//`).join(' or ')}`);
      return v;
    },
  };
}

/** Reads and parses a YAML or JSON file. */
export function readConfigFile(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ServiceConfigError(file, '(file)', file, `a readable file (${e.code ?? e.message})`);
  }
  try {
    const raw = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
    return raw ?? {};
  } catch (e) {
    throw new ServiceConfigError(file, '(file)', e.message.split('\n')[0], 'valid YAML or JSON');
  }
}

/** The API routes every demo service mounts, by the key their policy has in `breakwater.routes`. */
export const API_ROUTES = [
  'GET /api/external-data',
  'GET /api/cache/:key',
  'POST /api/cache/:key',
  'GET /api/heavy-computation',
  'GET /api/error-prone',
];

const TOP = ['service', 'upstream', 'redis', 'pools', 'cache', 'heavy', 'errorProne', 'breakwater'];

/**
 * Builds the service's configuration from a parsed file and the environment.
 * `raw`: the parsed file (or an object in tests); `env`: `process.env` or a stand-in;
 * `source`: the file name for messages.
 */
export function resolveConfig(raw, env = process.env, source = 'config') {
  const c = checker(source);
  const root = c.object(raw, 'config', TOP);
  const service = c.object(root.service, 'service', ['host', 'port', 'adminToken']);
  const upstream = c.object(root.upstream, 'upstream', ['url', 'path']);
  const redis = c.object(root.redis, 'redis', ['url', 'keyPrefix']);
  const pools = c.object(root.pools, 'pools', ['http', 'redis', 'workers']);
  const workers = c.object(pools.workers, 'pools.workers', ['threads']);
  const cache = c.object(root.cache, 'cache', ['ttl', 'timeout', 'fallbackMaxKeys']);
  const heavy = c.object(root.heavy, 'heavy', ['workMs', 'maxWorkMs']);
  const errorProne = c.object(root.errorProne, 'errorProne', ['failureRate']);
  const bwOptions = c.object(root.breakwater, 'breakwater');
  const httpPool = c.object(pools.http, 'pools.http');
  const redisPool = c.object(pools.redis, 'pools.redis');
  for (const k of ['baseUrl', 'origins'])
    if (k in httpPool) c.fail(`pools.http.${k}`, httpPool[k], 'no such key (set upstream.url)');
  for (const k of ['url', 'host', 'port'])
    if (k in redisPool) c.fail(`pools.redis.${k}`, redisPool[k], 'no such key (set redis.url)');

  const e = (name) => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const envCheck = (name) => checker(`environment variable ${name}`);

  let port = c.int(service.port, 'service.port', 3000, 0, 65535);
  if (e('PORT') !== undefined) port = envCheck('PORT').int(Number(e('PORT')), 'PORT', 0, 0, 65535);
  const host = e('HOST') ?? c.string(service.host, 'service.host', '127.0.0.1');

  let upstreamUrl = c.string(upstream.url, 'upstream.url', 'http://127.0.0.1:4000');
  if (e('UPSTREAM_URL') !== undefined)
    upstreamUrl = envCheck('UPSTREAM_URL').url(e('UPSTREAM_URL'), 'UPSTREAM_URL', ['http:', 'https:']);
  else c.url(upstreamUrl, 'upstream.url', ['http:', 'https:']);
  const upstreamPath = c.string(upstream.path, 'upstream.path', '/data');
  if (!upstreamPath.startsWith('/')) c.fail('upstream.path', upstreamPath, "a path starting with '/'");

  let redisUrl = c.string(redis.url, 'redis.url', 'redis://127.0.0.1:6379');
  if (e('REDIS_URL') !== undefined) redisUrl = e('REDIS_URL');
  if (redisUrl === 'off') redisUrl = undefined;
  else if (e('REDIS_URL') !== undefined)
    envCheck('REDIS_URL').url(redisUrl, 'REDIS_URL', ['redis:', 'rediss:']);
  else c.url(redisUrl, 'redis.url', ['redis:', 'rediss:']);
  const keyPrefix = e('REDIS_KEY_PREFIX') ?? c.string(redis.keyPrefix, 'redis.keyPrefix', 'bw-demo:');
  if (/[{}]/.test(keyPrefix)) c.fail('redis.keyPrefix', keyPrefix, 'a prefix without { or }');

  let threads = workers.threads ?? 'auto';
  let threadsSource = c;
  let threadsPath = 'pools.workers.threads';
  if (e('WORKERS') !== undefined) {
    threadsSource = envCheck('WORKERS');
    threadsPath = 'WORKERS';
    threads = e('WORKERS') === 'auto' ? 'auto' : Number(e('WORKERS'));
  }
  if (threads === 'auto') threads = Math.max(1, Math.min(4, availableParallelism() - 1));
  else threads = threadsSource.int(threads, threadsPath, 1, 1, 64);

  let failureRate = c.rate(errorProne.failureRate, 'errorProne.failureRate', 0.05);
  if (e('ERROR_RATE') !== undefined)
    failureRate = envCheck('ERROR_RATE').rate(Number(e('ERROR_RATE')), 'ERROR_RATE', 0);

  const workMs = c.int(heavy.workMs, 'heavy.workMs', 40, 1, 10_000);
  const maxWorkMs = c.int(heavy.maxWorkMs, 'heavy.maxWorkMs', 500, workMs, 60_000);

  const routes = c.object(bwOptions.routes, 'breakwater.routes');
  for (const key of Object.keys(routes))
    if (!API_ROUTES.includes(key))
      c.fail(`breakwater.routes['${key}']`, key, `one of the service's routes: ${API_ROUTES.join(', ')}`);
  shareKeys(bwOptions.defaults);
  if (isObject(bwOptions.routes)) for (const p of Object.values(bwOptions.routes)) shareKeys(p);

  return {
    source,
    host,
    port,
    adminToken: e('ADMIN_TOKEN') ?? c.string(service.adminToken, 'service.adminToken', ''),
    upstream: { url: upstreamUrl, path: upstreamPath },
    redis: redisUrl === undefined ? undefined : { url: redisUrl, keyPrefix },
    pools: { http: httpPool, redis: redisPool, workers: { threads } },
    cache: {
      ttlMs: c.duration(cache.ttl, 'cache.ttl', 300_000),
      timeoutMs: c.duration(cache.timeout, 'cache.timeout', 100),
      fallbackMaxKeys: c.int(cache.fallbackMaxKeys, 'cache.fallbackMaxKeys', 10_000, 1, 10_000_000),
    },
    heavy: { workMs, maxWorkMs },
    errorProne: { failureRate },
    breakwater: bwOptions,
  };
}

/**
 * A file cannot share one object between two windows' `key: { header }`, and
 * breakwater() compares the windows' keys by identity: give equal header keys one object.
 */
function shareKeys(policy) {
  if (!isObject(policy) || !Array.isArray(policy.rateLimit)) return;
  let first;
  for (const w of policy.rateLimit) {
    if (!isObject(w) || !isObject(w.key)) continue;
    if (first === undefined) first = w.key;
    else if (JSON.stringify(w.key) === JSON.stringify(first)) w.key = first;
  }
}

/** Loads `file` (default: config/service.yaml, or the CONFIG variable) and the environment. */
export function loadConfig(file = process.env.CONFIG || DEFAULT_CONFIG_FILE, env = process.env) {
  return resolveConfig(readConfigFile(file), env, file);
}
