/**
 * Everything the Express and the Koa service share: the pools (HTTP to the upstream,
 * Redis, piscina worker threads), the rate-limit store, the cache, the event log, the
 * admin token check, and the route handlers written once, framework-free. A handler
 * takes `{ params, query, body, context }` (`context`: the request's BreakwaterContext)
 * and resolves with `{ status, body, headers? }`. The two services only wire routes.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isConfigError } from '@breakwater/core';
import { HttpPool } from '@breakwater/http-pool';
import { RedisPool, RedisRateLimitStore } from '@breakwater/redis-pool';
import { Piscina } from 'piscina';
import { Registry } from 'prom-client';
import { DemoCache } from './cache.mjs';
import { chaosAdmin } from './chaos-admin.mjs';
import { ServiceConfigError } from './config.mjs';
import { EventLog, watchBreakers, watchPools } from './events.mjs';
import { externalDataFallback } from './stale.mjs';

const WORKER = fileURLToPath(new URL('./heavy-worker.mjs', import.meta.url));
const PROBLEM = { 'content-type': 'application/problem+json' };
const KEY = /^[A-Za-z0-9_.:-]{1,128}$/;

/** An RFC 9457 problem answer. */
export function problem(status, title, detail, code, extra = {}) {
  return { status, headers: PROBLEM, body: { type: 'about:blank', title, status, detail, code, ...extra } };
}

/** Re-throws a constructor's ConfigError with the configuration file in front. */
export function configured(source, section, make) {
  try {
    return make();
  } catch (e) {
    throw isConfigError(e) ? ServiceConfigError.from(source, section, e) : e;
  }
}

/**
 * Listens on the configured host and port and resolves with the running service:
 * `{ url, server, bw, demo, close() }`. `listen(port, host)` is the framework's own
 * (`app.listen`); `close()` drops open connections, then closes `bw` and `demo`, and
 * is safe to call twice.
 */
export async function serve(listen, config, bw, demo) {
  const server = listen(config.port, config.host);
  await once(server, 'listening');
  let closing;
  return {
    url: `http://${config.host}:${server.address().port}`,
    server,
    bw,
    demo,
    close() {
      closing ??= (async () => {
        server.closeAllConnections();
        await new Promise((r) => server.close(() => r()));
        await bw.close();
        await demo.close();
      })();
      return closing;
    },
  };
}

function upstreamFailure(e) {
  const code = e?.code;
  if (code === 'TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
    return problem(504, 'Gateway Timeout', 'the upstream did not answer in time', 'UPSTREAM_TIMEOUT');
  if (code === 'POOL_QUEUE_FULL' || code === 'POOL_QUEUE_TIMEOUT' || code === 'POOL_UNHEALTHY')
    return problem(
      503,
      'Service Unavailable',
      `the upstream pool refused the call (${code})`,
      'UPSTREAM_BUSY',
    );
  return problem(
    502,
    'Bad Gateway',
    `the upstream could not be reached (${code ?? 'error'})`,
    'UPSTREAM_UNREACHABLE',
  );
}

/**
 * The demo's framework-neutral half with the adapter's Breakwater attached: `breakwater` is
 * the adapter's factory. Options Breakwater refuses close the demo again and throw,
 * naming the configuration file. Resolves with `{ demo, bw }`.
 */
export async function createDemoWith(config, breakwater, { log = () => {} } = {}) {
  const demo = await createDemo(config, { log });
  let bw;
  try {
    bw = configured(config.source, 'breakwater', () => breakwater(demo.breakwaterOptions));
  } catch (e) {
    await demo.close();
    throw e;
  }
  demo.attach(bw);
  return { demo, bw };
}

/**
 * Builds the framework-neutral half of the demo service from a resolved configuration
 * (`loadConfig()`). Nothing listens yet; call `attach(bw)` once the adapter's
 * `breakwater()` exists, and `close()` after `bw.close()`.
 */
export async function createDemo(config, { log = () => {} } = {}) {
  const src = config.source;
  const events = new EventLog();
  const registry = new Registry();

  const http = configured(
    src,
    'pools.http',
    () => new HttpPool({ ...config.pools.http, baseUrl: config.upstream.url }),
  );
  let redis;
  let store;
  try {
    if (config.redis) {
      redis = configured(
        src,
        'pools.redis',
        () => new RedisPool({ ...config.pools.redis, url: config.redis.url }),
      );
      store = new RedisRateLimitStore({ pool: redis, prefix: `${config.redis.keyPrefix}rl:` });
    }
  } catch (e) {
    await http.close();
    throw e;
  }
  const cache = new DemoCache({ redis, keyPrefix: config.redis?.keyPrefix ?? '', ...config.cache });
  // GET /api/external-data degrades instead of refusing: while the upstream fails or its
  // breaker is open, the last good answer goes out (stale-if-error, with Age and
  // Breakwater-Fallback), shared through Redis between instances.
  const stale = externalDataFallback({ redis, keyPrefix: config.redis?.keyPrefix ?? '' });
  const workers = new Piscina({
    filename: WORKER,
    minThreads: config.pools.workers.threads,
    maxThreads: config.pools.workers.threads,
    idleTimeout: 60_000,
  });
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const errorProne = { failureRate: config.errorProne.failureRate };
  const stops = [];

  // The configured route policies go to breakwater({ routes }); each service mounts
  // bw.route() on its routes, which takes its entry over, so each guard and breaker is built
  // once, named after its route, and a reloaded file (bw.reconfigure) reaches it.
  const breakwaterOptions = { ...config.breakwater, registry, ...(store && { store }) };

  // Redis reachable now? The service starts either way; the log says which mode it is in.
  let redisMode = 'off';
  if (redis) {
    const h = await redis.health();
    redisMode = h.status === 'pass' ? 'redis' : 'fallback';
    if (redisMode === 'redis') log(`redis: ${config.redis.url} answers: cache and rate limits live in Redis`);
    else
      log(
        `redis: ${config.redis.url} unreachable (${(h.output ?? h.status).split('. ')[0]}): cache and rate limits use in-process fallbacks until it answers`,
      );
  } else log('redis: off (REDIS_URL=off): cache and rate limits are in-process');

  let token = config.adminToken;
  if (!token) {
    token = randomBytes(16).toString('hex');
    log(`admin: no ADMIN_TOKEN set; this run's token is ${token}`);
  }
  const tokenBuf = Buffer.from(token);

  /** Wires the pools, checks and event log into an adapter's `breakwater()` instance. */
  let chaosSettings = async () => ({ status: 503, body: { error: 'not attached yet' } });
  function attach(bw) {
    chaosSettings = chaosAdmin(bw.chaos);
    bw.pools.add(http);
    if (redis) bw.pools.add(redis);
    if (cache.breaker) bw.breakers.add(cache.breaker);
    bw.health.register(
      'cache',
      () => {
        if (!redis)
          return { status: 'warn', output: 'REDIS_URL is off: the cache and rate limits are in-process' };
        if (cache.usingRedis) return { status: 'pass', output: 'redis' };
        return {
          status: 'warn',
          output: `Redis unavailable (${cache.lastError ?? 'health check failing'}): cache served from the in-process fallback, rate limits from memory`,
        };
      },
      { critical: false, componentType: 'datastore' },
    );
    bw.health.register(
      'workers',
      () => ({
        status: workers.threads.length > 0 ? 'pass' : 'fail',
        observedValue: Math.round(workers.utilization * 1000) / 1000,
        observedUnit: 'utilization',
      }),
      { critical: true, componentType: 'system' },
    );
    stops.push(watchBreakers(bw.breakers, events), watchPools(bw.pools, events));
  }

  /** True when `value` (an `Authorization: Bearer` or `X-Admin-Token` header) carries the admin token. */
  function isAdmin(authorization, xToken) {
    let given = typeof xToken === 'string' ? xToken : undefined;
    if (given === undefined && typeof authorization === 'string' && authorization.startsWith('Bearer '))
      given = authorization.slice(7);
    if (given === undefined) return false;
    const b = Buffer.from(given);
    return b.length === tokenBuf.length && timingSafeEqual(b, tokenBuf);
  }

  const handlers = {
    async externalData({ context }) {
      const budgetMs = context ? Math.round(context.remainingMs()) : undefined;
      const t0 = performance.now();
      let res;
      try {
        // The inbound context: its deadline caps the call, its abort cancels it, its request id is forwarded.
        res = await http.get(config.upstream.path, { context });
      } catch (e) {
        return upstreamFailure(e);
      }
      if (res.status >= 500)
        return problem(502, 'Bad Gateway', `the upstream answered ${res.status}`, 'UPSTREAM_ERROR');
      const data = await res.json();
      return {
        status: 200,
        body: { source: 'upstream', budgetMs, upstreamMs: Math.round(performance.now() - t0), data },
      };
    },

    async cacheGet({ params }) {
      if (!KEY.test(params.key))
        return problem(400, 'Bad Request', 'key: 1 to 128 of A-Z a-z 0-9 _ . : -', 'BAD_KEY');
      const r = await cache.get(params.key);
      return { status: r.found ? 200 : 404, headers: { 'x-cache-store': r.store }, body: r };
    },

    async cacheSet({ params, body }) {
      if (!KEY.test(params.key))
        return problem(400, 'Bad Request', 'key: 1 to 128 of A-Z a-z 0-9 _ . : -', 'BAD_KEY');
      if (typeof body !== 'object' || body === null || Array.isArray(body) || !('value' in body))
        return problem(
          400,
          'Bad Request',
          'expected a JSON body like {"value": ..., "ttlMs": 60000}',
          'BAD_BODY',
        );
      const ttl = body.ttlMs;
      if (ttl !== undefined && !(Number.isInteger(ttl) && ttl >= 1 && ttl <= 86_400_000))
        return problem(400, 'Bad Request', 'ttlMs: an integer from 1 to 86400000', 'BAD_BODY');
      const r = await cache.set(params.key, body.value, ttl);
      return { status: 201, headers: { 'x-cache-store': r.store }, body: r };
    },

    async heavy({ query }) {
      let ms = config.heavy.workMs;
      if (query.ms !== undefined) {
        ms = Number(query.ms);
        if (!Number.isInteger(ms) || ms < 1 || ms > config.heavy.maxWorkMs)
          return problem(
            400,
            'Bad Request',
            `ms: an integer from 1 to ${config.heavy.maxWorkMs}`,
            'BAD_QUERY',
          );
      }
      const r = await workers.run({ ms });
      return {
        status: 200,
        body: { workMs: Math.round(r.ms), rounds: r.rounds, digest: r.digest, thread: r.thread },
      };
    },

    async errorProne() {
      if (Math.random() < errorProne.failureRate)
        return problem(500, 'Internal Server Error', 'an injected failure', 'INJECTED_FAILURE', {
          failureRate: errorProne.failureRate,
        });
      return { status: 200, body: { ok: true, failureRate: errorProne.failureRate } };
    },

    // Admin (behind the token check):
    async events({ query }) {
      const since = Number(query.since ?? 0);
      return {
        status: 200,
        body: { now: Date.now(), events: events.since(Number.isFinite(since) ? since : 0) },
      };
    },

    async runtime({ query }) {
      if (query.gc === '1' && typeof globalThis.gc === 'function') globalThis.gc();
      const resources = {};
      for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
      const ms = (ns) => Math.round(ns / 1e4) / 100;
      const body = {
        pid: process.pid,
        uptimeS: Math.round(process.uptime()),
        memory: process.memoryUsage(),
        handles: Object.entries(resources).reduce((n, [k, v]) => (k === 'Timeout' ? n : n + v), 0),
        resources,
        eventLoopDelayMs: { p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max) },
        workers: {
          threads: workers.threads.length,
          utilization: workers.utilization,
          queued: workers.queueSize,
          completed: workers.completed,
        },
        redis: redis ? (cache.usingRedis ? 'redis' : 'fallback') : 'off',
        stale: stale.copies.stats(),
      };
      if (query.reset === '1') eld.reset();
      return { status: 200, body };
    },

    /** `GET|POST /admin/chaos`: chaos injection per route at run time (see chaos-admin.mjs). */
    chaos: (args) => chaosSettings(args),

    async errorProneSettings({ method, body }) {
      if (method === 'PUT' || method === 'POST') {
        const rate = body?.failureRate;
        if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1))
          return problem(400, 'Bad Request', 'expected {"failureRate": a number from 0 to 1}', 'BAD_BODY');
        events.push({ type: 'note', text: `error-prone failure rate ${errorProne.failureRate} → ${rate}` });
        errorProne.failureRate = rate;
      }
      return { status: 200, body: { ...errorProne } };
    },
  };

  let closing;
  return {
    config,
    breakwaterOptions,
    registry,
    http,
    redis,
    store,
    cache,
    workers,
    events,
    get redisMode() {
      return redis ? (cache.usingRedis ? 'redis' : 'fallback') : 'off';
    },
    startupRedisMode: redisMode,
    attach,
    isAdmin,
    /**
     * The code's own policy of one of the API routes (config.mjs API_ROUTES), for `bw.route()`,
     * merged over the configured one (which reaches the route through `breakwater.routes`):
     * only what a file cannot hold, the stale-copy fallback of GET /api/external-data.
     */
    policy: (key) => (key === 'GET /api/external-data' ? { fallback: stale.fallback } : {}),
    handlers,
    /** Stops background work and the worker threads; pools close with `bw.close()` (closed here if never attached). */
    close() {
      closing ??= (async () => {
        for (const stop of stops.splice(0)) stop();
        eld.disable();
        await Promise.allSettled([http.close(), redis?.close(), workers.destroy()]);
      })();
      return closing;
    },
  };
}
