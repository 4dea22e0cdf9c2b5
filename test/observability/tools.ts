/** External programs the observability tests need: found, or skipped loudly (failed under CI). */
import { spawnSync } from 'node:child_process';

/** The path of `name` on PATH, or undefined. Under `CI=true` a missing program throws. */
export function requireTool(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.status === 0 ? r.stdout.trim() : '';
  if (path) return path;
  const msg = `${name} not found: install Debian's 'prometheus' package (apt-get install -y prometheus)`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${msg}`);
  console.warn(`\n!!!!! SKIPPING ${name} TESTS: ${msg} !!!!!\n`);
  return undefined;
}
