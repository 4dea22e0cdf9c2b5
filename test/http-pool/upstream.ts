import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse, up: Upstream) => void;

/**
 * A real HTTP upstream on 127.0.0.1 for the tests: counts hits per path, remembers the
 * requests it saw, notices sockets closed under a running request, and can be stopped and
 * started again on the same port (an upstream going down and coming back).
 */
export class Upstream {
  server: Server | undefined;
  port = 0;
  hits = 0;
  readonly hitsByPath = new Map<string, number>();
  readonly seen: IncomingMessage[] = [];
  /** Requests whose socket closed before the response was sent. */
  abortedRequests = 0;
  private readonly sockets = new Set<Socket>();
  private readonly pending = new Set<ServerResponse>();

  constructor(public handler: Handler) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  count(path: string): number {
    return this.hitsByPath.get(path) ?? 0;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      this.hits++;
      this.hitsByPath.set(path, (this.hitsByPath.get(path) ?? 0) + 1);
      this.seen.push(req);
      this.pending.add(res);
      res.on('close', () => {
        this.pending.delete(res);
        if (!res.writableFinished) this.abortedRequests++;
      });
      this.handler(req, res, this);
    });
    server.keepAliveTimeout = 5_000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Stops listening and cuts every open connection (the upstream dies). */
  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    for (const res of this.pending) res.destroy();
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

export async function upstream(handler: Handler): Promise<Upstream> {
  return new Upstream(handler).start();
}

/** Answers 200 with JSON `{ path }`. */
export const ok: Handler = (req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ path: req.url }));
};

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 5 ms until it holds or `ms` passes; returns whether it held. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 2_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(5);
  }
  return cond();
}
