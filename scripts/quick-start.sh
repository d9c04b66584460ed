#!/usr/bin/env bash
# From a fresh clone to a running demo gateway: checks Node, installs the dependencies, builds,
# and starts mcp-bridge in the background serving the reference server-everything over every
# transport, then waits for /healthz. Idempotent: each step runs only when needed (the lockfile
# changed, a source is newer than the build, the gateway is not running), and a second run that
# finds everything in place changes nothing and says so. docs/operations.md#install-scripts.
#
#   scripts/quick-start.sh [--port N] [--admin-port N|off] [--stop]
#
# State lives in .quick-start/ (git-ignored): the gateway's pid, log and address, and the
# checksum of the lockfile last installed. NPM=<program> runs another npm (the tests use one).
set -euo pipefail
cd "$(dirname "$0")/.."

port=8080
admin_port=9090
stop=false
while [ $# -gt 0 ]; do
  case "$1" in
    --port)
      port="${2:?--port needs a number}"
      shift 2
      ;;
    --admin-port)
      admin_port="${2:?--admin-port needs a number or off}"
      shift 2
      ;;
    --stop)
      stop=true
      shift
      ;;
    -h | --help)
      sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "quick-start: unknown argument \"$1\" (see --help)" >&2
      exit 2
      ;;
  esac
done
case "$port" in '' | *[!0-9]*)
  echo "quick-start: --port: expected a number, got \"$port\"" >&2
  exit 2
  ;;
esac
case "$admin_port" in off) ;; '' | *[!0-9]*)
  echo "quick-start: --admin-port: expected a number or off, got \"$admin_port\"" >&2
  exit 2
  ;;
esac

npm="${NPM:-npm}"
state=.quick-start
pid_file="$state/gateway.pid"
log_file="$state/gateway.log"
mkdir -p "$state"

# Whether process $1 runs (an exited one nobody has reaped yet does not).
alive() {
  kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

running_pid() {
  local pid
  pid="$(cat "$pid_file" 2>/dev/null || true)"
  if [ -n "$pid" ] && alive "$pid"; then echo "$pid"; fi
}

if $stop; then
  pid="$(running_pid)"
  if [ -z "$pid" ]; then
    echo "quick-start: no demo gateway running; nothing to stop"
  else
    # Its shutdown lets requests in flight finish (10 s at most), then ends the backend (4 s).
    kill -TERM "$pid"
    for _ in $(seq 1 300); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      echo "quick-start: the demo gateway (pid $pid) did not stop within 30 s of SIGTERM; see $log_file" >&2
      exit 1
    fi
    echo "quick-start: stopped the demo gateway (pid $pid)"
  fi
  rm -f "$pid_file" "$state/address"
  exit 0
fi

changed=0

# Node 20.19 or later (package.json "engines").
if ! command -v node >/dev/null 2>&1; then
  echo "quick-start: Node.js 20.19 or later is needed; none is on PATH" >&2
  exit 1
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "quick-start: Node.js 20.19 or later is needed; this is $(node --version)" >&2
  exit 1
fi

# Dependencies: installed again only when the lockfile differs from the one last installed.
lock_sum="$(node -e 'const c=require("node:crypto"),f=require("node:fs");process.stdout.write(c.createHash("sha256").update(f.readFileSync("package-lock.json")).digest("hex"))')"
if [ -d node_modules ] && [ "$(cat "$state/installed" 2>/dev/null)" = "$lock_sum" ]; then
  echo "== dependencies: installed (package-lock.json unchanged)"
else
  echo "== dependencies: $npm ci"
  "$npm" ci --no-audit --no-fund
  echo "$lock_sum" >"$state/installed"
  changed=1
fi

# Build: again only when a source or the TypeScript config is newer than dist/cli.js.
if [ -f dist/cli.js ] && [ -z "$(find src tsconfig.json -newer dist/cli.js -print -quit)" ]; then
  echo "== build: dist/ is current"
else
  echo "== build: $npm run build"
  "$npm" run build
  changed=1
fi

# The demo gateway: server-everything over Streamable HTTP, SSE, WebSocket, TCP and REST.
pid="$(running_pid)"
if [ -n "$pid" ]; then
  echo "== gateway: running (pid $pid) at $(cat "$state/address" 2>/dev/null)"
else
  everything="node_modules/@modelcontextprotocol/server-everything/dist/index.js"
  if [ ! -f "$everything" ]; then
    echo "quick-start: $everything is missing; run \"$npm ci\" (or remove $state/installed and run this again)" >&2
    exit 1
  fi
  echo "== gateway: starting on 127.0.0.1:$port"
  : >"$log_file"
  nohup node dist/cli.js --stdio "node $everything stdio" --host 127.0.0.1 --port "$port" \
    --admin-port "$admin_port" --log-format json >"$log_file" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pid_file"
  address=""
  for _ in $(seq 1 300); do
    if ! alive "$pid"; then
      echo "quick-start: the gateway exited; its log ($log_file) ends with:" >&2
      tail -n 5 "$log_file" >&2
      rm -f "$pid_file"
      exit 1
    fi
    # The port it really took (--port 0 picks one), from its "gateway listening" line.
    address="$(sed -n 's/.*"port":\([0-9]*\),"path":"\([^"]*\)".*"gateway listening".*/http:\/\/127.0.0.1:\1\2/p' "$log_file" | head -n 1)"
    if [ -n "$address" ] && node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "${address%/mcp}/healthz"; then
      break
    fi
    address=""
    sleep 0.1
  done
  if [ -z "$address" ]; then
    echo "quick-start: the gateway did not answer /healthz within 30 s; see $log_file" >&2
    exit 1
  fi
  echo "$address" >"$state/address"
  changed=1
  echo "== gateway: running (pid $pid) at $address"
fi

address="$(cat "$state/address")"
ws_address="ws://${address#http://}"
if [ "$changed" = 0 ]; then
  echo "quick-start: nothing to do: everything was already in place"
else
  echo "quick-start: ready"
fi
cat <<EOF
  MCP (Streamable HTTP)  $address
  MCP (WebSocket)        ${ws_address%/mcp}/ws
  Inspect it:            npx @modelcontextprotocol/inspector --transport http --server-url $address
  Log:                   $log_file
  Stop it:               scripts/quick-start.sh --stop
EOF
