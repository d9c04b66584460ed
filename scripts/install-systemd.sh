#!/usr/bin/env bash
# Installs this mcp-bridge checkout as a systemd service, `mcp-bridge.service`: a hardened unit
# (a DynamicUser, ProtectSystem=strict, NoNewPrivileges, restart on failure), its config in
# /etc/mcp-bridge/config.yaml and its secrets in /etc/mcp-bridge/mcp-bridge.env (mode 0600, read
# by systemd). Idempotent: a file already as wanted is left alone, an existing config or env file
# is never overwritten, and systemctl runs only for what changed. docs/operations.md#install-scripts.
#
#   sudo scripts/install-systemd.sh [--dry-run] [--no-start] [--port N]
#   scripts/install-systemd.sh --prefix DIR [--unit-dir DIR]    # into a folder, as a package build would
#
# --prefix DIR writes every file under DIR (DIR/etc/mcp-bridge, DIR/etc/systemd/system) while the
# unit still names the paths it will have once installed; nothing is started then. --unit-dir
# puts the unit elsewhere. --app-dir is where the built checkout is (default: this one; run
# "npm ci && npm run build" there first), --node the node binary (default: the one on PATH).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/
unit_dir=""
app_dir="$here"
node_bin="$(command -v node || true)"
port=8080
dry_run=false
start=true
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix | --unit-dir | --app-dir | --node | --port)
      [ $# -ge 2 ] || {
        echo "install-systemd: $1 needs a value" >&2
        exit 2
      }
      case "$1" in
        --prefix) prefix="$2" ;;
        --unit-dir) unit_dir="$2" ;;
        --app-dir) app_dir="$2" ;;
        --node) node_bin="$2" ;;
        --port) port="$2" ;;
      esac
      shift 2
      ;;
    --dry-run)
      dry_run=true
      shift
      ;;
    --no-start)
      start=false
      shift
      ;;
    -h | --help)
      sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install-systemd: unknown argument \"$1\" (see --help)" >&2
      exit 2
      ;;
  esac
done

fail() {
  echo "install-systemd: $*" >&2
  exit 1
}
case "$port" in '' | *[!0-9]*) fail "--port: expected a number, got \"$port\"" ;; esac
[ -n "$node_bin" ] || fail "no node on PATH; give --node /path/to/node (Node.js 20.19 or later)"
[ -x "$node_bin" ] || fail "--node: $node_bin is not an executable"
app_dir="$(cd "$app_dir" 2>/dev/null && pwd)" || fail "--app-dir: no such folder"
[ -f "$app_dir/dist/cli.js" ] || fail "$app_dir/dist/cli.js is missing: run \"npm ci && npm run build\" in $app_dir first"
node_bin="$(cd "$(dirname "$node_bin")" && pwd)/$(basename "$node_bin")"

root="${prefix%/}"
[ -n "$unit_dir" ] || unit_dir="$root/etc/systemd/system"
config_dir="$root/etc/mcp-bridge"
installing_live=false
[ "$root" = "" ] && installing_live=true
if $installing_live && ! $dry_run && [ "$(id -u)" != 0 ]; then
  fail "installing into / needs root: run it with sudo, or give --prefix DIR to install into a folder (--dry-run shows what it would do)"
fi

# A home folder is hidden from the service unless the app lives there.
protect_home=true
case "$app_dir" in /home/* | /root/* | /run/user/*) protect_home=read-only ;; esac

unit="# Written by scripts/install-systemd.sh, which rewrites it when run again: settings belong in
# /etc/mcp-bridge/config.yaml (\`systemctl reload mcp-bridge\` reloads it) and mcp-bridge.env.
[Unit]
Description=mcp-bridge MCP gateway
Documentation=https://github.com/mcp-bridge/mcp-bridge/blob/main/docs/operations.md
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=60
StartLimitBurst=5

[Service]
Type=simple
# A user made for the service each time it starts, owning nothing but its state folder.
DynamicUser=yes
StateDirectory=mcp-bridge
WorkingDirectory=/var/lib/mcp-bridge
Environment=HOME=/var/lib/mcp-bridge
Environment=NODE_ENV=production
Environment=BRIDGE_PORT=$port
# Secrets (BRIDGE_API_KEYS, tokens for \${VAR} in the config) go here, not in config.yaml.
EnvironmentFile=/etc/mcp-bridge/mcp-bridge.env
ExecStart=$node_bin $app_dir/dist/cli.js --config /etc/mcp-bridge/config.yaml
ExecReload=/bin/kill -HUP \$MAINPID
# SIGTERM drains: requests in flight finish within TimeoutStopSec.
KillMode=mixed
TimeoutStopSec=40
Restart=on-failure
RestartSec=2
LimitNOFILE=65536
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=$protect_home
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
LockPersonality=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
# Not MemoryDenyWriteExecute: V8's JIT needs memory it can write and then run.

[Install]
WantedBy=multi-user.target
"

config="# mcp-bridge's config (docs/configuration.md); written once by scripts/install-systemd.sh,
# never overwritten. Check it with: $node_bin $app_dir/dist/cli.js check-config <this file>
server:
  host: 127.0.0.1
backends:
  everything:
    command: $node_bin
    args: [$app_dir/node_modules/@modelcontextprotocol/server-everything/dist/index.js, stdio]
"

env_file="# Environment of mcp-bridge.service (mode 0600, read by systemd as root). Written once by
# scripts/install-systemd.sh, never overwritten. docs/configuration.md#environment-variables
# BRIDGE_API_KEYS=change-me
# BRIDGE_REQUIRE_AUTH=true
"

changed=0
# Writes $2 to $1 with mode $3 when it differs (or, with $4 = once, only when it is absent).
put() {
  local path="$1" text="$2" mode="$3" once="${4:-}"
  if [ -f "$path" ]; then
    if [ "$once" = once ]; then
      echo "kept       $path (exists; never overwritten)"
      return
    fi
    # Both sides without their trailing newlines, as $(...) gives them.
    if [ "$(cat "$path")" = "$(printf '%s' "$text")" ]; then
      echo "unchanged  $path"
      return
    fi
    verb=updated
  else
    verb=created
  fi
  changed=1
  if $dry_run; then
    echo "would be $verb: $path (mode $mode)"
    return
  fi
  mkdir -p "$(dirname "$path")"
  local temporary="$path.tmp.$$"
  (
    umask 077
    printf '%s' "$text" >"$temporary"
  )
  chmod "$mode" "$temporary"
  mv -f "$temporary" "$path"
  echo "$verb    $path"
  [ "$path" = "$unit_dir/mcp-bridge.service" ] && unit_changed=1
  return 0
}

unit_changed=0
put "$config_dir/config.yaml" "$config" 0644 once
put "$config_dir/mcp-bridge.env" "$env_file" 0600 once
put "$unit_dir/mcp-bridge.service" "$unit" 0644

if $dry_run; then
  echo "--- the unit ($unit_dir/mcp-bridge.service) ---"
  printf '%s' "$unit"
fi

if $installing_live && $start && ! $dry_run; then
  command -v systemctl >/dev/null 2>&1 || fail "no systemctl here: the files are in place; start the service where systemd runs"
  if [ "$unit_changed" = 1 ]; then
    systemctl daemon-reload
    echo "ran        systemctl daemon-reload"
  fi
  if ! systemctl is-enabled --quiet mcp-bridge.service; then
    systemctl enable --now mcp-bridge.service
    echo "ran        systemctl enable --now mcp-bridge.service"
    changed=1
  elif [ "$unit_changed" = 1 ]; then
    systemctl restart mcp-bridge.service
    echo "ran        systemctl restart mcp-bridge.service"
  elif ! systemctl is-active --quiet mcp-bridge.service; then
    systemctl start mcp-bridge.service
    echo "ran        systemctl start mcp-bridge.service"
    changed=1
  fi
elif $installing_live && $start && $dry_run; then
  echo "would run: systemctl daemon-reload and enable --now mcp-bridge.service (when something changed)"
fi

if [ "$changed" = 0 ]; then
  echo "install-systemd: nothing to do: mcp-bridge.service is installed as wanted"
elif $dry_run; then
  echo "install-systemd: dry run: nothing was written"
else
  echo "install-systemd: installed; logs: journalctl -u mcp-bridge"
fi
