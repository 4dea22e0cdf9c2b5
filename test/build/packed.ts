/**
 * The packages as a registry would serve them: `pnpm pack` of each built package, unpacked
 * into a scratch project's node_modules beside only the third-party packages it names.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

export const PACKAGES = ['core', 'express', 'koa', 'http-pool', 'redis-pool'] as const;
export type PackageDir = (typeof PACKAGES)[number];

/** pnpm: the one on PATH, else the copy `scripts/setup.sh` installs into .tools/. */
function pnpm(): string {
  const local = join(root, '.tools/node_modules/.bin/pnpm');
  try {
    execFileSync('pnpm', ['--version'], { stdio: 'ignore' });
    return 'pnpm';
  } catch {
    return local;
  }
}

/** A fresh directory under the OS's temp dir, which has no node_modules above it. */
export function scratch(prefix: string): string {
  return realpathSync(mkdtempSync(join(tmpdir(), prefix)));
}

export function removeScratch(dir: string | undefined): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

/** Packs `pkgs` into `dest`; the tarball of each, by package directory name. */
export function pack(pkgs: readonly PackageDir[], dest: string): Map<PackageDir, string> {
  const bin = pnpm();
  const out = new Map<PackageDir, string>();
  for (const p of pkgs) {
    const dir = join(root, 'packages', p);
    if (!existsSync(join(dir, 'dist/index.js'))) throw new Error(`packages/${p}/dist missing: run pnpm build`);
    const json = execFileSync(bin, ['pack', '--json', '--pack-destination', dest], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
    });
    out.set(p, (JSON.parse(json) as { filename: string }).filename);
  }
  return out;
}

/**
 * A project in `dir` whose node_modules holds the unpacked tarballs and, linked from the
 * workspace, each third-party package they or `extra` name, except those in `without`.
 */
export function install(
  dir: string,
  tarballs: Map<PackageDir, string>,
  { extra = [], without = [] }: { extra?: string[]; without?: string[] } = {},
): void {
  const modules = join(dir, 'node_modules');
  const wanted = new Map<string, string>();
  for (const name of extra) wanted.set(name, root);
  for (const [p, tarball] of tarballs) {
    const pkg = JSON.parse(readFileSync(join(root, 'packages', p, 'package.json'), 'utf8')) as {
      name: string;
      dependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
    const target = join(modules, pkg.name);
    mkdirSync(target, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies }))
      if (!name.startsWith('@breakwater/') && !wanted.has(name)) wanted.set(name, join(root, 'packages', p));
  }
  for (const [name, from] of wanted) {
    if (without.includes(name)) continue;
    const found = [join(from, 'node_modules', name), join(root, 'node_modules', name)].find((d) => existsSync(d));
    // An optional peer nobody installed in the workspace stays absent here too.
    if (found === undefined) continue;
    mkdirSync(dirname(join(modules, name)), { recursive: true });
    // The real path: the linked package finds its own dependencies beside it in pnpm's store.
    symlinkSync(realpathSync(found), join(modules, name), 'dir');
  }
}
