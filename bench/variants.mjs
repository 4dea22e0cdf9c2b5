/**
 * Where a framework's overhead goes: one server per variant (`bare`, `breakwater`, or a
 * subset such as `breakwater:metrics,limit`), alternating rounds, server CPU per request.
 *   node bench/variants.mjs fastify bare breakwater breakwater:metrics --rounds=5 --duration=3
 */
import { fileURLToPath } from 'node:url';
import { startLoadGenerator, startServer } from './lib/proc.mjs';
import { median } from './lib/stats.mjs';

const args = process.argv.slice(2);
const flag = (name, dflt) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const [framework, ...variants] = args.filter((a) => !a.startsWith('--'));
const rounds = flag('rounds', 5);
const duration = flag('duration', 3);
const script = fileURLToPath(new URL(`./servers/${framework}.mjs`, import.meta.url));
const servers = {};
const cpu = Object.fromEntries(variants.map((v) => [v, []]));
const rps = Object.fromEntries(variants.map((v) => [v, []]));
const loader = startLoadGenerator();
try {
  for (const v of variants) servers[v] = await startServer(script, [v]);
  const url = (s) => `http://127.0.0.1:${s.port}/hello`;
  for (const v of variants) await loader.run(url(servers[v]), { connections: 50, duration: 1 });
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      const c0 = servers[v].cpuSeconds();
      const res = await loader.run(url(servers[v]), { connections: 50, duration });
      const c1 = servers[v].cpuSeconds();
      if (res.errors || res.non2xx) console.error(`${v}: ${res.errors} errors, ${res.non2xx} non-2xx`);
      cpu[v].push(((c1 - c0) * 1e6) / res.requests);
      rps[v].push(res.rps);
    }
  }
} finally {
  await loader.stop();
  for (const s of Object.values(servers)) await s.stop();
}
const base = median(cpu[variants[0]]);
for (const v of variants) {
  const c = median(cpu[v]);
  console.log(
    `${framework} ${v.padEnd(40)} ${median(rps[v]).toFixed(0).padStart(7)} req/s  ${c.toFixed(2).padStart(6)} µs CPU/req  +${(c - base).toFixed(2)}`,
  );
}
