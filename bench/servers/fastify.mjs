/**
 * One Fastify app in one of three dresses, for the HTTP overhead suite:
 *   node servers/fastify.mjs bare | breakwater | peer
 * The route and its handler are the same in all three; only the plugins differ.
 * Prints `{"port":n}` once listening.
 */
import { breakwater } from '@breakwater/fastify';
import circuitBreaker from '@fastify/circuit-breaker';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import Fastify from 'fastify';
import fastifyMetrics from 'fastify-metrics';
import promClient from 'prom-client';
import { breakwaterVariant, LIMIT } from './variant.mjs';

const variant = process.argv[2] ?? 'bare';
const app = Fastify({ keepAliveTimeout: 60_000 });
const hello = async () => 'hello';

if (variant === 'bare') {
  app.get('/hello', hello);
} else if (variant === 'breakwater' || variant.startsWith('breakwater:')) {
  const { options, route } = breakwaterVariant(variant);
  const bw = breakwater(options);
  await app.register(bw.plugin);
  app.get('/hello', { config: { breakwater: route } }, hello);
} else if (variant === 'peer') {
  // The usual Fastify plugins at feature parity: a request-duration histogram by method,
  // route and status on prom-client, as Breakwater's (no summary, no process metrics, no
  // endpoint); a load guard that never trips here; a rate limit by IP with its headers;
  // Fastify's own handler timeout; a breaker on the route judging each response.
  await app.register(fastifyMetrics, {
    promClient,
    endpoint: null,
    defaultMetrics: { enabled: false },
    routeMetrics: { enabled: { histogram: true, summary: false } },
  });
  // Fastify has no concurrency cap of its own; under-pressure is its load shedder. Its
  // thresholds sit far above what a loaded, shared machine reaches.
  await app.register(underPressure, { maxEventLoopDelay: 10_000 });
  await app.register(rateLimit, { max: LIMIT, timeWindow: 1000 });
  await app.register(circuitBreaker, { timeout: 10_000, threshold: 5 });
  app.get('/hello', { handlerTimeout: 10_000, preHandler: app.circuitBreaker() }, hello);
} else {
  throw new Error(`unknown variant ${variant}`);
}

await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
