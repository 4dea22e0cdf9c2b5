/**
 * What the "beyond" scenarios share: a service in a child process of the scenario's own
 * file (so a saturated server does not starve the load generator), a timed HTTP request,
 * small figures, and the command line that runs a scenario and prints its table.
 * Each scenario keeps its service, its load and its checks.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export { percentile } from '../stats.mjs';

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `v` rounded to `d` decimals (default 1). */
export const round = (v, d = 1) => Math.round(v * 10 ** d) / 10 ** d;

/**
 * Starts the scenario file `moduleUrl` again as a child with `--serve <config>` and resolves
 * once it prints its `{"port":n}` line (see {@link announcePort}), within 15 s. `stop()`
 * ends the child's stdin, sends SIGTERM and resolves once it has exited. `label` names the
 * child in errors (default `service`).
 */
export function startService(moduleUrl, config, label = 'service') {
  const child = spawn(process.execPath, [fileURLToPath(moduleUrl), '--serve', JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label} did not start within 15 s`));
    }, 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with ${code}`));
    });
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      const { port } = JSON.parse(line);
      resolve({
        url: `http://127.0.0.1:${port}`,
        async stop() {
          child.removeAllListeners('exit');
          const exited = new Promise((r) => child.once('exit', r));
          child.stdin.end();
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}

/**
 * The child side of {@link startService}: prints `{"port":n}` once `server` listens, and
 * exits with the parent (its stdin closes when the parent goes away).
 */
export function announcePort(server) {
  const announce = () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  if (server.listening) announce();
  else server.once('listening', announce);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

/**
 * One timed HTTP request that never rejects. Resolves `{ status, code, ms, t, body }`:
 * `code` is the problem `code` of a 5xx answer (or null), `ms` the time to the last byte,
 * `t` when it left (`performance.now()`); a failed request has `status: 0` and no body.
 * Options: `method` (default GET), a JSON `body`, a bearer `token`, `timeoutMs` (default 10 s).
 */
export function request(agent, url, { method = 'GET', body, token, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const failed = () => resolve({ status: 0, code: null, ms: performance.now() - started, t: started });
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(payload && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
    };
    const req = http.request(url, { method, agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => {
        const code = res.statusCode >= 500 ? (/"code":"([A-Z_]+)"/.exec(text)?.[1] ?? null) : null;
        resolve({ status: res.statusCode, code, ms: performance.now() - started, t: started, body: text });
      });
      res.on('error', failed);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', failed);
    req.end(payload);
  });
}

function printChecks(checks) {
  for (const c of checks) console.log(`${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.value} (want ${c.want})`);
}

/**
 * Prints a scenario's title, its rows as a table (the first `textColumns` columns
 * left-aligned, the figures right-aligned, a rule under the header) and its checks.
 */
export function printTable(result, { textColumns = 1 } = {}) {
  const cols = Object.keys(result.rows[0]);
  const cells = [cols, ...result.rows.map((r) => cols.map((c) => String(r[c])))];
  const widths = cols.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  console.log(`\n${result.title}\n`);
  for (const [i, row] of cells.entries()) {
    console.log(
      row.map((c, j) => (j < textColumns ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  '),
    );
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  console.log('');
  printChecks(result.checks);
}

/** Prints a scenario's title, its rows as a plain left-aligned table and its checks. */
export function printPlainTable(result) {
  const cols = Object.keys(result.rows[0]);
  const cells = [cols, ...result.rows.map((r) => cols.map((c) => String(r[c])))];
  const w = cols.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const table = cells.map((r) => r.map((c, i) => c.padEnd(w[i])).join('  ')).join('\n');
  console.log(`${result.title}\n\n${table}\n`);
  printChecks(result.checks);
}

/**
 * The command line of the scenario file `moduleUrl`, when it is the one Node runs:
 * `--serve <config>` runs `serve` (the child of {@link startService}); otherwise
 * `run({ quick })` with `--quick`, then `print(result)` (default {@link printTable}), and
 * the process exits non-zero if a check failed. Imported (by `run.mjs`), it does nothing.
 */
export async function main(moduleUrl, run, { serve, print = printTable } = {}) {
  if (process.argv[1] !== fileURLToPath(moduleUrl)) return;
  if (serve && process.argv[2] === '--serve') {
    await serve(JSON.parse(process.argv[3] ?? '{}'));
    return;
  }
  const result = await run({ quick: process.argv.includes('--quick') });
  print(result);
  process.exit(result.checks.every((c) => c.pass) ? 0 : 1);
}

/**
 * Open-loop pacing: calls `fire()` `rate` times a second, on schedule whatever the answers
 * (checked every 5 ms, catching up after a stall), until the returned function is called.
 */
export function atRate(rate, fire) {
  const started = performance.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      sent++;
      fire();
    }
  }, 5);
  return () => clearInterval(timer);
}

/**
 * Open-loop load on `url`: `rate` GETs a second (see {@link atRate}) until `stop()`. Every
 * answer is a sample `{ t, status, ...read(res, body) }` (`t`: ms since `t0`), every error
 * or timeout `{ t, status: 0 }`. Past `maxInFlight` a request is skipped and counted rather
 * than queued behind the others. `stop()` waits for the requests in flight, then resolves
 * with `{ skipped }`.
 */
export function openLoad(
  url,
  rate,
  t0,
  { headers, maxSockets = 64, maxInFlight = 256, timeoutMs = 5_000, read } = {},
) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const samples = [];
  let inFlight = 0;
  let skipped = 0;
  const stopFiring = atRate(rate, () => {
    const t = Date.now() - t0;
    if (inFlight >= maxInFlight) {
      skipped++;
      return;
    }
    inFlight++;
    const req = http.get(url, { agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => {
        inFlight--;
        samples.push({ t, status: res.statusCode, ...read?.(res, body) });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', () => {
      inFlight--;
      samples.push({ t, status: 0 });
    });
  });
  return {
    samples,
    async stop() {
      stopFiring();
      const end = Date.now() + timeoutMs + 1_000;
      while (inFlight > 0 && Date.now() < end) await sleep(10);
      agent.destroy();
      return { skipped };
    },
  };
}
