/**
 * Child processes for tests that must measure a process of their own (its heap) or see it
 * exit: a script is bundled against the packages' TypeScript sources, as the tests use
 * them, and run with `node` and the given flags; it talks in lines on stdin and stdout.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root: string = fileURLToPath(new URL('../..', import.meta.url));

/** Bundles `source` (an ES module; it may import by absolute path) into a runnable file. */
export async function bundle(source: string, dir: string): Promise<string> {
  const src = join(dir, 'child.mjs');
  const out = join(dir, 'child.bundle.mjs');
  writeFileSync(src, source);
  // esbuild comes with tsup.
  const esbuildPath = createRequire(join(root, 'node_modules/tsup/package.json')).resolve('esbuild');
  const esbuild = (await import(pathToFileURL(esbuildPath).href)) as {
    build(o: Record<string, unknown>): Promise<unknown>;
  };
  await esbuild.build({
    entryPoints: [src],
    bundle: true,
    platform: 'node',
    format: 'esm',
    logLevel: 'error',
    outfile: out,
    // The packages' `source` export: their TypeScript, every entry point of each.
    conditions: ['source'],
    nodePaths: [join(root, 'node_modules')],
    alias: { undici: join(root, 'packages/http-pool/node_modules/undici') },
    // Loaded at run time by core (an optional peer): one copy, found from the bundle's folder.
    external: ['prom-client'],
    // CommonJS dependencies (undici, express) get a `require` for their node: built-ins.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  return out;
}

/** A running child: its output by lines, a way to write lines to it, and its exit. */
export interface Child {
  readonly proc: ChildProcessWithoutNullStreams;
  /** Resolves with the next stdout line parsed as JSON (lines that are not JSON are skipped). */
  next<T = Record<string, unknown>>(ms?: number): Promise<T>;
  send(line: string): void;
  /** Everything the child wrote to stderr. */
  stderr(): string;
  /** Resolves with the exit code, killing the child after `ms`. */
  exit(ms?: number): Promise<number | string>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Bundles and starts `source` with `node …flags`; the temporary files go when it is
 * disposed. They live under the repository's node_modules/.cache, so that the packages
 * left out of the bundle (prom-client) resolve as they do for the tests.
 */
export async function startChild(
  source: string,
  flags: string[] = [],
  env: Record<string, string> = {},
): Promise<Child> {
  const cache = join(root, 'node_modules/.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'bw-http-pool-'));
  const file = await bundle(source, dir);
  const proc = spawn(process.execPath, [...flags, file], { env: { ...process.env, ...env } });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const queue: unknown[] = [];
  const waiting: Array<(v: unknown) => void> = [];
  const lines = createInterface({ input: proc.stdout });
  lines.on('line', (line) => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return;
    }
    const w = waiting.shift();
    if (w) w(v);
    else queue.push(v);
  });
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => resolve(code ?? String(signal)));
  });
  const child: Child = {
    proc,
    next<T>(ms = 20_000): Promise<T> {
      if (queue.length > 0) return Promise.resolve(queue.shift() as T);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiting.indexOf(done);
          if (i >= 0) waiting.splice(i, 1);
          reject(new Error(`the child said nothing within ${ms}ms; stderr: ${stderr}`));
        }, ms);
        const done = (v: unknown) => {
          clearTimeout(timer);
          resolve(v as T);
        };
        waiting.push(done);
        exited.then(() => {
          if (waiting.includes(done)) {
            clearTimeout(timer);
            reject(new Error(`the child exited; stderr: ${stderr}`));
          }
        });
      });
    },
    send(line) {
      proc.stdin.write(`${line}\n`);
    },
    stderr: () => stderr,
    async exit(ms = 5_000) {
      const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
      lines.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return child;
}

/** The memory figures a child reports, in bytes. */
export interface MemoryFigures {
  heapUsed: number;
  arrayBuffers: number;
  rss: number;
}

/**
 * Source for a child's memory meter: `meter.baseline()` collects garbage and takes the
 * baseline, then samples every 5 ms; `meter.report()` collects garbage once more and returns
 * `{ baseline, peak, after }` (peak: the highest heapUsed and arrayBuffers seen while sampling).
 * Needs `--expose-gc`.
 */
export const METER = `
const meter = (() => {
  let baseline, peak, timer;
  const now = () => { const m = process.memoryUsage(); return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, rss: m.rss }; };
  const sample = () => {
    const m = now();
    for (const k of Object.keys(m)) if (m[k] > peak[k]) peak[k] = m[k];
  };
  return {
    baseline() {
      globalThis.gc(); globalThis.gc();
      baseline = now();
      peak = { ...baseline };
      clearInterval(timer);
      timer = setInterval(sample, 5);
      return baseline;
    },
    sample,
    report() {
      sample();
      clearInterval(timer);
      globalThis.gc(); globalThis.gc();
      return { baseline, peak, after: now() };
    },
  };
})();
`;

/** `12.3 MiB`. */
export const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
