/**
 * Suite 5, memory: heap held per distinct rate-limit key in the memory store (and that the
 * store stays within its cap), heap per circuit breaker, and the server's heap over many
 * requests through the full Express stack (it must stay flat).
 */
import { fileURLToPath } from 'node:url';
import { runNode, startLoadGenerator, startServer } from '../lib/proc.mjs';

const worker = fileURLToPath(new URL('./memory-worker.mjs', import.meta.url));
const expressServer = fileURLToPath(new URL('../servers/express.mjs', import.meta.url));

async function measure(args) {
  const out = await runNode(worker, args, { execArgv: ['--expose-gc', '--max-old-space-size=4096'] });
  return JSON.parse(out.trim().split('\n').pop());
}

const MB = 1024 * 1024;

export async function runMemory({ quick, log }) {
  const keys = quick ? 10_000 : 1_000_000;
  const breakers = 1000;
  const requests = quick ? 4_000 : 1_000_000;
  const rows = [];
  const notes = [];
  let met = true;

  const uncapped = await measure(['keys', String(keys), String(keys), 'breakwater']);
  rows.push([
    `${keys.toLocaleString('en')} distinct keys, memory store (cap ${keys.toLocaleString('en')})`,
    'breakwater',
    `${(uncapped.bytes / MB).toFixed(1)} MB`,
    `${Math.round(uncapped.bytesPerKey)} B/key`,
  ]);
  const peerKeys = await measure(['keys', String(keys), '0', 'rate-limiter-flexible']);
  rows.push([
    `${keys.toLocaleString('en')} distinct keys, RateLimiterMemory`,
    'rate-limiter-flexible',
    `${(peerKeys.bytes / MB).toFixed(1)} MB`,
    `${Math.round(peerKeys.bytesPerKey)} B/key`,
  ]);
  const cap = Math.max(1, Math.floor(keys / 10));
  const capped = await measure(['keys', String(keys), String(cap), 'breakwater']);
  rows.push([
    `${keys.toLocaleString('en')} distinct keys, memory store (cap ${cap.toLocaleString('en')})`,
    'breakwater',
    `${(capped.bytes / MB).toFixed(1)} MB`,
    `${capped.held.toLocaleString('en')} keys held`,
  ]);
  if (capped.held > cap) {
    met = false;
    notes.push(`❌ the capped store held ${capped.held} keys, over its cap of ${cap}`);
  }
  log(`  keys: ${Math.round(uncapped.bytesPerKey)} B/key; capped store held ${capped.held}`);

  for (const lib of ['breakwater', 'cockatiel', 'opossum']) {
    const b = await measure(['breakers', String(breakers), lib]);
    rows.push([
      `${breakers.toLocaleString('en')} circuit breakers (count window of 100)`,
      lib,
      `${(b.bytes / MB).toFixed(2)} MB`,
      `${Math.round(b.bytesPerBreaker)} B/breaker`,
    ]);
    log(`  breakers ${lib}: ${Math.round(b.bytesPerBreaker)} B/breaker`);
  }

  // The heap of a Breakwater Express server (every policy and metrics on) over many requests.
  const server = await startServer(expressServer, ['breakwater'], {
    execArgv: ['--expose-gc'],
    env: { BENCH_HEAP_ROUTE: '1' },
  });
  const heaps = [];
  const loader = startLoadGenerator();
  const load = loader.run;
  try {
    const url = `http://127.0.0.1:${server.port}/hello`;
    const heap = async () =>
      (await fetch(`http://127.0.0.1:${server.port}/__heap`).then((r) => r.json())).heapUsed;
    await load(url, {
      connections: 50,
      pipelining: 10,
      amount: Math.max(1000, Math.min(50_000, requests / 10)),
    });
    heaps.push(await heap());
    // Amounts are multiples of connections × pipelining: autocannon can stall on others.
    const steps = 4;
    for (let i = 0; i < steps; i++) {
      await load(url, { connections: 50, pipelining: 10, amount: requests / steps });
      heaps.push(await heap());
    }
  } finally {
    await loader.stop();
    await server.stop();
  }
  const growth = heaps.at(-1) - heaps[0];
  const flat = growth < 2 * MB;
  if (!flat) met = false;
  rows.push([
    `${requests.toLocaleString('en')} requests through Express + Breakwater (all policies, metrics)`,
    'breakwater',
    `${(heaps[0] / MB).toFixed(1)} → ${(heaps.at(-1) / MB).toFixed(1)} MB`,
    `${growth >= 0 ? '+' : ''}${(growth / MB).toFixed(2)} MB ${flat ? '(flat ✅)' : '(grows ❌)'}`,
  ]);
  log(`  heap over ${requests} requests: ${heaps.map((h) => (h / MB).toFixed(1)).join(' → ')} MB`);
  notes.push(
    `Server heap after a forced GC at each quarter: ${heaps.map((h) => (h / MB).toFixed(1)).join(' → ')} MB.`,
  );
  return {
    title: 'Memory',
    description: 'Heap measured after forced collections, each measurement in a fresh process.',
    status: 'ok',
    met,
    table: { head: ['measurement', 'library', 'heap', 'per item'], rows },
    notes,
    raw: { uncapped, peerKeys, capped, heaps },
  };
}
