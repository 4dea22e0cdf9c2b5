/**
 * One memory measurement per process (run with --expose-gc), printing one JSON line:
 *   keys <n> <maxKeys> [breakwater|rate-limiter-flexible]   heap held by n distinct rate-limit keys
 *   breakers <n> [breakwater|cockatiel|opossum]             heap held by n circuit breakers
 */
import { CircuitBreaker, MemoryStore, RateLimiter } from '@breakwater/core';
import { CountBreaker, circuitBreaker, handleAll } from 'cockatiel';
import Opossum from 'opossum';
import { RateLimiterMemory } from 'rate-limiter-flexible';

const [what, nArg, ...rest] = process.argv.slice(2);
const n = Number(nArg);

function heap() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
}

/** The n-th distinct client address, as a key. */
function ip(i) {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

let result;
if (what === 'keys') {
  const maxKeys = Number(rest[0]);
  const lib = rest[1] ?? 'breakwater';
  if (lib === 'breakwater') {
    const windows = new RateLimiter({ limit: 100, window: '1m' }).windows;
    const store = new MemoryStore({ maxKeys });
    const h0 = heap();
    for (let i = 0; i < n; i++) store.consume(ip(i), windows, 1);
    const h1 = heap();
    result = { bytes: h1 - h0, held: store.size, bytesPerKey: (h1 - h0) / store.size };
    store.close();
  } else {
    const limiter = new RateLimiterMemory({ points: 100, duration: 60 });
    const h0 = heap();
    for (let i = 0; i < n; i++) await limiter.consume(ip(i));
    const h1 = heap();
    result = { bytes: h1 - h0, held: n, bytesPerKey: (h1 - h0) / n };
  }
} else if (what === 'breakers') {
  const lib = rest[0] ?? 'breakwater';
  const held = [];
  const work = async () => 42;
  const h0 = heap();
  for (let i = 0; i < n; i++) {
    if (lib === 'breakwater') held.push(new CircuitBreaker({}, `b${i}`));
    else if (lib === 'cockatiel')
      held.push(
        circuitBreaker(handleAll, {
          halfOpenAfter: 30_000,
          breaker: new CountBreaker({ threshold: 0.5, size: 100, minimumNumberOfCalls: 10 }),
        }),
      );
    else held.push(new Opossum(work, { name: `b${i}` }));
  }
  const h1 = heap();
  result = { bytes: h1 - h0, held: held.length, bytesPerBreaker: (h1 - h0) / held.length };
  if (lib === 'opossum') for (const b of held) b.shutdown();
} else {
  throw new Error(`unknown measurement ${what}`);
}
process.stdout.write(`${JSON.stringify(result)}\n`);
