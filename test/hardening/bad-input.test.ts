/**
 * Hostile and malformed requests through the four adapters, all six flavors: proxy headers
 * with and without trust, IPv6 and IPv4-mapped clients, absurd Content-Length, headers at
 * Node's limits. Every case must answer with a status the app or Node chose on purpose
 * (never a 5xx from Breakwater), and the rate-limit key must be what the trust setting says.
 */
import { afterEach, describe, expect, test } from 'vitest';
import {
  type Answer,
  get,
  type HApp,
  hflavors,
  raw,
  rawGet,
  type Setup,
  SpyStore,
  serve,
  until,
} from './support.js';

const json = { ok: true };

describe.each(hflavors)('$name', (flavor) => {
  let app: HApp | undefined;
  let store: SpyStore;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** Routes: /rl (2 per minute by IP), /one (1 per minute by IP), /key (by x-api-key), POST /upload (reads its body, 150 ms timeout). */
  const start = async (extra: Partial<Setup> = {}) => {
    store = new SpyStore();
    const rl = { rateLimit: { limit: 2, window: '1m' } };
    const one = { rateLimit: { limit: 1, window: '1m' } };
    const key = { rateLimit: { limit: 3, window: '1m', key: { header: 'x-api-key' } } };
    const upload = { timeout: '150ms', bulkhead: { maxConcurrent: 4 } };
    app = await serve(flavor, {
      bw: { store },
      ...extra,
      express(a, bw) {
        a.get('/rl', bw.route(rl), (_req, res) => void res.json(json));
        a.get('/one', bw.route(one), (_req, res) => void res.json(json));
        a.get('/key', bw.route(key), (_req, res) => void res.json(json));
        a.post('/upload', bw.route(upload), async (req, res) => {
          let n = 0;
          req.on('data', (d: Buffer) => (n += d.length));
          await new Promise((r) => {
            req.on('end', r);
            req.on('error', r);
            // Node emits no 'close' on a request whose response is already out: watch the signal.
            req.breakwater!.signal.addEventListener('abort', r);
          });
          res.json({ n });
        });
      },
      koa(router, bw) {
        router.get('/rl', bw.route(rl), (ctx) => void (ctx.body = json));
        router.get('/one', bw.route(one), (ctx) => void (ctx.body = json));
        router.get('/key', bw.route(key), (ctx) => void (ctx.body = json));
        router.post('/upload', bw.route(upload), async (ctx) => {
          let n = 0;
          ctx.req.on('data', (d: Buffer) => (n += d.length));
          await new Promise((r) => {
            ctx.req.on('end', r);
            ctx.req.on('error', r);
            ctx.state.breakwater!.signal.addEventListener('abort', r);
          });
          ctx.body = { n };
        });
      },
      fastify(a) {
        a.get('/rl', { config: { breakwater: rl } }, async () => json);
        a.get('/one', { config: { breakwater: one } }, async () => json);
        a.get('/key', { config: { breakwater: key as never } }, async () => json);
        // No body parser: the handler reads the raw stream itself, as the others do.
        a.removeAllContentTypeParsers();
        a.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
        a.post('/upload', { config: { breakwater: upload } }, async (request) => {
          let n = 0;
          request.raw.on('data', (d: Buffer) => (n += d.length));
          await new Promise((r) => {
            request.raw.on('end', r);
            request.raw.on('error', r);
            request.breakwater!.signal.addEventListener('abort', r);
          });
          return { n };
        });
      },
      hono(a, bw) {
        a.get('/rl', bw.route(rl), (c) => c.json(json));
        a.get('/one', bw.route(one), (c) => c.json(json));
        a.get('/key', bw.route(key as never), (c) => c.json(json));
        a.post('/upload', bw.route(upload), async (c) => {
          const signal = c.get('breakwater')!.signal;
          const n = await Promise.race([
            c.req.arrayBuffer().then(
              (b) => b.byteLength,
              () => -1,
            ),
            new Promise<number>((r) => signal.addEventListener('abort', () => r(-1))),
          ]);
          return c.json({ n });
        });
      },
    });
    return app;
  };
  const upload = () => app!.bw.core.guards.find((g) => g.name === 'POST /upload')!;
  const keysFor = (route: string) =>
    store.keys.filter((k) => k.startsWith(`${route}:`)).map((k) => k.slice(route.length + 1));

  test('without trust, X-Forwarded-For and Forwarded are ignored: the key is the socket address and rotating them escapes nothing', async () => {
    const { url } = await start();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await get(`${url}/rl`, {
        'x-forwarded-for': `198.51.100.${i}`,
        forwarded: `for=192.0.2.${i};proto=https`,
      });
      statuses.push(r.status);
    }
    expect(statuses).toEqual([200, 200, 429, 429]);
    expect(new Set(keysFor('GET /rl'))).toEqual(new Set(['127.0.0.1']));
  });

  // Hono has no trust-proxy setting: its client is always the socket's peer.
  const trusts = flavor.kind !== 'hono';
  test.runIf(trusts)(
    'with trust on, the key follows the X-Forwarded-For client; Forwarded (RFC 7239) is read by no framework',
    async () => {
      const { url } = await start({ trustProxy: flavor.kind === 'express' ? 'loopback' : true });
      expect((await get(`${url}/rl`, { 'x-forwarded-for': '203.0.113.9' })).status).toBe(200);
      expect((await get(`${url}/rl`, { 'x-forwarded-for': '203.0.113.9' })).status).toBe(200);
      expect((await get(`${url}/rl`, { 'x-forwarded-for': '203.0.113.9' })).status).toBe(429);
      // Another client behind the same proxy has its own bucket.
      expect((await get(`${url}/rl`, { 'x-forwarded-for': '203.0.113.10' })).status).toBe(200);
      expect((await get(`${url}/rl`, { forwarded: 'for=192.0.2.60' })).status).toBe(200);
      expect(keysFor('GET /rl')).toEqual([
        '203.0.113.9',
        '203.0.113.9',
        '203.0.113.9',
        '203.0.113.10',
        '127.0.0.1',
      ]);
    },
  );

  const garbage = [
    '',
    ',,,,,,',
    'not-an-ip',
    '1.2.3.4.5.6',
    '999.999.999.999',
    '::::::::::::',
    '[::1',
    '[[[]]]',
    'unknown, , , 10.0.0.1',
    '%00%ff',
    '\u00e9\u00ff\u00fe', // obs-text bytes (Latin-1) are legal header octets
    'fe80::1%eth0%eth1',
    'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    `${'1.2.3.4, '.repeat(1300)}5.6.7.8`, // ~12 KB, over a thousand hops
    'x'.repeat(12_000),
  ];

  test.each([false, true])(
    'garbage X-Forwarded-For and Forwarded never crash anything (trust %s)',
    async (trust) => {
      const { url } = await start(trust ? { trustProxy: true } : {});
      const results: Answer[] = [];
      for (const g of garbage) {
        results.push(
          await get(`${url}/one`, {
            'x-forwarded-for': Buffer.from(g, 'latin1').toString('latin1'),
            forwarded: `for="${g.slice(0, 2000)}"`,
          }),
        );
      }
      for (const r of results) expect([200, 429]).toContain(r.status);
      expect(app!.appErrors).toEqual([]);
      // Still serving.
      expect((await get(`${url}/rl`)).status).toBe(200);
    },
  );

  // Finding F1 (SECURITY.md, fixed in b054c8a): with trust on, the framework's client IP is
  // whatever the leftmost untrusted X-Forwarded-For entry says; clientIpKey() passed any
  // string without a ':' through unchanged, so one key could be ~16 KB, 100,000 of them
  // ~1.6 GB in the memory store. IP keys are now cut at 45 characters.
  test('with trust on, a garbage X-Forwarded-For never becomes a rate-limit key longer than an address', async () => {
    const { url } = await start({ trustProxy: true });
    for (const g of garbage) await get(`${url}/one`, { 'x-forwarded-for': g });
    const keys = keysFor('GET /one');
    expect(keys.length).toBe(garbage.length);
    for (const k of keys) expect(k.length).toBeLessThanOrEqual(64);
  });

  test.runIf(trusts)(
    'IPv6 clients are grouped by /56 (the default ipv6Subnet) and IPv4-mapped addresses count as their IPv4 address',
    async () => {
      const { url } = await start({ trustProxy: flavor.kind === 'express' ? 'loopback' : true });
      const xff = async (ip: string) => (await get(`${url}/one`, { 'x-forwarded-for': ip })).status;
      expect(await xff('2001:db8:1:2aa::1')).toBe(200);
      expect(await xff('2001:db8:1:2ff:bbbb:cccc:dddd:2')).toBe(429); // same /56
      expect(await xff('2001:db8:1:300::1')).toBe(200); // next /56
      expect(await xff('2001:DB8:0001:03ab:ffff::9')).toBe(429); // same /56, other spelling
      expect(await xff('::ffff:198.51.100.7')).toBe(200);
      expect(await xff('198.51.100.7')).toBe(429); // the mapped address is the IPv4 client
      expect(await xff('fe80::1%eth0')).toBe(200);
      expect(await xff('fe80::2%eth1')).toBe(429);
      expect(keysFor('GET /one')).toEqual([
        '2001:db8:1:200::/56',
        '2001:db8:1:200::/56',
        '2001:db8:1:300::/56',
        '2001:db8:1:300::/56',
        '198.51.100.7',
        '198.51.100.7',
        'fe80:0:0:0::/56',
        'fe80:0:0:0::/56',
      ]);
    },
  );

  test('a dual-stack server keys ::1 by its /56 and 127.0.0.1 (seen as ::ffff:127.0.0.1) by its IPv4 address', async () => {
    const { port } = await start({ host: '::' });
    expect((await get(`http://[::1]:${port}/one`)).status).toBe(200);
    expect((await get(`http://[::1]:${port}/one`)).status).toBe(429);
    expect((await get(`http://127.0.0.1:${port}/one`)).status).toBe(200);
    expect((await get(`http://127.0.0.1:${port}/one`)).status).toBe(429);
    expect(keysFor('GET /one')).toEqual(['0:0:0:0::/56', '0:0:0:0::/56', '127.0.0.1', '127.0.0.1']);
  });

  test('absurd Content-Length: Node answers 400 before any handler; a huge declared body that never comes times out cleanly', async () => {
    const { port } = await start();
    for (const cl of ['99999999999999999999999999', '-1', '1e9', '12, 13', '0x10']) {
      const r = await raw(port, `GET /rl HTTP/1.1\r\nHost: x\r\nContent-Length: ${cl}\r\n\r\n`, {
        waitMs: 1000,
      });
      expect(r.statuses, `Content-Length: ${cl}`).toEqual([400]);
    }
    const dup = await raw(
      port,
      'GET /rl HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      { waitMs: 1000 },
    );
    expect(dup.statuses).toEqual([400]);
    // Declares a gigabyte, sends ten bytes, then waits: the route's timeout answers once.
    const t0 = Date.now();
    const r = await raw(
      port,
      'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n0123456789',
      { waitMs: 1500, untilStatuses: 1 },
    );
    expect(r.statuses).toEqual([503]);
    expect(r.text).toContain('"code":"TIMEOUT"');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(Date.now() - t0).toBeLessThan(1400);
    // The handler was still reading; once the client is gone it ends and gives its slot back.
    await until(() => upload().bulkhead!.activeCount === 0, 2000, 'upload slot released');
    expect(upload().bulkhead!.stats).toMatchObject({ active: 0, queued: 0 });
  });

  test("headers at Node's limits: a 15 KB key header is digested, oversized headers get Node's 431, the server keeps serving", async () => {
    const { url, port } = await start();
    const big = 'k'.repeat(15_000);
    const a = await get(`${url}/key`, { 'x-api-key': big });
    expect(a.status).toBe(200);
    expect(a.headers.ratelimit).toMatch(/r=2/);
    const b = await get(`${url}/key`, { 'x-api-key': `${big.slice(0, 14_000)}\u00e9\u00e8` });
    expect(b.status).toBe(200);
    // A shared store sees a short digest, never the value.
    for (const k of keysFor('GET /key')) {
      expect(k).toMatch(/^[A-Za-z0-9_-]{22}$/);
    }
    // A header name near the limit, and 900 small headers.
    const longName = await get(`${url}/rl`, { [`x-${'n'.repeat(12_000)}`]: 'v' });
    expect(longName.status).toBe(200);
    const many: Record<string, string> = {};
    for (let i = 0; i < 900; i++) many[`x-h${i}`] = String(i);
    expect((await get(`${url}/rl`, many)).status).toBe(200);
    // Over 16 KiB of headers: Node refuses with 431 before the app sees anything.
    const over = await raw(port, rawGet('/rl', { 'x-api-key': 'z'.repeat(20_000) }), { waitMs: 1000 });
    expect(over.statuses).toEqual([431]);
    expect((await get(`${url}/key`, { 'x-api-key': 'small' })).status).toBe(200);
    expect(app!.appErrors).toEqual([]);
  });
});
