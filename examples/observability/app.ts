/**
 * The observability example: an Express service with Breakwater's policies on a few
 * routes, `/metrics`, the health endpoints, and the admin endpoint behind a bearer
 * token. The dashboard and alert rules beside it are tested against this app.
 *
 * ```ts
 * import { createExampleApp } from './app.js';
 * const { app, bw } = createExampleApp({ adminToken: process.env.ADMIN_TOKEN });
 * app.listen(3000);   // then scrape http://localhost:3000/metrics
 * ```
 */
import { timingSafeEqual } from 'node:crypto';
import { breakwater, type Clock, type ExpressBreakwater, type Logger } from '@breakwater/express';
import express, { type Express, type RequestHandler } from 'express';
import { Registry } from 'prom-client';
import { DemoPool } from './DemoPool.js';
import { SwitchableStore } from './SwitchableStore.js';

export interface ExampleOptions {
  /** Bearer token of the admin endpoint; without one, the admin endpoint is not mounted. */
  adminToken?: string;
  /** Default: a registry of the app's own. */
  registry?: Registry;
  clock?: Clock;
  /** Where Breakwater logs its events (pino, console, …). Default: nothing is logged. */
  logger?: Logger;
}

/** Answers 401 unless `Authorization: Bearer <token>` matches, compared in constant time. */
export function requireToken(token: string): RequestHandler {
  const want = Buffer.from(`Bearer ${token}`);
  return function requireToken(req, res, next) {
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length === want.length && timingSafeEqual(given, want)) return next();
    res.status(401).json({ error: 'unauthorized' });
  };
}

export function createExampleApp(options: ExampleOptions = {}): {
  app: Express;
  bw: ExpressBreakwater;
  pool: DemoPool;
  store: SwitchableStore;
} {
  const bw = breakwater({
    registry: options.registry ?? new Registry(),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    defaults: { timeout: '2s' },
  });
  const pool = bw.pools.add(new DemoPool('catalog-db', 4));
  const store = new SwitchableStore();
  const app = express();
  app.use(bw.middleware());

  app.get('/metrics', bw.metrics());
  app.get('/health/live', bw.health('live'));
  app.get('/health/ready', bw.health('ready'));
  app.get('/health', bw.health());
  if (options.adminToken) app.use('/admin', requireToken(options.adminToken), express.json(), bw.admin());

  // 5 searches a minute per client.
  app.get('/api/search', bw.route({ rateLimit: { limit: 5, window: '1m' } }), (_req, res) => {
    res.json({ results: [] });
  });
  // Three failures in a row open the breaker for two minutes.
  app.get(
    '/api/flaky',
    bw.route({ circuitBreaker: { consecutiveFailures: 3, openFor: '2m' } }),
    (req, res) => {
      if (req.query.fail) res.status(502).json({ error: 'upstream failed' });
      else res.json({ ok: true });
    },
  );
  // Two at once, two more may wait 200ms; the whole request gets 1s.
  app.get(
    '/api/report',
    bw.route({ bulkhead: { maxConcurrent: 2, maxQueue: 2, queueTimeout: '200ms' }, timeout: '1s' }),
    async (req, res) => {
      const ms = Math.min(Number(req.query.ms) || 10, 5000);
      await new Promise((r) => setTimeout(r, ms));
      res.json({ ok: true });
    },
  );
  // Every item read goes through the pool; `?fail=1` fails the call, retried once.
  app.get('/api/items/:id', bw.route(), async (req, res) => {
    try {
      const item = await pool.use(
        async () => {
          if (req.query.fail) throw new Error('catalog-db query failed');
          return { id: req.params.id };
        },
        { retries: 1 },
      );
      res.json(item);
    } catch {
      res.status(502).json({ error: 'catalog unavailable' });
    }
  });
  // 100 quotes a minute per client, counted in a shared store; while the store is down the
  // limiter counts locally (`onStoreError: 'memory'`).
  app.get(
    '/api/quote',
    bw.route({ rateLimit: { limit: 100, window: '1m', store, onStoreError: 'memory' } }),
    (_req, res) => {
      res.json({ price: 42 });
    },
  );
  // A failing (or, past 500ms, slow) recommendation engine degrades to an empty list
  // instead of an error; the answer carries `Breakwater-Fallback: <reason>`.
  app.get(
    '/api/recommendations',
    bw.route({ timeout: '500ms', fallback: () => ({ body: { items: [], degraded: true } }) }),
    (req, res) => {
      if (req.query.fail) res.status(500).json({ error: 'engine failed' });
      else res.json({ items: ['a', 'b'] });
    },
  );
  return { app, bw, pool, store };
}
