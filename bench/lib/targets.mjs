/*
 * What the benchmark measures: our gateway and two peers from npm, each run as a child process
 * on 127.0.0.1 serving the echo backend, plus the echo backend on its own (the baseline).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess } from './procs.mjs';
import { StdioSession } from './clients.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ECHO = join(ROOT, 'bench', 'echo-server.mjs');
const NODE = process.execPath;

/** The columns of a run, unless --targets says otherwise. */
export const COLUMNS = ['direct', 'bridge', 'supergateway', 'mcp-proxy'];
/**
 * Columns run only when asked for: `floor` (bench/floor-relay.mjs), a yardstick, not a peer;
 * the connector (`mcp-bridge connect`, a stdio server for the load generator as for a desktop
 * client) in front of our gateway over Streamable HTTP, WebSocket or TCP.
 */
export const EXTRA_COLUMNS = ['floor', 'connector', 'connector-ws', 'connector-tcp'];
export const LABELS = {
  connector: 'connector → gateway (HTTP)',
  'connector-ws': 'connector → gateway (WebSocket)',
  'connector-tcp': 'connector → gateway (TCP)',
  floor: 'floor relay',
  direct: 'direct stdio',
  bridge: 'mcp-bridge',
  supergateway: 'supergateway',
  'mcp-proxy': 'mcp-proxy',
};

export function packageVersion(name) {
  const file = name === 'mcp-bridge' ? 'package.json' : join('node_modules', name, 'package.json');
  return JSON.parse(readFileSync(join(ROOT, file), 'utf8')).version;
}

/** A direct session: one echo process of its own. */
export function directSession() {
  return new StdioSession({ command: NODE, args: [ECHO], cwd: ROOT });
}

/** The command lines used, for the report. */
export function commandLines(port = '<port>') {
  return {
    bridge: `node dist/cli.js --stdio "node bench/echo-server.mjs" --port 0 --log-level info`,
    // Scenario (vi): one load generator holds 10,000 connections from one address.
    'bridge (vi)': `node dist/cli.js --stdio "node bench/echo-server.mjs" --port 0 --log-level info --max-connections-per-address 0`,
    'bridge-shared': `node bench/gateway-process.mjs '{"server":{"host":"127.0.0.1","port":0},"log":{"level":"warn"},"backends":{"echo":{"command":"node","args":["bench/echo-server.mjs"],"processModel":"shared","serializeCalls":false}}}'`,
    supergateway: `node node_modules/supergateway/dist/index.js --stdio "node bench/echo-server.mjs" --outputTransport streamableHttp --stateful --port ${port} --logLevel none`,
    'supergateway-ws': `node node_modules/supergateway/dist/index.js --stdio "node bench/echo-server.mjs" --outputTransport ws --messagePath /ws --port ${port} --logLevel none`,
    floor: 'node bench/floor-relay.mjs node bench/echo-server.mjs',
    'mcp-proxy': `node node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs --host 127.0.0.1 --port ${port} --server stream -- node bench/echo-server.mjs`,
  };
}

/**
 * Our gateway. `per-session` is quick mode, the product as shipped (port read from the
 * `gateway listening` log line); `shared` is one process for every session, which quick mode
 * has no flag for, so it is built from a config by bench/gateway-process.mjs.
 * `maxConnectionsPerAddress`: server.maxConnectionsPerAddress (`--max-connections-per-address`),
 * for a scenario whose one load generator holds more connections than the default cap of 256.
 */
export function startBridge({
  processModel = 'per-session',
  cpuProfDir,
  maxConnectionsPerAddress,
} = {}) {
  const nodeFlags = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [];
  if (processModel === 'shared') {
    const config = {
      server: {
        host: '127.0.0.1',
        port: 0,
        ...(maxConnectionsPerAddress !== undefined && { maxConnectionsPerAddress }),
      },
      log: { level: 'warn' },
      // One load generator is one caller: the per-caller cap would stop the 10k-session scenario.
      sessions: { maxPerClient: 0 },
      backends: {
        echo: { command: NODE, args: [ECHO], processModel: 'shared', serializeCalls: false },
      },
    };
    return startProcess({
      name: 'mcp-bridge (shared)',
      command: NODE,
      args: [...nodeFlags, join(ROOT, 'bench', 'gateway-process.mjs'), JSON.stringify(config)],
      cwd: ROOT,
      readyPort: (line) => portFrom(line, (v) => v.port),
    });
  }
  return startProcess({
    name: 'mcp-bridge',
    command: NODE,
    args: [
      ...nodeFlags,
      join(ROOT, 'dist', 'cli.js'),
      '--stdio',
      `${NODE} ${ECHO}`,
      '--port',
      '0',
      '--log-level',
      'info',
      ...(maxConnectionsPerAddress !== undefined
        ? ['--max-connections-per-address', String(maxConnectionsPerAddress)]
        : []),
    ],
    cwd: ROOT,
    readyPort: (line) =>
      portFrom(line, (v) => (v.msg === 'gateway listening' ? v.port : undefined)),
  });
}

/**
 * The gateway a connector column reaches: one echo process per session, the TCP frontend on
 * for `tcp` (its port is then the one handed back, as the connector's URL needs it).
 */
export function startConnectorGateway({ tcp = false } = {}) {
  const config = {
    server: { host: '127.0.0.1', port: 0, ...(tcp && { tcp: { enabled: true, port: 0 } }) },
    log: { level: 'warn' },
    sessions: { maxPerClient: 0 },
    backends: { echo: { command: NODE, args: [ECHO] } },
  };
  return startProcess({
    name: `mcp-bridge for the connector${tcp ? ' (TCP)' : ''}`,
    command: NODE,
    args: [join(ROOT, 'bench', 'gateway-process.mjs'), JSON.stringify(config)],
    cwd: ROOT,
    readyPort: (line) => portFrom(line, (v) => (tcp ? v.tcpPort : v.port)),
  });
}

/** A session through `mcp-bridge connect`: the load generator speaks stdio to the connector. */
export function connectorSession(column, port) {
  const url =
    column === 'connector-tcp'
      ? `tcp://127.0.0.1:${port}`
      : column === 'connector-ws'
        ? `ws://127.0.0.1:${port}/ws`
        : `http://127.0.0.1:${port}/mcp`;
  return new StdioSession({
    command: NODE,
    args: [join(ROOT, 'dist', 'cli.js'), 'connect', url, '--log-level', 'warn'],
    cwd: ROOT,
  });
}

/** bench/floor-relay.mjs: the least a Node HTTP → stdio relay costs (one process per session). */
export function startFloor() {
  return startProcess({
    name: 'floor relay',
    command: NODE,
    args: [join(ROOT, 'bench', 'floor-relay.mjs'), NODE, ECHO],
    cwd: ROOT,
    readyPort: (line) => {
      const match = /^floor listening (\d+)$/.exec(line.trim());
      return match ? Number(match[1]) : undefined;
    },
  });
}

function portFrom(line, pick) {
  if (!line.startsWith('{')) return undefined;
  try {
    const port = pick(JSON.parse(line));
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

/** supergateway: stateful Streamable HTTP (a process per session), or its WebSocket mode. */
export async function startSupergateway({ transport = 'http' } = {}) {
  const port = await freePort();
  const output =
    transport === 'ws'
      ? ['--outputTransport', 'ws', '--messagePath', '/ws']
      : ['--outputTransport', 'streamableHttp', '--stateful'];
  return startProcess({
    name: 'supergateway',
    command: NODE,
    args: [
      join(ROOT, 'node_modules', 'supergateway', 'dist', 'index.js'),
      '--stdio',
      `${NODE} ${ECHO}`,
      ...output,
      '--port',
      String(port),
      '--logLevel',
      'none',
    ],
    cwd: ROOT,
    port,
  });
}

/** mcp-proxy: Streamable HTTP only, one backend process shared by every session. */
export async function startMcpProxy() {
  const port = await freePort();
  return startProcess({
    name: 'mcp-proxy',
    command: NODE,
    args: [
      join(ROOT, 'node_modules', 'mcp-proxy', 'dist', 'bin', 'mcp-proxy.mjs'),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--server',
      'stream',
      '--',
      NODE,
      ECHO,
    ],
    cwd: ROOT,
    port,
  });
}
