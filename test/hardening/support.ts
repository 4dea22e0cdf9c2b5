/**
 * Helpers for the hardening catalogue: one app per framework flavor (Express 5, Express 4,
 * Koa 3, Koa 2, Fastify 5, Hono 4) with native handlers (the fault cases need what each
 * framework really does with a throw, a rejection, `next(err)`, a stream), trust-proxy
 * switches, a private metrics registry, and raw-socket clients that count what actually
 * reaches the wire.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net, { type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type BreakwaterOptions, MemoryStore, type RateLimitDecision } from '@breakwater/core';
import type { RateLimitWindow } from '@breakwater/core/extend';
import { type ExpressBreakwater, breakwater as expressBreakwater } from '@breakwater/express';
import { type FastifyBreakwater, breakwater as fastifyBreakwater } from '@breakwater/fastify';
import { type HonoBreakwater, breakwater as honoBreakwater } from '@breakwater/hono';
import { type KoaBreakwater, breakwater as koaBreakwater } from '@breakwater/koa';
import { createAdaptorServer } from '@hono/node-server';
import Router from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import Fastify, { type FastifyInstance } from 'fastify';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { Registry } from 'prom-client';
import { until as baseUntil } from '../helpers/apps.js';
import { parseExposition, type Sample } from '../metrics/support.js';

export type Kind = 'express' | 'koa' | 'fastify' | 'hono';
export type ExpressApp = ReturnType<typeof express5>;
export type KoaApp = Koa3;

export interface HFlavor {
  name: string;
  kind: Kind;
  major: number;
}

export const hflavors: HFlavor[] = [
  { name: 'express 5', kind: 'express', major: 5 },
  { name: 'express 4', kind: 'express', major: 4 },
  { name: 'koa 3', kind: 'koa', major: 3 },
  { name: 'koa 2', kind: 'koa', major: 2 },
  { name: 'fastify 5', kind: 'fastify', major: 5 },
  { name: 'hono 4', kind: 'hono', major: 4 },
];

/** Any Breakwater instance of the four adapters. */
export type AnyBreakwater = ExpressBreakwater | KoaBreakwater | FastifyBreakwater | HonoBreakwater;

export interface Setup {
  /** Breakwater options; a private registry is added unless one is given. */
  bw?: BreakwaterOptions;
  /**
   * Express `trust proxy` value, Fastify's `trustProxy`, or Koa `app.proxy = true` when
   * truthy. Hono has no such setting (the key is always the socket's peer).
   */
  trustProxy?: boolean | string | number;
  /** Address to listen on. Default 127.0.0.1; `'::'` for a dual-stack server. */
  host?: string;
  /** Node's `maxHeaderSize` for the server (default Node's 16 KiB). */
  maxHeaderSize?: number;
  express?(app: ExpressApp, bw: ExpressBreakwater): void;
  koa?(router: Router, bw: KoaBreakwater, app: KoaApp): void;
  fastify?(app: FastifyInstance, bw: FastifyBreakwater): void;
  hono?(app: Hono, bw: HonoBreakwater): void;
}

export interface HApp {
  flavor: HFlavor;
  url: string;
  port: number;
  server: http.Server;
  registry: Registry;
  bw: AnyBreakwater;
  /** Errors that reached the app's last-resort error handler. */
  appErrors: unknown[];
  scrape(): Promise<Sample[]>;
  close(): Promise<void>;
}

async function listen(server: http.Server, host = '127.0.0.1'): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

export async function serve(flavor: HFlavor, setup: Setup): Promise<HApp> {
  const registry = new Registry();
  const options: BreakwaterOptions = { registry, ...setup.bw };
  const appErrors: unknown[] = [];
  let bw: AnyBreakwater;
  let handler: http.RequestListener;
  const serverOptions: http.ServerOptions = setup.maxHeaderSize ? { maxHeaderSize: setup.maxHeaderSize } : {};
  /** The status a thrown error asks for (4xx and 5xx), else 500. */
  const statusOf = (err: unknown): number => {
    const status =
      (err as { status?: unknown; statusCode?: unknown } | null)?.status ??
      (err as { statusCode?: unknown } | null)?.statusCode;
    return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
  };
  if (flavor.kind === 'fastify') {
    const fbw = fastifyBreakwater(options as never);
    bw = fbw;
    let server!: http.Server;
    const app = Fastify({
      ...(setup.trustProxy !== undefined ? { trustProxy: setup.trustProxy as never } : {}),
      serverFactory: (h) => (server = http.createServer(serverOptions, h)),
    });
    await app.register(fbw.plugin);
    app.get('/metrics', fbw.metrics());
    // Last-resort handler that logs nothing: answers 500, or the status the error asks for.
    app.setErrorHandler((err, _request, reply) => {
      appErrors.push(err);
      reply.code(statusOf(err)).send({ error: 'internal' });
    });
    setup.fastify?.(app, fbw);
    await app.ready();
    const port = await listen(server, setup.host);
    return happ(flavor, server, port, registry, bw, appErrors, () => app.close());
  }
  if (flavor.kind === 'hono') {
    const hbw = honoBreakwater(options as never);
    bw = hbw;
    const app = new Hono();
    app.onError((err, c) => {
      appErrors.push(err);
      return c.json({ error: 'internal' }, statusOf(err) as ContentfulStatusCode);
    });
    app.use(hbw.middleware());
    app.get('/metrics', hbw.metrics());
    setup.hono?.(app, hbw);
    const server = createAdaptorServer({ fetch: app.fetch, serverOptions }) as http.Server;
    const port = await listen(server, setup.host);
    return happ(flavor, server, port, registry, bw, appErrors);
  }
  if (flavor.kind === 'express') {
    const express = flavor.major === 5 ? express5 : (express4 as unknown as typeof express5);
    const ebw = expressBreakwater(options as never);
    bw = ebw;
    const app = express();
    if (setup.trustProxy !== undefined) app.set('trust proxy', setup.trustProxy);
    app.use(ebw.middleware());
    app.get('/metrics', ebw.metrics());
    setup.express?.(app, ebw);
    // Last-resort handler that logs nothing: answers 500, or cuts a response already begun.
    app.use((err: unknown, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
      appErrors.push(err);
      if (res.headersSent) res.destroy();
      else {
        const status = (err as { status?: unknown }).status;
        res
          .status(typeof status === 'number' && status >= 400 && status < 600 ? status : 500)
          .json({ error: 'internal' });
      }
    });
    handler = app;
  } else {
    const Koa = flavor.major === 3 ? Koa3 : (Koa2 as unknown as typeof Koa3);
    const kbw = koaBreakwater(options as never);
    bw = kbw;
    const app = new Koa();
    app.silent = true;
    if (setup.trustProxy) app.proxy = true;
    app.on('error', (e) => appErrors.push(e));
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (e) {
        appErrors.push(e);
        const status = (e as { status?: unknown }).status;
        ctx.status = typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
        ctx.body = { error: 'internal' };
      }
    });
    app.use(kbw.middleware());
    const router = new Router();
    router.get('/metrics', kbw.metrics());
    setup.koa?.(router, kbw, app);
    app.use(router.routes());
    handler = app.callback();
  }
  const server = http.createServer(serverOptions, handler);
  const port = await listen(server, setup.host);
  return happ(flavor, server, port, registry, bw, appErrors);
}

function happ(
  flavor: HFlavor,
  server: http.Server,
  port: number,
  registry: Registry,
  bw: AnyBreakwater,
  appErrors: unknown[],
  closeApp?: () => Promise<unknown>,
): HApp {
  const url = `http://127.0.0.1:${port}`;
  return {
    flavor,
    url,
    port,
    server,
    registry,
    bw,
    appErrors,
    async scrape() {
      return parseExposition(await registry.metrics());
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await closeApp?.();
      await bw.close();
    },
  };
}

/** What came back on one raw connection. */
export interface RawResult {
  /** Everything received. */
  text: string;
  /** Status codes of every status line seen, in order. */
  statuses: number[];
  /** The socket ended or was closed by the server. */
  closed: boolean;
  /** A socket error (ECONNRESET when the server destroys it). */
  error?: string;
  ms: number;
}

/**
 * Sends `payload` (one or more raw HTTP requests) on a fresh socket and collects the
 * bytes for `waitMs` or until the server closes. Status lines are counted, so a second
 * response to one request, or none, shows.
 */
export function raw(
  port: number,
  payload: string | Buffer,
  opts: { waitMs?: number; destroyAfterMs?: number; untilStatuses?: number } = {},
): Promise<RawResult> {
  const { waitMs = 1000, destroyAfterMs, untilStatuses } = opts;
  const t0 = Date.now();
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let text = '';
    let error: string | undefined;
    let settled = false;
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      sock.destroy();
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ text, statuses, closed, ...(error ? { error } : {}), ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => done(false), waitMs);
    const killer = destroyAfterMs === undefined ? undefined : setTimeout(() => done(false), destroyAfterMs);
    sock.on('connect', () => sock.write(payload));
    sock.on('data', (d) => {
      text += d.toString('latin1');
      if (untilStatuses !== undefined) {
        const n = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].length;
        // Wait a little after the last expected response for anything extra.
        if (n >= untilStatuses) setTimeout(() => done(false), 60);
      }
    });
    sock.on('error', (e) => {
      error = (e as NodeJS.ErrnoException).code ?? e.message;
    });
    sock.on('close', () => done(true));
  });
}

/** A GET request in raw form. */
export function rawGet(path: string, headers: Record<string, string> = {}, keepAlive = false): string {
  let s = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}\r\n`;
  if (!keepAlive) s += 'Connection: close\r\n';
  return `${s}\r\n`;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

/** One request with Node's client (no agent reuse); resolves with status and body, or rejects on a socket error. */
export function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body, ms: Date.now() - t0 }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export { gate, sleep } from '../helpers/apps.js';

/** The catalogue's {@link baseUntil}, with a longer default bound (3 s). */
export function until(fn: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  return baseUntil(fn, ms, what);
}

/** The value of one sample (undefined when absent). */
export function sample(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

/** A memory store that records every key it is asked about (as a shared store would see it). */
export class SpyStore extends MemoryStore {
  readonly keys: string[] = [];
  override consume(key: string, windows: readonly RateLimitWindow[], cost: number): RateLimitDecision {
    this.keys.push(key);
    return super.consume(key, windows, cost);
  }
}

const root = fileURLToPath(new URL('../..', import.meta.url));

/** esbuild's own binary (the pnpm .bin shim cannot run an optimized native install). */
function esbuildBinary(): string {
  const fromVitest = createRequire(createRequire(import.meta.url).resolve('vitest/package.json'));
  let pkg: string;
  try {
    pkg = fromVitest.resolve('esbuild/package.json');
  } catch {
    pkg = createRequire(fromVitest.resolve('vite/package.json')).resolve('esbuild/package.json');
  }
  return join(dirname(pkg), 'bin', 'esbuild');
}

/**
 * Bundles `entry` (an .mjs file) against the TypeScript sources of the packages, as the
 * tests use them, into `outfile`. Framework and client packages stay external and resolve
 * from the repository's node_modules.
 */
export async function bundle(entry: string, outfile: string): Promise<void> {
  await promisify(execFile)(esbuildBinary(), [
    entry,
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--log-level=error',
    `--outfile=${outfile}`,
    // The packages' `source` export: their TypeScript, every entry point of each.
    '--conditions=source',
    // CommonJS dependencies bundled into ESM still call require().
    "--banner:js=import { createRequire as __bwCreateRequire } from 'node:module'; const require = __bwCreateRequire(import.meta.url);",
    '--external:undici',
    '--external:prom-client',
    '--external:express',
    '--external:koa',
    '--external:@koa/router',
    '--external:fastify',
    '--external:hono',
    '--external:@hono/node-server',
    '--external:ioredis',
    `--alias:generic-pool=${join(root, 'packages/redis-pool/node_modules/generic-pool')}`,
  ]);
}

export interface ChildResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** True when it had to be killed after `timeoutMs`. */
  killed: boolean;
}

/** Runs `file` in a child Node process (cwd: the repository root, so externals resolve). */
export function runNode(
  file: string,
  args: string[],
  opts: { nodeArgs?: string[]; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<ChildResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), file, ...args], {
      cwd: root,
      env: { ...process.env, NODE_PATH: join(root, 'node_modules'), ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0, killed });
    });
  });
}

/** A scratch directory under the repository (so bare imports resolve from its node_modules). */
export function scratchDir(label: string): string {
  const dir = join(root, 'build', 'hardening');
  mkdirSync(dir, { recursive: true });
  return mkdtempSync(join(dir, `${label}-`));
}

export { root as repoRoot };
