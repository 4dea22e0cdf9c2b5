#!/usr/bin/env bash
# Checks the packages as they would be published: packs each built package with `pnpm pack`
# (workspace: ranges replaced, `files` applied) and runs publint and Are the Types Wrong on
# the tarball. attw uses the node16 profile: the packages need Node >= 20, so node10 module
# resolution (which cannot see `exports` subpaths) is not checked.
# Run `pnpm build` first. Exits non-zero when any check fails, after checking every package.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

out=$(mktemp -d "${TMPDIR:-/tmp}/breakwater-pack.XXXXXX")
trap 'rm -rf "$out"' EXIT

failed=()
for pkg in core express koa fastify hono http-pool redis-pool; do
  if [ ! -f "packages/$pkg/dist/index.js" ]; then
    echo "packages/$pkg/dist is missing: run pnpm build" >&2
    exit 1
  fi
  tarball=$(cd "packages/$pkg" && pnpm pack --json --pack-destination "$out" |
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).filename))')
  size=$(du -k "$tarball" | cut -f1)
  echo
  echo "--- $(basename "$tarball") (${size} KiB packed, $(tar -tzf "$tarball" | wc -l | tr -d ' ') files)"
  publint run --strict "$tarball" || failed+=("publint $pkg")
  attw "$tarball" --profile node16 --format ascii --no-color || failed+=("attw $pkg")
done

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "check-packages: failed: ${failed[*]}" >&2
  exit 1
fi
echo "check-packages: publint and attw pass on every package"
