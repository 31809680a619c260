#!/usr/bin/env bash
# Incremental build: native addon, BPF objects and fixtures, TypeScript,
# codecs generated from the objects' BTF. Each step is skipped when its
# outputs are newer than its inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

addon=build/Release/vigil_native.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp -newer "$addon" -print -quit)" ]; then
  echo "vigil build: native addon"
  npx --no-install node-gyp rebuild --loglevel=error >/dev/null
fi

make -s -j"$(nproc)" all

tsc() { npx --no-install tsc -p tsconfig.json; }
# Codecs come from the BTF of the objects just built. The generator is
# TypeScript too: compile first (a header change can leave the previous
# generated files stale, so this pass may fail), generate, then compile for
# real whenever the first pass failed or a generated file changed.
first_ok=1
tsc >/tmp/vigil-tsc.$$ 2>&1 || first_ok=0
if [ ! -f dist/src/codegen/cli.js ]; then
  cat /tmp/vigil-tsc.$$ >&2; rm -f /tmp/vigil-tsc.$$
  echo "vigil build: TypeScript build failed before code generation" >&2
  exit 1
fi
rm -f /tmp/vigil-tsc.$$
if ! node dist/src/codegen/cli.js; then
  echo "vigil build: code generation failed" >&2
  exit 1
fi
if [ "$first_ok" = 0 ] || [ -n "$(find src/generated -newer dist/.tsbuildinfo -print -quit 2>/dev/null)" ]; then
  tsc
fi

# The web console's front end (console/ → dist/console/app.js), bundled with esbuild.
if [ ! -f dist/console/app.js ] || [ -n "$(find console -newer dist/console/app.js -print -quit)" ]; then
  npx --no-install esbuild console/app.tsx --bundle --minify --format=esm --target=es2022 --jsx=automatic \
    --jsx-import-source=preact --loader:.css=text --outfile=dist/console/app.js --log-level=warning
fi
