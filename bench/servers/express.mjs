/**
 * One Express app in one of three dresses, for the HTTP overhead suite:
 *   node servers/express.mjs bare | breakwater | peer
 * The route and its handler are the same in all three; only the middleware differs.
 * Prints `{"port":n}` once listening.
 */
import http from 'node:http';
import { breakwater } from '@breakwater/express';
import connectTimeout from 'connect-timeout';
import express from 'express';
import promBundle from 'express-prom-bundle';
import { rateLimit } from 'express-rate-limit';
import CircuitBreaker from 'opossum';
import { Registry } from 'prom-client';
import { breakwaterVariant, LIMIT } from './variant.mjs';

const variant = process.argv[2] ?? 'bare';
const app = express();
if (process.env.BENCH_HEAP_ROUTE) {
  // For the memory suite (run with --expose-gc): the heap after a full collection.
  app.get('/__heap', (_req, res) => {
    globalThis.gc();
    res.json({ heapUsed: process.memoryUsage().heapUsed });
  });
}
const hello = (_req, res) => {
  res.send('hello');
};

if (variant === 'bare') {
  app.get('/hello', hello);
} else if (variant === 'breakwater' || variant.startsWith('breakwater:')) {
  const { options, route } = breakwaterVariant(variant);
  const bw = breakwater(options);
  app.use(bw.middleware());
  app.get('/hello', bw.route(route), hello);
} else if (variant === 'peer') {
  // The stack a user assembles from the usual packages, configured for parity: request
  // metrics labelled by method, route and status; a rate limit by IP with headers; a
  // timeout; a breaker (opossum, with `capacity` as its bulkhead) judging each response.
  const metrics = promBundle({
    includeMethod: true,
    includePath: true,
    promRegistry: new Registry(),
  });
  const breaker = new CircuitBreaker(
    (_req, res, next) =>
      new Promise((resolve, reject) => {
        res.once('finish', () => (res.statusCode >= 500 ? reject(new Error('5xx')) : resolve()));
        res.once('close', resolve);
        next();
      }),
    { timeout: false, capacity: 1000, errorThresholdPercentage: 50 },
  );
  app.use(metrics);
  app.get(
    '/hello',
    rateLimit({ windowMs: 1000, limit: LIMIT }),
    connectTimeout('10s'),
    (req, res, next) => {
      breaker.fire(req, res, next).catch(() => {});
    },
    (req, _res, next) => {
      if (!req.timedout) next();
    },
    hello,
  );
} else {
  throw new Error(`unknown variant ${variant}`);
}

const server = http.createServer(app);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
