/**
 * Memory under big bodies, measured in a child process of its own (`--expose-gc`): an
 * upstream sending 1 GiB (generated as the socket drains, never stored) to a pool capped at
 * 16 MiB must be refused fast with the typed error while the child's memory (heap and
 * buffers) grows by less than BOUND (64 MiB), whether the body is chunked, announced by
 * `content-length`, or streamed with a per-request cap.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { METER, type MemoryFigures, mib, root, startChild } from './child.js';
import { type Upstream, upstream } from './upstream.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/**
 * How far the child's heap + buffers (peak, garbage not yet collected included) may grow
 * over its baseline for one refused GiB: the 16 MiB held before the refusal, socket reads
 * awaiting collection, and room for a loaded machine; a body read whole would be 1024 MiB.
 */
const BOUND = 64 * MiB;
/** The JavaScript heap alone (the body's bytes live in buffers outside it). */
const HEAP_BOUND = 16 * MiB;
const BLOCK = Buffer.alloc(64 * 1024, 7);

/** Bytes each request path got written before its socket closed. */
const sent = new Map<string, number>();

function gigabyte(res: ServerResponse, path: string, announce: boolean): void {
  if (announce) res.setHeader('content-length', GiB);
  let n = 0;
  const write = () => {
    while (n < GiB && !res.destroyed) {
      n += BLOCK.length;
      sent.set(path, n);
      if (n >= GiB) return void res.end(BLOCK);
      if (!res.write(BLOCK)) return void res.once('drain', write);
    }
  };
  write();
}

let up: Upstream;
beforeAll(async () => {
  up = await upstream((req, res) => {
    const path = req.url!;
    if (path === '/small') return void res.end('warm');
    gigabyte(res, path, path === '/announced');
  });
});
afterAll(async () => {
  await up?.stop();
});

const script = (url: string) => `
import { HttpPool, isPoolResponseTooLargeError } from '@breakwater/http-pool';
${METER}
const pool = new HttpPool({ name: 'big', baseUrl: ${JSON.stringify(url)}, maxResponseSize: 16 * 1024 * 1024 });
// Warm up first, so the baseline holds the pool's own allocations.
await (await pool.get('/small')).text();
const calls = {
  chunked: () => pool.get('/chunked'),
  announced: () => pool.get('/announced'),
  streamed: async () => {
    const r = await pool.get('/streamed', { stream: true, maxResponseSize: 16 * 1024 * 1024 });
    for await (const _ of r.body);
  },
};
for (const [name, call] of Object.entries(calls)) {
  meter.baseline();
  const t0 = performance.now();
  const e = await call().then(() => undefined, (x) => x);
  const ms = Math.round(performance.now() - t0);
  const figures = meter.report();
  const s = pool.stats();
  console.log(JSON.stringify({ name, typed: isPoolResponseTooLargeError(e), code: e?.code, limit: e?.limit, ms, ...figures, inFlight: s.inFlight, active: s.active }));
}
await pool.close();
`;

interface Result {
  name: string;
  typed: boolean;
  code: string;
  limit: number;
  ms: number;
  baseline: MemoryFigures;
  peak: MemoryFigures;
  after: MemoryFigures;
  inFlight: number;
  active: number;
}

test(`1 GiB from the upstream, a 16 MiB cap: refused fast, typed, memory growth under ${mib(BOUND)}`, async () => {
  expect(root).toBeTruthy();
  await using child = await startChild(script(up.url), ['--expose-gc']);
  const results: Result[] = [];
  for (let i = 0; i < 3; i++) results.push(await child.next<Result>(30_000));
  expect(await child.exit(10_000), child.stderr()).toBe(0);
  for (const r of results) {
    const grew = r.peak.heapUsed - r.baseline.heapUsed + (r.peak.arrayBuffers - r.baseline.arrayBuffers);
    console.log(
      `[heap] ${r.name.padEnd(9)} refused in ${r.ms} ms after ${mib(sent.get(`/${r.name}`) ?? 0)} sent of 1024 MiB;` +
        ` heapUsed ${mib(r.baseline.heapUsed)} → peak ${mib(r.peak.heapUsed)} → after GC ${mib(r.after.heapUsed)};` +
        ` buffers ${mib(r.baseline.arrayBuffers)} → peak ${mib(r.peak.arrayBuffers)};` +
        ` rss peak ${mib(r.peak.rss)}; growth ${mib(grew)} (bound ${mib(BOUND)})`,
    );
    expect(r, r.name).toMatchObject({ typed: true, code: 'POOL_RESPONSE_TOO_LARGE', limit: 16 * MiB });
    expect(r.ms, r.name).toBeLessThan(5_000);
    expect(grew, r.name).toBeLessThan(BOUND);
    expect(r.peak.heapUsed - r.baseline.heapUsed, r.name).toBeLessThan(HEAP_BOUND);
    // Refused near the limit, not after the gigabyte: 16 MiB plus socket buffers on both sides.
    expect(sent.get(`/${r.name}`) ?? 0, r.name).toBeLessThan(64 * MiB);
    expect(r.inFlight, r.name).toBe(0);
  }
  // The announced length is refused at the headers, before any body is read.
  expect(sent.get('/announced') ?? 0).toBeLessThan(16 * MiB);
});
