/**
 * Requests per second through HttpPool beside a bare undici Pool and Node's http.Agent
 * (keep-alive), against one local upstream in a child process, with the same connection
 * count and the same number of requests in flight. Rounds alternate between the three so
 * drift (CPU frequency, GC) hits each alike; medians are reported.
 *
 * Run after `pnpm run build` (it imports the built packages):
 *   node bench/suites/http-pool.mjs [--rounds 5] [--duration 3000] [--connections 10] [--inflight 50]
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HttpPool } from '@breakwater/http-pool';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '3000' },
    warmup: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '10' },
    inflight: { type: 'string', default: '50' },
    upstream: { type: 'boolean', default: false },
  },
});

if (values.upstream) {
  // Child: the upstream. A small JSON body, keep-alive longer than the clients'.
  const body = JSON.stringify({ ok: true, items: [1, 2, 3] });
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 10_000;
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('disconnect', () => server.close(() => process.exit(0)));
} else {
  await main();
}

async function main() {
  const rounds = Number(values.rounds);
  const duration = Number(values.duration);
  const warmup = Number(values.warmup);
  const connections = Number(values.connections);
  const inflight = Number(values.inflight);

  const child = fork(fileURLToPath(import.meta.url), ['--upstream'], { stdio: 'inherit' });
  const { port } = await new Promise((resolve) => child.once('message', resolve));
  const url = `http://127.0.0.1:${port}`;

  const hp = new HttpPool({
    name: 'bench',
    baseUrl: url,
    connections,
    maxQueue: inflight * 2,
    passiveHealth: false,
  });
  const up = new Pool(url, { connections, pipelining: 1 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });

  const clients = {
    HttpPool: async () => {
      const r = await hp.request({ path: '/items' });
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      await r.json();
    },
    'undici Pool': async () => {
      const r = await up.request({ path: '/items', method: 'GET' });
      if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
      await r.body.json();
    },
    'http.Agent': () =>
      new Promise((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/items', agent }, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            try {
              JSON.parse(Buffer.concat(chunks).toString('utf8'));
              resolve();
            } catch (e) {
              reject(e);
            }
          });
          res.on('error', reject);
        });
        req.on('error', reject);
      }),
  };

  /** Keeps `inflight` requests going for `ms`; returns completed requests per second. */
  async function run(fn, ms) {
    let done = 0;
    const end = performance.now() + ms;
    const worker = async () => {
      while (performance.now() < end) {
        await fn();
        done++;
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: inflight }, worker));
    return done / ((performance.now() - t0) / 1000);
  }

  const names = Object.keys(clients);
  for (const n of names) await run(clients[n], warmup);
  const results = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    // Rotate the order each round.
    const order = names.map((_, i) => names[(i + r) % names.length]);
    for (const n of order) results[n].push(await run(clients[n], duration));
  }

  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const base = median(results['undici Pool']);
  console.log(
    `node ${process.version}, ${connections} connections, ${inflight} in flight, ${rounds} rounds × ${duration} ms`,
  );
  console.log('client        median req/s   vs undici   rounds');
  for (const n of names) {
    const m = median(results[n]);
    console.log(
      `${n.padEnd(13)} ${m.toFixed(0).padStart(12)}   ${(m / base).toFixed(3).padStart(8)}×   ${results[n].map((x) => x.toFixed(0)).join(' ')}`,
    );
  }

  await hp.close();
  await up.close();
  agent.destroy();
  child.disconnect();
}
