/**
 * One Koa app in one of three dresses, for the HTTP overhead suite:
 *   node servers/koa.mjs bare | breakwater | peer
 * The route and its handler are the same in all three; only the middleware differs.
 * Prints `{"port":n}` once listening.
 */
import http from 'node:http';
import { breakwater } from '@breakwater/koa';
import Router from '@koa/router';
import Koa from 'koa';
import CircuitBreaker from 'opossum';
import { Histogram, Registry } from 'prom-client';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { breakwaterVariant, LIMIT } from './variant.mjs';

const variant = process.argv[2] ?? 'bare';
const app = new Koa();
const router = new Router();
const hello = (ctx) => {
  ctx.body = 'hello';
};

if (variant === 'bare') {
  router.get('/hello', hello);
} else if (variant === 'breakwater' || variant.startsWith('breakwater:')) {
  const { options, route } = breakwaterVariant(variant);
  const bw = breakwater(options);
  app.use(bw.middleware());
  router.get('/hello', bw.route(route), hello);
} else if (variant === 'peer') {
  // The usual hand-assembled stack at feature parity: a prom-client histogram by method,
  // route and status; rate-limiter-flexible by IP with the usual headers; a race timeout;
  // an opossum breaker (its `capacity` as the bulkhead) around the rest of the chain.
  const registry = new Registry();
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Request duration',
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry],
  });
  app.use(async (ctx, next) => {
    const end = duration.startTimer();
    try {
      await next();
    } finally {
      end({ method: ctx.method, route: ctx._matchedRoute ?? '<unmatched>', status_code: ctx.status });
    }
  });
  const limiter = new RateLimiterMemory({ points: LIMIT, duration: 1 });
  const rateLimit = async (ctx, next) => {
    try {
      const r = await limiter.consume(ctx.ip);
      ctx.set('RateLimit-Limit', String(LIMIT));
      ctx.set('RateLimit-Remaining', String(r.remainingPoints));
      ctx.set('RateLimit-Reset', String(Math.ceil(r.msBeforeNext / 1000)));
    } catch (r) {
      ctx.status = 429;
      ctx.set('Retry-After', String(Math.ceil(r.msBeforeNext / 1000)));
      ctx.body = 'Too Many Requests';
      return;
    }
    await next();
  };
  const timeout = (ms) => async (_ctx, next) => {
    let timer;
    try {
      await Promise.race([
        next(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { status: 503 })), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
  const breaker = new CircuitBreaker((next) => next(), {
    timeout: false,
    capacity: 1000,
    errorThresholdPercentage: 50,
  });
  router.get('/hello', rateLimit, timeout(10_000), (_ctx, next) => breaker.fire(next), hello);
} else {
  throw new Error(`unknown variant ${variant}`);
}

app.use(router.routes());
const server = http.createServer(app.callback());
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
