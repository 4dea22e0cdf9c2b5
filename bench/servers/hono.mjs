/**
 * One Hono app on @hono/node-server in one of three dresses, for the HTTP overhead suite:
 *   node servers/hono.mjs bare | breakwater | peer
 * The route and its handler are the same in all three; only the middleware differs.
 * Prints `{"port":n}` once listening.
 */
import { breakwater } from '@breakwater/hono';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { prometheus } from '@hono/prometheus';
import { Hono } from 'hono';
import { timeout } from 'hono/timeout';
import { rateLimiter } from 'hono-rate-limiter';
import CircuitBreaker from 'opossum';
import { Registry } from 'prom-client';
import { breakwaterVariant, LIMIT } from './variant.mjs';

const variant = process.argv[2] ?? 'bare';
const app = new Hono();
const hello = (c) => c.text('hello');

if (variant === 'bare') {
  app.get('/hello', hello);
} else if (variant === 'breakwater' || variant.startsWith('breakwater:')) {
  const { options, route } = breakwaterVariant(variant);
  const bw = breakwater(options);
  app.use(bw.middleware());
  app.get('/hello', bw.route(route), hello);
} else if (variant === 'peer') {
  // The usual Hono middleware at feature parity: @hono/prometheus (duration histogram and
  // request counter by method, route and status); hono-rate-limiter keyed by the socket's
  // address, as Breakwater keys it, with the draft-6 RateLimit headers; hono/timeout; an
  // opossum breaker (its `capacity` as the bulkhead) around the rest of the chain.
  const { registerMetrics } = prometheus({ registry: new Registry() });
  const breaker = new CircuitBreaker((next) => next(), {
    timeout: false,
    capacity: 1000,
    errorThresholdPercentage: 50,
  });
  app.use(registerMetrics);
  app.get(
    '/hello',
    rateLimiter({
      windowMs: 1000,
      limit: LIMIT,
      keyGenerator: (c) => getConnInfo(c).remote.address ?? '',
    }),
    timeout(10_000),
    (_c, next) => breaker.fire(next),
    hello,
  );
} else {
  throw new Error(`unknown variant ${variant}`);
}

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`${JSON.stringify({ port: info.port })}\n`);
});
server.keepAliveTimeout = 60_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
