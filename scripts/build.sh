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
tsc
# Codecs come from the BTF of the objects just built; rebuild TypeScript only
# if a generated file changed.
if ! node dist/src/codegen/cli.js --quiet; then
  echo "vigil build: code generation failed" >&2
  exit 1
fi
if [ -n "$(find src/generated -newer dist/.tsbuildinfo -print -quit 2>/dev/null)" ]; then
  tsc
fi
