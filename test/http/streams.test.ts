/**
 * Streaming answers (SSE) under a route timeout with `firstByte`/`idle`, in Express and Koa
 * on real servers: a stream that keeps writing outlives the header deadline, one that goes
 * silent is cut cleanly after the idle bound with its last event intact, a client leaving
 * releases the bulkhead slot at once, the breaker counts an idle cut as a timeout, and the
 * metrics read from a real scrape agree with what the client received.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { ConfigError, type RoutePolicy } from '@breakwater/core';
import { breakwater as expressBreakwater } from '@breakwater/express';
import { breakwater as fastifyBreakwater } from '@breakwater/fastify';
import { breakwater as koaBreakwater } from '@breakwater/koa';
import Router from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, test } from 'vitest';
import { until } from '../helpers/apps.js';

/** What the handlers do, from the query: `n` events, one every `every` ms, silent after `silentAfter`. */
interface Plan {
  n: number;
  every: number;
  /** After this many events the handler writes nothing more and waits for its signal. */
  silentAfter: number;
  /** Milliseconds before the headers go out. */
  delay: number;
  /** After this many events the stream fails (Express: `res.destroy(err)`; Koa: the generator throws). */
  fail: number;
  /** After this many events the handler pauses `pause` ms, then goes on. */
  pauseAt: number;
  pause: number;
  /** The handler ignores its signal (a badly behaved one). */
  deaf: boolean;
}

function planOf(q: Record<string, unknown>): Plan {
  const num = (k: string, d: number) => (q[k] === undefined ? d : Number(q[k]));
  return {
    n: num('n', 10),
    every: num('every', 100),
    silentAfter: num('silentAfter', Number.POSITIVE_INFINITY),
    delay: num('delay', 0),
    fail: num('fail', Number.POSITIVE_INFINITY),
    pauseAt: num('pauseAt', Number.POSITIVE_INFINITY),
    pause: num('pause', 0),
    deaf: q.deaf === '1',
  };
}

const event = (i: number) => `id: ${i}\ndata: {"n":${i}}\n\n`;

/** What a handler saw of its signal. */
interface Seen {
  abortedAt?: number;
  reason?: unknown;
  ended?: boolean;
  /** Koa: the body's generator finished (ended, or was stopped). */
  settled?: boolean;
}

interface StreamApp {
  url: string;
  registry: Registry;
  seen: Seen[];
  core: { guards: readonly { name: string; bulkhead?: { activeCount: number } | undefined }[] };
  close(): Promise<void>;
}

type Make = (routes: Record<string, RoutePolicy>) => Promise<StreamApp>;

async function listen(server: http.Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closer(server: http.Server, bw: { close(): Promise<void> }): () => Promise<void> {
  return async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await bw.close();
  };
}

/** Express: the handler writes SSE on `res` itself, on a timer. */
function expressApp(express: typeof express5): Make {
  return async (routes) => {
    const registry = new Registry();
    const bw = expressBreakwater({ registry });
    const app = express();
    app.use(bw.middleware());
    app.get('/metrics', bw.metrics());
    const seen: Seen[] = [];
    for (const [path, policy] of Object.entries(routes)) {
      app.get(path, bw.route(policy), (req, res) => {
        const p = planOf(req.query as Record<string, unknown>);
        const s: Seen = {};
        seen.push(s);
        const signal = req.breakwater!.signal;
        let i = 0;
        let timer: NodeJS.Timeout | undefined;
        const stop = () => clearInterval(timer);
        signal.addEventListener('abort', () => {
          s.abortedAt = Date.now();
          s.reason = signal.reason;
          if (p.deaf) return;
          stop();
          // A well-behaved handler ends its response when told: after a cut this is a no-op.
          res.end();
        });
        const tick = () => {
          if (i >= p.n) {
            stop();
            s.ended = true;
            return void res.end();
          }
          res.write(event(i++));
          if (i >= p.silentAfter) stop();
          if (i >= p.fail) {
            stop();
            // As a failing upstream does, on a later turn than the last write.
            setImmediate(() => res.destroy(new Error('upstream broke')));
          }
          if (i === p.pauseAt) {
            stop();
            setTimeout(() => {
              timer = setInterval(tick, p.every);
            }, p.pause);
          }
        };
        const begin = () => {
          if (signal.aborted) return;
          res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
          timer = setInterval(tick, p.every);
        };
        if (p.delay > 0) setTimeout(begin, p.delay);
        else begin();
      });
    }
    const server = http.createServer(app);
    return { url: await listen(server), registry, seen, core: bw.core, close: closer(server, bw) };
  };
}

/** The events of `p` as an async generator (Koa's and Fastify's bodies); `s` records how it ended. */
async function* sseSource(p: Plan, s: Seen, signal: AbortSignal): AsyncGenerator<string> {
  const opts = p.deaf ? {} : { signal };
  try {
    if (p.delay > 0) await sleepFor(p.delay, undefined, opts);
    for (let i = 0; i < p.n; i++) {
      if (i > 0 || p.delay === 0) await sleepFor(p.every, undefined, opts);
      yield event(i);
      if (i + 1 >= p.fail) throw new Error('upstream broke');
      if (i + 1 === p.pauseAt) await sleepFor(p.pause, undefined, opts);
      if (i + 1 >= p.silentAfter) await sleepFor(60_000, undefined, { signal });
    }
    s.ended = true;
  } finally {
    s.settled = true;
  }
}

/** Koa: the handler answers with an async generator as `ctx.body`. */
function koaApp(Koa: typeof Koa3): Make {
  return async (routes) => {
    const registry = new Registry();
    const bw = koaBreakwater({ registry });
    const app = new Koa();
    app.silent = true;
    app.use(bw.middleware());
    const router = new Router();
    router.get('/metrics', bw.metrics());
    const seen: Seen[] = [];
    for (const [path, policy] of Object.entries(routes)) {
      router.get(path, bw.route(policy), async (ctx) => {
        const p = planOf(ctx.query);
        const s: Seen = {};
        seen.push(s);
        const signal = ctx.state.breakwater.signal as AbortSignal;
        signal.addEventListener('abort', () => {
          s.abortedAt = Date.now();
          s.reason = signal.reason;
        });
        ctx.set('Cache-Control', 'no-cache');
        // `?node=1`: the same events as a Node stream, which Koa itself can pipe too.
        const events = sseSource(p, s, signal);
        ctx.body = ctx.query.node === '1' ? Readable.from(events) : events;
        // Koa types an async iterable body as JSON: the type goes after the body.
        ctx.type = 'text/event-stream';
      });
    }
    app.use(router.routes());
    const server = http.createServer(app.callback());
    return { url: await listen(server), registry, seen, core: bw.core, close: closer(server, bw) };
  };
}

/** Fastify: the handler sends the events as a Node stream. */
const fastifyApp: Make = async (routes) => {
  const registry = new Registry();
  const bw = fastifyBreakwater({ registry });
  const app = Fastify();
  await app.register(bw.plugin);
  app.get('/metrics', bw.metrics());
  const seen: Seen[] = [];
  for (const [path, policy] of Object.entries(routes)) {
    app.get(path, { onRequest: [bw.route(policy as never)] }, (request, reply) => {
      const p = planOf(request.query as Record<string, unknown>);
      const s: Seen = {};
      seen.push(s);
      const signal = request.breakwater!.signal;
      signal.addEventListener('abort', () => {
        s.abortedAt = Date.now();
        s.reason = signal.reason;
      });
      return reply
        .header('Content-Type', 'text/event-stream')
        .header('Cache-Control', 'no-cache')
        .send(Readable.from(sseSource(p, s, signal)));
    });
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    url,
    registry,
    seen,
    core: bw.core,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
      await bw.close();
    },
  };
};

/** An SSE read: each event with its arrival time, and how the body and the connection ended. */
interface SseRead {
  status: number;
  contentType: string | undefined;
  events: Array<{ id: string; data: string; at: number }>;
  startedAt: number;
  headersAt: number;
  /** The body ended with its terminating chunk (not an abort). */
  clean: boolean;
  endedAt: number;
  /** The connection closed (after the body). */
  socketClosedAt: number | undefined;
  bytes: number;
  body: string;
}

/** Reads an SSE stream; `leaveAfter`: the client disconnects after that many events. */
function readSse(url: string, leaveAfter?: number): Promise<SseRead & { leftAt?: number }> {
  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    const agent = new http.Agent({ keepAlive: true });
    const req = http.get(url, { agent }, (res) => {
      const out: SseRead & { leftAt?: number } = {
        status: res.statusCode ?? 0,
        contentType: res.headers['content-type'],
        events: [],
        startedAt,
        headersAt: Date.now(),
        clean: false,
        endedAt: 0,
        socketClosedAt: undefined,
        bytes: 0,
        body: '',
      };
      let buf = '';
      const socket = res.socket;
      socket.once('close', () => {
        out.socketClosedAt = Date.now();
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        out.bytes += Buffer.byteLength(chunk);
        out.body += chunk;
        buf += chunk;
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const fields = Object.fromEntries(
            block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
          );
          out.events.push({ id: fields.id ?? '', data: fields.data ?? '', at: Date.now() });
          if (leaveAfter !== undefined && out.events.length === leaveAfter) {
            out.leftAt = Date.now();
            req.destroy();
            agent.destroy();
            return resolve(out);
          }
          i = buf.indexOf('\n\n');
        }
      });
      res.on('end', () => {
        // Complete: the body's end was in the message (a terminating chunk), not a cut connection.
        out.clean = res.complete;
        out.endedAt = Date.now();
        // Give the server's close of the connection a moment to arrive.
        setTimeout(() => {
          agent.destroy();
          resolve(out);
        }, 100);
      });
      res.on('aborted', () => {
        out.endedAt = Date.now();
      });
      res.on('error', () => {
        out.endedAt = Date.now();
        agent.destroy();
        resolve(out);
      });
    });
    req.on('error', (e) => {
      agent.destroy();
      if (leaveAfter === undefined) reject(e);
    });
  });
}

async function scrape(app: StreamApp): Promise<string> {
  const r = await fetch(`${app.url}/metrics`);
  return r.text();
}

/** A sample's value from the exposition, e.g. `metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'idle' })`. */
function metric(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && line !== name && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (.+)$/.exec(line);
    if (!m) continue;
    const have = Object.fromEntries(
      [...(m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[2]);
  }
  return undefined;
}

const lastN = (r: SseRead) => Number(JSON.parse(r.events.at(-1)!.data).n);
const gaps = (r: SseRead) => r.events.slice(1).map((e, i) => e.at - r.events[i]!.at);

const flavors: Array<{ name: string; make: Make }> = [
  { name: 'express 5', make: expressApp(express5) },
  { name: 'express 4', make: expressApp(express4 as unknown as typeof express5) },
  { name: 'koa 3', make: koaApp(Koa3) },
  { name: 'koa 2', make: koaApp(Koa2 as unknown as typeof Koa3) },
  { name: 'fastify 5', make: fastifyApp },
];

/** The scaled shape of `timeout: { after: '1s', idle: '2s' }` with an event every 500 ms. */
const SSE: RoutePolicy = {
  timeout: { after: '250ms', idle: '400ms' },
  bulkhead: { maxConcurrent: 2 },
  circuitBreaker: { consecutiveFailures: 1, openFor: '30s' },
};

describe.each(flavors)('$name', ({ name, make }) => {
  let app: StreamApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  test('a stream that keeps writing outlives the header deadline and completes', async () => {
    app = await make({ '/sse': SSE });
    // 20 events 100 ms apart: 2 s, eight times the 250 ms header deadline.
    const r = await readSse(`${app.url}/sse?n=20&every=100`);
    const took = r.endedAt - r.startedAt;
    console.log(
      `[streams] ${name}: completed ${r.events.length} events in ${took} ms (after 250ms, idle 400ms, every 100ms), max gap ${Math.max(...gaps(r))} ms`,
    );
    expect(r.status).toBe(200);
    expect(r.contentType).toMatch(/^text\/event-stream/);
    expect(r.events.map((e) => e.id)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(r.clean).toBe(true);
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(4000);
    await until(() => app!.seen[0]?.ended === true, 1000, 'the handler ended');
    expect(app.seen[0]!.abortedAt).toBeUndefined();

    const text = await scrape(app);
    expect(metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'completed' })).toBe(
      1,
    );
    expect(metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'idle' })).toBe(0);
    expect(metric(text, 'breakwater_stream_bytes_total', { route: 'GET /sse' })).toBe(r.bytes);
    expect(metric(text, 'breakwater_bulkhead_active', { bulkhead: 'GET /sse' })).toBe(0);
    expect(metric(text, 'breakwater_rejections_total', { route: 'GET /sse', reason: 'timeout' })).toBe(0);
    expect(
      metric(text, 'breakwater_circuit_breaker_calls_total', { breaker: 'GET /sse', result: 'success' }),
    ).toBe(1);
    // The request histogram measures to the end of the stream, not to the headers.
    const labels = { method: 'GET', route: '/sse', status_code: '200' };
    expect(metric(text, 'breakwater_http_request_duration_seconds_count', labels)).toBe(1);
    expect(metric(text, 'breakwater_http_request_duration_seconds_sum', labels)).toBeGreaterThan(1.9);
    expect(metric(text, 'breakwater_http_request_duration_seconds_bucket', { ...labels, le: '1' })).toBe(0);

    // A Node stream as the body (Koa; Express's handler writes the same either way).
    const n = await readSse(`${app.url}/sse?n=8&every=50&node=1`);
    expect(n.events.map((e) => e.id)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    expect(n.clean).toBe(true);
    const after = await scrape(app);
    expect(metric(after, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'completed' })).toBe(
      2,
    );
    expect(metric(after, 'breakwater_stream_bytes_total', { route: 'GET /sse' })).toBe(r.bytes + n.bytes);
  });

  test('a stream that goes silent is cut after ~idle, cleanly, its last event intact; the breaker counts a timeout', async () => {
    app = await make({ '/sse': SSE });
    // Three events 100 ms apart, then silence: the cut comes ~400 ms after the third.
    const r = await readSse(`${app.url}/sse?n=20&every=100&silentAfter=3`);
    const last = r.events.at(-1)!;
    const cutAfter = r.endedAt - last.at;
    console.log(
      `[streams] ${name}: silent stream cut ${cutAfter} ms after its last event (idle 400ms); connection closed ${
        r.socketClosedAt === undefined ? 'never' : `${r.socketClosedAt - r.endedAt} ms after the body ended`
      }`,
    );
    expect(r.status).toBe(200);
    expect(r.events.map((e) => e.id)).toEqual(['0', '1', '2']);
    expect(lastN(r)).toBe(2);
    // The body ends after a complete event: nothing partial after it.
    expect(r.body.endsWith('\n\n')).toBe(true);
    expect(r.clean).toBe(true);
    expect(cutAfter).toBeGreaterThanOrEqual(380);
    expect(cutAfter).toBeLessThan(700);
    expect(r.socketClosedAt).toBeDefined();
    // The handler's signal aborted with the cut, as a timeout.
    await until(() => app!.seen[0]?.abortedAt !== undefined, 1000, 'the handler aborted');
    expect(app.seen[0]!.abortedAt! - r.endedAt).toBeLessThan(100);
    expect((app.seen[0]!.reason as { code?: string }).code).toBe('TIMEOUT');

    const text = await scrape(app);
    expect(metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'idle' })).toBe(1);
    expect(metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'completed' })).toBe(
      0,
    );
    expect(metric(text, 'breakwater_stream_bytes_total', { route: 'GET /sse' })).toBe(r.bytes);
    expect(metric(text, 'breakwater_bulkhead_active', { bulkhead: 'GET /sse' })).toBe(0);
    expect(
      metric(text, 'breakwater_circuit_breaker_calls_total', { breaker: 'GET /sse', result: 'failure' }),
    ).toBe(1);
    expect(metric(text, 'breakwater_circuit_breaker_state', { breaker: 'GET /sse' })).toBe(1);
    const breaker = (
      app.core as unknown as { breakers: { get(n: string): { lastFailure?: { code?: string } } } }
    ).breakers.get('GET /sse');
    expect(breaker.lastFailure?.code).toBe('TIMEOUT');
    // The open breaker refuses the next request.
    const next = await fetch(`${app.url}/sse`);
    expect(next.status).toBe(503);
    expect(((await next.json()) as { code: string }).code).toBe('CIRCUIT_OPEN');
  });

  test('a client leaving mid-stream aborts the signal and releases the slot at once', async () => {
    app = await make({ '/sse': { ...SSE, timeout: { after: '250ms', idle: '5s' } } });
    const r = await readSse(`${app.url}/sse?n=1000&every=50`, 3);
    expect(r.events).toHaveLength(3);
    await until(() => app!.seen[0]?.abortedAt !== undefined, 1000, 'the handler aborted');
    const abortedIn = app.seen[0]!.abortedAt! - r.leftAt!;
    expect((app.seen[0]!.reason as { code?: string }).code).toBe('CLIENT_CLOSED');
    // Well before the 5 s idle bound, and before the handler's own end (it never ends).
    let released = -1;
    const deadline = Date.now() + 1000;
    while (Date.now() < deadline) {
      const text = await scrape(app);
      if (metric(text, 'breakwater_bulkhead_active', { bulkhead: 'GET /sse' }) === 0) {
        released = Date.now() - r.leftAt!;
        break;
      }
    }
    console.log(
      `[streams] ${name}: client left after 3 events; signal aborted in ${abortedIn} ms, slot released (scraped) within ${released} ms`,
    );
    expect(abortedIn).toBeLessThan(100);
    expect(released).toBeGreaterThanOrEqual(0);
    expect(released).toBeLessThan(200);
    const text = await scrape(app);
    expect(metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'client_gone' })).toBe(
      1,
    );
    // Nothing held against the breaker: the client's leaving says nothing of the route.
    expect(metric(text, 'breakwater_circuit_breaker_state', { breaker: 'GET /sse' })).toBe(0);
    expect(
      metric(text, 'breakwater_circuit_breaker_calls_total', { breaker: 'GET /sse', result: 'failure' }),
    ).toBe(0);
    // The slot is free: two more streams fit the bulkhead of 2.
    const [a, b] = await Promise.all([
      readSse(`${app.url}/sse?n=3&every=20`),
      readSse(`${app.url}/sse?n=3&every=20`),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(app.core.guards.find((g) => g.name === 'GET /sse')!.bulkhead!.activeCount).toBe(0);
  });

  test('a handler that ignores its signal and writes after the cut: nothing reaches the client, the slot was released once', async () => {
    app = await make({ '/sse': SSE });
    // Three events, a pause twice the idle bound, then seven more the client must never see.
    const r = await readSse(`${app.url}/sse?n=10&every=50&pauseAt=3&pause=800&deaf=1`);
    expect(r.events.map((e) => e.id)).toEqual(['0', '1', '2']);
    expect(r.clean).toBe(true);
    if (name.startsWith('express'))
      await until(() => app!.seen[0]?.ended === true, 3000, 'the deaf handler ended');
    // Koa, Fastify: core stopped the body's source at the cut, so it never ran to its end.
    else {
      await until(() => app!.seen[0]?.settled === true, 3000, 'the body source stopped');
      expect(app.seen[0]!.ended).toBeUndefined();
    }
    const guard = app.core.guards.find((g) => g.name === 'GET /sse')!;
    expect(guard.bulkhead!.activeCount).toBe(0);
    const text = await scrape(app);
    expect(metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'idle' })).toBe(1);
    expect(metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'completed' })).toBe(
      0,
    );
    expect(metric(text, 'breakwater_stream_bytes_total', { route: 'GET /sse' })).toBe(r.bytes);
    expect(metric(text, 'breakwater_bulkhead_active', { bulkhead: 'GET /sse' })).toBe(0);
  });

  test('the slot is held while streams last: a third request finds the bulkhead full', async () => {
    app = await make({ '/sse': SSE });
    const streams = [readSse(`${app.url}/sse?n=8&every=50`), readSse(`${app.url}/sse?n=8&every=50`)];
    await until(
      () => app!.core.guards.find((g) => g.name === 'GET /sse')?.bulkhead?.activeCount === 2,
      1000,
      'two streams running',
    );
    await new Promise((r) => setTimeout(r, 150));
    const third = await fetch(`${app.url}/sse?n=1&every=10`);
    expect(third.status).toBe(503);
    expect(((await third.json()) as { code: string }).code).toBe('BULKHEAD_FULL');
    const done = await Promise.all(streams);
    expect(done.map((r) => r.events.length)).toEqual([8, 8]);
    expect(done.every((r) => r.clean)).toBe(true);
    const again = await readSse(`${app.url}/sse?n=2&every=10`);
    expect(again.status).toBe(200);
    const text = await scrape(app);
    expect(metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'completed' })).toBe(
      3,
    );
    expect(metric(text, 'breakwater_bulkhead_active', { bulkhead: 'GET /sse' })).toBe(0);
  });

  test('a stream that fails mid-way: aborted for the client, an error for the breaker, the slot released', async () => {
    app = await make({ '/sse': SSE });
    const r = await readSse(`${app.url}/sse?n=10&every=50&fail=2`);
    expect(r.status).toBe(200);
    expect(r.events.map((e) => e.id)).toEqual(['0', '1']);
    // Cut short, not ended as if complete.
    expect(r.clean).toBe(false);
    await until(
      () => app!.core.guards.find((g) => g.name === 'GET /sse')?.bulkhead?.activeCount === 0,
      1000,
      'the slot released',
    );
    const text = await scrape(app);
    expect(metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'error' })).toBe(1);
    expect(metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'client_gone' })).toBe(
      0,
    );
    expect(
      metric(text, 'breakwater_circuit_breaker_calls_total', { breaker: 'GET /sse', result: 'failure' }),
    ).toBe(1);
    expect(metric(text, 'breakwater_bulkhead_active', { bulkhead: 'GET /sse' })).toBe(0);
  });

  test('headers later than firstByte: the timeout refusal, and no stream counted', async () => {
    app = await make({
      '/sse': { timeout: { firstByte: '150ms', idle: '1s' }, bulkhead: { maxConcurrent: 1 } },
    });
    const t0 = Date.now();
    const res = await fetch(`${app.url}/sse?n=2&every=20&delay=500`);
    const took = Date.now() - t0;
    expect(res.status).toBe(503);
    expect(((await res.json()) as { code: string }).code).toBe('TIMEOUT');
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(450);
    const text = await scrape(app);
    expect(metric(text, 'breakwater_rejections_total', { route: 'GET /sse', reason: 'timeout' })).toBe(1);
    expect(metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'completed' })).toBe(
      0,
    );
    expect(metric(text, 'breakwater_stream_bytes_total', { route: 'GET /sse' })).toBe(0);
    // The late handler's slot is released when it ends (Express) or its response closes (Koa).
    await until(
      () => app!.core.guards.find((g) => g.name === 'GET /sse')!.bulkhead!.activeCount === 0,
      2000,
      'the slot released',
    );
  });

  test('a route without firstByte/idle: no stream is counted, and the deadline keeps its meaning', async () => {
    app = await make({ '/sse': { timeout: '250ms' } });
    const r = await readSse(`${app.url}/sse?n=20&every=50&node=1`);
    expect(r.status).toBe(200);
    if (!name.startsWith('koa')) {
      // The deadline bounds the whole answer: headers went out in time, then it was cut short.
      expect(r.clean).toBe(false);
      expect(r.events.length).toBeLessThan(8);
    } else {
      // In Koa it bounds the handler, which returned the body at once; Koa pipes all of it.
      expect(r.clean).toBe(true);
      expect(r.events).toHaveLength(20);
    }
    const text = await scrape(app);
    expect(metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'completed' })).toBe(
      undefined,
    );
  });
});

describe('real scale', () => {
  test("timeout { after: '1s', idle: '2s' }, an event every 500 ms for 10 s, completes (Express 5 and Koa 3 at once)", async () => {
    const apps = await Promise.all([
      expressApp(express5)({
        '/sse': { timeout: { after: '1s', idle: '2s' }, bulkhead: { maxConcurrent: 1 } },
      }),
      koaApp(Koa3)({ '/sse': { timeout: { after: '1s', idle: '2s' }, bulkhead: { maxConcurrent: 1 } } }),
    ]);
    try {
      const reads = await Promise.all(apps.map((a) => readSse(`${a.url}/sse?n=20&every=500`)));
      for (const [i, r] of reads.entries()) {
        const took = r.endedAt - r.startedAt;
        console.log(
          `[streams] ${i === 0 ? 'express 5' : 'koa 3'}: real scale, ${r.events.length} events in ${took} ms (after 1s, idle 2s, every 500ms), gaps ${Math.min(...gaps(r))}..${Math.max(...gaps(r))} ms`,
        );
        expect(r.status).toBe(200);
        expect(r.events).toHaveLength(20);
        expect(lastN(r)).toBe(19);
        expect(r.clean).toBe(true);
        expect(took).toBeGreaterThanOrEqual(9900);
        expect(took).toBeLessThan(11_500);
      }
      for (const a of apps) {
        const text = await scrape(a);
        expect(
          metric(text, 'breakwater_streams_ended_total', { route: 'GET /sse', reason: 'completed' }),
        ).toBe(1);
        expect(
          metric(text, 'breakwater_http_request_duration_seconds_sum', {
            method: 'GET',
            route: '/sse',
            status_code: '200',
          }),
        ).toBeGreaterThan(9.9);
      }
    } finally {
      await Promise.all(apps.map((a) => a.close()));
    }
  }, 20_000);
});

describe('options', () => {
  const bad: Array<[string, unknown, string]> = [
    ['both after and firstByte', { after: '1s', firstByte: '1s' }, 'timeout.firstByte'],
    ['idle not a duration', { after: '1s', idle: 'soon' }, 'timeout.idle'],
    ['idle zero', { idle: 0 }, 'timeout.idle'],
    ['firstByte negative', { firstByte: -5, idle: '1s' }, 'timeout.firstByte'],
    ['adaptive with idle', { adaptive: { max: '2s' }, idle: '1s' }, 'timeout.adaptive'],
    ['an unknown key', { after: '1s', idel: '1s' }, 'timeout.idel'],
  ];
  test.each(bad)('%s: a ConfigError naming the option path', (_what, timeout, path) => {
    for (const make of [expressBreakwater, koaBreakwater]) {
      const bw = make({ metrics: false });
      let err: unknown;
      try {
        bw.route({ timeout } as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).path).toMatch(new RegExp(`${path.replace('.', '\\.')}$`));
      void bw.close();
    }
  });
});
