/**
 * The JS cost of a request, without sockets or a load generator: each request is a real
 * IncomingMessage/ServerResponse pair on a discarding in-memory socket, handed to the
 * framework's request listener; N requests at a time, alternating variants.
 *   node bench/inproc.mjs fastify bare breakwater breakwater:limit
 *
 * Besides the bench servers' variants, two reference points: `bare-mw2` (Express, Koa,
 * Hono) is the bare app with two no-op middlewares, an app-wide one and the route's, the
 * floor of any integration built that way; `bare-headers` (Express, Fastify, Koa) is the
 * bare route setting two rate-limit-sized headers itself.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import { breakwaterVariant } from './servers/variant.mjs';

const [framework, ...variants] = process.argv.slice(2).filter((a) => !a.startsWith('--'));

class NullSocket extends Duplex {
  remoteAddress = '10.1.2.3';
  remotePort = 5000;
  encrypted = false;
  bytes = 0;
  _read() {}
  _write(chunk, _enc, cb) {
    this.bytes += chunk.length;
    cb();
  }
  _writev(chunks, cb) {
    for (const c of chunks) this.bytes += c.chunk.length;
    cb();
  }
  setTimeout() {}
  setNoDelay() {}
  setKeepAlive() {}
  address() {
    return { address: '127.0.0.1', family: 'IPv4', port: 80 };
  }
}

function request(listener, socket) {
  return new Promise((resolve) => {
    const req = new IncomingMessage(socket);
    req.method = 'GET';
    req.url = '/hello';
    req.headers = { host: '127.0.0.1', 'user-agent': 'inproc' };
    req.rawHeaders = ['host', '127.0.0.1', 'user-agent', 'inproc'];
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    req.httpVersion = '1.1';
    req.complete = true;
    req.push(null);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = true;
    res.assignSocket(socket);
    // What the server does on finish (resOnFinish): detach, then 'close' on the next tick.
    res.on('finish', () => {
      res.detachSocket(socket);
      req._dump?.();
      process.nextTick(() => {
        res.emit('close');
        resolve(res.statusCode);
      });
    });
    listener(req, res);
  });
}

async function listenerFor(variant) {
  const bw = variant.startsWith('bare') ? undefined : breakwaterVariant(variant);
  if (framework === 'fastify') {
    const { default: Fastify } = await import('fastify');
    let handler;
    // Fastify's request listener, without a server of its own.
    const serverFactory = (h) => {
      handler = h;
      return { on() {}, listen() {}, address() {} };
    };
    const app = Fastify({ serverFactory });
    const hello = async () => 'hello';
    if (variant === 'bare-headers')
      app.get('/hello', async (_req, reply) => {
        reply.header('RateLimit-Policy', '"default";q=1000000000;w=1');
        reply.header('RateLimit', `"default";r=${999999}` + ';t=1');
        return 'hello';
      });
    else if (bw === undefined) app.get('/hello', hello);
    else {
      const { breakwater } = await import('@breakwater/fastify');
      await app.register(breakwater(bw.options).plugin);
      app.get('/hello', { config: { breakwater: bw.route } }, hello);
    }
    await app.ready();
    return handler;
  }
  if (framework === 'express') {
    const { default: express } = await import('express');
    const app = express();
    const hello = (_req, res) => res.send('hello');
    if (variant === 'bare-headers')
      app.get('/hello', (_req, res) => {
        res.setHeader('RateLimit-Policy', '"default";q=1000000000;w=1');
        res.setHeader('RateLimit', `"default";r=${999999};t=1`);
        res.send('hello');
      });
    else if (variant === 'bare-mw2') {
      app.use((_req, _res, next) => next());
      app.get('/hello', (_req, _res, next) => next(), hello);
    } else if (bw === undefined) app.get('/hello', hello);
    else {
      const { breakwater } = await import('@breakwater/express');
      const b = breakwater(bw.options);
      app.use(b.middleware());
      app.get('/hello', b.route(bw.route), hello);
    }
    return app;
  }
  if (framework === 'koa') {
    const { default: Koa } = await import('koa');
    const { default: Router } = await import('@koa/router');
    const app = new Koa();
    const router = new Router();
    const hello = (ctx) => {
      ctx.body = 'hello';
    };
    if (variant === 'bare-headers')
      router.get('/hello', (ctx) => {
        ctx.res.setHeader('RateLimit-Policy', '"default";q=1000000000;w=1');
        ctx.res.setHeader('RateLimit', `"default";r=${999999};t=1`);
        ctx.body = 'hello';
      });
    else if (variant === 'bare-mw2') {
      app.use((_ctx, next) => next());
      router.get('/hello', (_ctx, next) => next(), hello);
    } else if (bw === undefined) router.get('/hello', hello);
    else {
      const { breakwater } = await import('@breakwater/koa');
      const b = breakwater(bw.options);
      app.use(b.middleware());
      router.get('/hello', b.route(bw.route), hello);
    }
    app.use(router.routes());
    return app.callback();
  }
  if (framework === 'hono') {
    const { Hono } = await import('hono');
    const { getRequestListener } = await import('@hono/node-server');
    const app = new Hono();
    const hello = (c) => c.text('hello');
    if (variant === 'bare-mw') {
      app.use(async (_c, next) => {
        await next();
      });
      app.get('/hello', hello);
    } else if (variant === 'bare-mw2') {
      app.use(async (_c, next) => {
        await next();
      });
      app.get('/hello', (_c, next) => next(), hello);
    } else if (bw === undefined) app.get('/hello', hello);
    else {
      const { breakwater } = await import('@breakwater/hono');
      const b = breakwater(bw.options);
      app.use(b.middleware());
      app.get('/hello', b.route(bw.route), hello);
    }
    return getRequestListener(app.fetch);
  }
  throw new Error(`unknown framework ${framework}`);
}

const CONCURRENT = 50;
// Like keep-alive connections: each socket carries one request after another.
async function connection(listener, n) {
  const socket = new NullSocket();
  for (let i = 0; i < n; i++) {
    const status = await request(listener, socket);
    if (status !== 200) throw new Error(`status ${status}`);
  }
}

async function run(listener, n) {
  const t = process.hrtime.bigint();
  const conns = [];
  for (let j = 0; j < CONCURRENT; j++) conns.push(connection(listener, n / CONCURRENT));
  await Promise.all(conns);
  return Number(process.hrtime.bigint() - t) / n;
}

const listeners = {};
for (const v of variants) listeners[v] = await listenerFor(v);
// `--requests=N`: N requests of the one variant, then exit (for instruction counts).
const once = process.argv.find((a) => a.startsWith('--requests='));
if (once !== undefined) {
  await run(listeners[variants[0]], Number(once.split('=')[1]));
  process.exit(0);
}
for (const v of variants) await run(listeners[v], 30_000);
const ns = Object.fromEntries(variants.map((v) => [v, []]));
for (let r = 0; r < 7; r++) for (const v of variants) ns[v].push(await run(listeners[v], 30_000));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const base = median(ns[variants[0]]);
for (const v of variants) {
  const m = median(ns[v]);
  console.log(`${framework} ${v.padEnd(36)} ${m.toFixed(0).padStart(6)} ns/req  +${(m - base).toFixed(0)}`);
}
