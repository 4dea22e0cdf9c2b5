/**
 * The pool on undici 8 (the peer range is `^7 || ^8`): the same dispatch handlers drive
 * undici 8's `Pool`, injected through `factory`. undici 8 needs Node >= 22.19; on an older
 * Node this file is skipped, and says so.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { HttpPool, isPoolResponseTooLargeError } from '@breakwater/http-pool';
import type { Dispatcher } from 'undici';
import { afterEach, describe, expect, test } from 'vitest';
import { root } from './child.js';
import { type Upstream, until, upstream } from './upstream.js';

const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
const supported = major > 22 || (major === 22 && minor >= 19);
if (!supported)
  console.warn(
    `\n!!! Node ${process.versions.node} < 22.19: SKIPPING the undici 8 tests (undici 8 needs Node >= 22.19)\n`,
  );

type PoolCtor = new (origin: string, options: object) => Dispatcher;
async function undici8(): Promise<{ Pool: PoolCtor; version: string }> {
  const req = createRequire(join(root, 'packages/http-pool/package.json'));
  const mod = (await import(pathToFileURL(req.resolve('undici8')).href)) as { Pool: PoolCtor };
  const version = (req('undici8/package.json') as { version: string }).version;
  return { Pool: mod.Pool, version };
}

let up: Upstream | undefined;
let pool: HttpPool | undefined;
afterEach(async () => {
  await pool?.destroy();
  await up?.stop();
  pool = undefined;
  up = undefined;
});

describe.skipIf(!supported)('HttpPool on undici 8', () => {
  test('buffered, capped, streamed and uploaded bodies', async () => {
    const { Pool, version } = await undici8();
    expect(version).toMatch(/^8\./);
    up = await upstream((req, res) => {
      if (req.url === '/big') return void res.end(Buffer.alloc(2 * 1024 * 1024, 1));
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(JSON.stringify({ url: req.url, n })));
    });
    let made = 0;
    pool = new HttpPool({
      name: 'api',
      baseUrl: up.url,
      maxResponseSize: 1024 * 1024,
      factory: (origin, options) => {
        made++;
        return new Pool(origin, options);
      },
    });
    expect(made).toBe(1);
    expect(await (await pool.get('/a')).json()).toEqual({ url: '/a', n: 0 });
    const e = await pool.get('/big').catch((x) => x);
    expect(isPoolResponseTooLargeError(e)).toBe(true);
    const s = await pool.get('/big', { stream: true });
    let n = 0;
    for await (const c of s.body) n += (c as Buffer).length;
    expect(n).toBe(2 * 1024 * 1024);
    const u = await pool.post('/up', Readable.from([Buffer.alloc(3000), Buffer.alloc(5000)]));
    expect(await u.json()).toEqual({ url: '/up', n: 8000 });
    expect(await until(() => pool!.stats().inFlight === 0)).toBe(true);
  });
});
