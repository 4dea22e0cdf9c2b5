#!/usr/bin/env bash
# Installs everything the workspace needs on a machine that has only Node and npm:
# pnpm (the version pinned in package.json, into .tools/ when none is on PATH),
# then the workspace with a frozen lockfile, then a build of the packages.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(node -p "require('./package.json').packageManager.split('@')[1]")
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm -v 2>/dev/null)" != "$want" ]; then
  if [ ! -x .tools/node_modules/.bin/pnpm ] || [ "$(.tools/node_modules/.bin/pnpm -v)" != "$want" ]; then
    echo "setup: installing pnpm@$want into .tools/"
    npm install --silent --no-audit --no-fund --prefix .tools "pnpm@$want" >/dev/null
  fi
  export PATH="$PWD/.tools/node_modules/.bin:$PATH"
fi
pnpm install --frozen-lockfile --reporter=silent
# Quiet when it works; the whole log when it does not.
if ! build_log=$(pnpm run --silent build 2>&1); then
  echo "$build_log" >&2
  echo "setup: the build failed" >&2
  exit 1
fi
# Anything after the script's name runs with pnpm on PATH: `bash scripts/setup.sh pnpm test:run`.
if [ $# -gt 0 ]; then exec "$@"; fi
