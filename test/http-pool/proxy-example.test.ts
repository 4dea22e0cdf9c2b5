/**
 * The streaming proxy example (examples/proxy): downloads and uploads pass through whole
 * and with both sides' backpressure, a client that leaves aborts the upstream request and
 * frees its connection, an unreachable upstream is a 502 problem, and a 200 MiB download
 * keeps the proxy's memory flat (measured in a child process of its own).
 */
import { createHash } from 'node:crypto';
import { get, type IncomingMessage, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { METER, type MemoryFigures, mib, root, startChild } from './child.js';
import { until } from './upstream.js';

const MiB = 1024 * 1024;

interface FileUpstream {
  url: string;
  stats: { downloads: number; cutShort: number; bytesSent: number; uploads: number };
  close(): Promise<void>;
}
interface Proxy {
  url: string;
  pool: { stats(): { inFlight: number; active: number; pending: number } };
  close(): Promise<void>;
}
const example = (file: string) => new URL(`../../examples/proxy/${file}`, import.meta.url).href;
const { startFileUpstream, pattern } = (await import(example('upstream.mjs'))) as {
  startFileUpstream(o?: { port?: number }): Promise<FileUpstream>;
  pattern(offset: number, length: number): Buffer;
};
const { startProxy } = (await import(example('app.mjs'))) as {
  startProxy(o: { upstream: string }): Promise<Proxy>;
};

/**
 * GETs `url`, handing each chunk to `onChunk` (return false to leave, a number to stop
 * reading for that many ms); resolves with the response and byte count.
 */
function download(
  url: string,
  onChunk: (c: Buffer, offset: number) => boolean | number | undefined = () => true,
): Promise<{ res: IncomingMessage; bytes: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        const go = onChunk(c, bytes);
        bytes += c.length;
        if (go === false) {
          req.destroy();
          resolve({ res, bytes, complete: false });
        } else if (typeof go === 'number') {
          res.pause();
          setTimeout(() => res.resume(), go);
        }
      });
      res.on('end', () => resolve({ res, bytes, complete: res.complete }));
      res.on('error', () => resolve({ res, bytes, complete: false }));
    });
    req.on('error', reject);
  });
}

describe('the proxy example', () => {
  let store: FileUpstream;
  let proxy: Proxy;
  beforeAll(async () => {
    store = await startFileUpstream();
    proxy = await startProxy({ upstream: store.url });
  });
  afterAll(async () => {
    await proxy?.close();
    await store?.close();
  });

  test('a download passes through whole, its length forwarded', async () => {
    let intact = true;
    const { res, bytes, complete } = await download(
      `${proxy.url}/files/a.bin?size=${3 * MiB + 17}`,
      (c, at) => {
        intact &&= c.equals(pattern(at, c.length));
        return true;
      },
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(3 * MiB + 17));
    expect(complete).toBe(true);
    expect(bytes).toBe(3 * MiB + 17);
    expect(intact).toBe(true);
    // The pool's request histogram saw the call end with its body.
    const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
    expect(metrics).toMatch(
      /breakwater_pool_request_duration_seconds_count\{pool="files",method="GET",status_class="2xx"\} [1-9]/,
    );
  });

  test('a client that leaves mid-download aborts the upstream request and frees the connection', async () => {
    const before = store.stats.cutShort;
    const sentBefore = store.stats.bytesSent;
    const { bytes, complete } = await download(
      `${proxy.url}/files/big.bin?size=${1024 * MiB}`,
      (_c, at) => at < 2 * MiB,
    );
    expect(complete).toBe(false);
    expect(bytes).toBeGreaterThan(2 * MiB);
    expect(await until(() => store.stats.cutShort === before + 1, 3_000)).toBe(true);
    expect(await until(() => proxy.pool.stats().inFlight === 0)).toBe(true);
    expect(proxy.pool.stats()).toMatchObject({ inFlight: 0, active: 0, pending: 0 });
    // Backpressure held the upstream near the client's pace: nowhere near the gigabyte.
    expect(store.stats.bytesSent - sentBefore).toBeLessThan(64 * MiB);
  });

  test('an upload streams through to the upstream whole', async () => {
    const size = 5 * MiB + 3;
    const body = pattern(0, size);
    const res = await new Promise<{ status: number; json: unknown }>((resolve, reject) => {
      const req = request(
        `${proxy.url}/files/up.bin`,
        { method: 'PUT', agent: false, headers: { 'content-type': 'application/octet-stream' } },
        (r) => {
          let text = '';
          r.on('data', (c) => (text += c));
          r.on('end', () => resolve({ status: r.statusCode!, json: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      // In pieces, chunked: the proxy streams it on rather than reading it whole first.
      for (let i = 0; i < size; i += 256 * 1024) req.write(body.subarray(i, i + 256 * 1024));
      req.end();
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ bytes: size, sha256: createHash('sha256').update(body).digest('hex') });
  });

  test('an unreachable upstream is a 502 problem', async () => {
    const dead = await startFileUpstream();
    const url = dead.url;
    await dead.close();
    const p = await startProxy({ upstream: url });
    try {
      const r = await fetch(`${p.url}/files/x?size=10`);
      expect(r.status).toBe(502);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(await r.json()).toMatchObject({ status: 502, code: 'ECONNREFUSED' });
    } finally {
      await p.close();
    }
  });
});

const proxyScript = (upstreamUrl: string) => `
import { createInterface } from 'node:readline';
import { startProxy } from ${JSON.stringify(`${root}examples/proxy/app.mjs`)};
${METER}
const proxy = await startProxy({ upstream: ${JSON.stringify(upstreamUrl)} });
console.log(JSON.stringify({ url: proxy.url }));
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'baseline') console.log(JSON.stringify(meter.baseline()));
  else if (line === 'report') console.log(JSON.stringify({ ...meter.report(), stats: proxy.pool.stats() }));
  else if (line === 'close') break;
}
process.stdin.destroy();
await proxy.close();
console.log(JSON.stringify({ closed: true }));
`;

interface Report {
  baseline: MemoryFigures;
  peak: MemoryFigures;
  after: MemoryFigures;
  stats: { inFlight: number };
}

describe('the proxy example under a 200 MiB download', () => {
  let store: FileUpstream;
  beforeAll(async () => {
    store = await startFileUpstream();
  });
  afterAll(async () => {
    await store?.close();
  });

  /** Peak growth of the proxy's heap + buffers; a proxy that buffered the body would need 200 MiB. */
  const BOUND = 64 * MiB;

  test(`streams it with the proxy's memory flat (growth under ${mib(BOUND)})`, async () => {
    await using child = await startChild(proxyScript(store.url), ['--expose-gc']);
    const { url } = await child.next<{ url: string }>();
    // Warm up, so the baseline holds the proxy's own allocations.
    await download(`${url}/files/warm.bin?size=${4 * MiB}`);
    child.send('baseline');
    await child.next();
    const t0 = Date.now();
    // A client that stops reading for a while: without backpressure through the proxy, the
    // upstream's bytes would pile up in it meanwhile.
    let paused = false;
    const { res, bytes, complete } = await download(`${url}/files/big.bin?size=${200 * MiB}`, (_c, at) => {
      if (paused || at < 20 * MiB) return true;
      paused = true;
      return 500;
    });
    const ms = Date.now() - t0;
    child.send('report');
    const r = await child.next<Report>();
    child.send('close');
    expect(await child.next()).toEqual({ closed: true });
    expect(await child.exit(10_000), child.stderr()).toBe(0);
    const grew = r.peak.heapUsed - r.baseline.heapUsed + (r.peak.arrayBuffers - r.baseline.arrayBuffers);
    console.log(
      `[heap] proxy, 200 MiB in ${ms} ms: heapUsed ${mib(r.baseline.heapUsed)} → peak ${mib(r.peak.heapUsed)}` +
        ` → after GC ${mib(r.after.heapUsed)}; buffers ${mib(r.baseline.arrayBuffers)} → peak ${mib(r.peak.arrayBuffers)}` +
        ` → after GC ${mib(r.after.arrayBuffers)}; rss ${mib(r.baseline.rss)} → peak ${mib(r.peak.rss)};` +
        ` growth ${mib(grew)} (bound ${mib(BOUND)})`,
    );
    expect(res.statusCode).toBe(200);
    expect(complete).toBe(true);
    expect(bytes).toBe(200 * MiB);
    expect(grew).toBeLessThan(BOUND);
    expect(r.peak.heapUsed - r.baseline.heapUsed).toBeLessThan(16 * MiB);
    // Nothing kept once it is over.
    expect(
      r.after.heapUsed + r.after.arrayBuffers - r.baseline.heapUsed - r.baseline.arrayBuffers,
    ).toBeLessThan(4 * MiB);
    expect(r.stats.inFlight).toBe(0);
  });
});
