import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect as connectTcp, createServer as createTcpServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { fileURLToPath } from 'node:url';
import { createGateway, parseConfig } from '../src/index.js';
import type { Gateway, GatewayConfigInput } from '../src/index.js';
import { createLogger } from '../src/core/logger.js';

const require = createRequire(import.meta.url);

/** Entry point of the real reference server from npm. */
export const EVERYTHING = join(
  dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')),
  'dist/index.js',
);

export const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

export const everythingStdio = {
  transport: 'stdio' as const,
  command: process.execPath,
  args: [EVERYTHING, 'stdio'],
  killGraceMs: 500,
};

/** The probe fixture (test/fixtures/probe-server.mjs) as a stdio backend. */
export const probeStdio = {
  transport: 'stdio' as const,
  command: process.execPath,
  args: [join(FIXTURES, 'probe-server.mjs')],
  killGraceMs: 500,
};

export interface RunningGateway {
  gateway: Gateway;
  url: URL;
  close(): Promise<void>;
}

/** A gateway on 127.0.0.1, port 0, logging only when MCP_BRIDGE_TEST_LOG is set. */
export async function startGateway(
  backend: NonNullable<GatewayConfigInput['backends']>[string] = everythingStdio,
  extra: Partial<GatewayConfigInput> = {},
): Promise<RunningGateway> {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0, path: '/mcp' },
    backends: { everything: backend },
    ...extra,
  });
  const log = createLogger({ level: (process.env.MCP_BRIDGE_TEST_LOG as 'debug') ?? 'silent' });
  const gateway = createGateway(config, { log });
  const address = await gateway.listen();
  return {
    gateway,
    url: new URL(`http://127.0.0.1:${address.port}/mcp`),
    close: () => gateway.close(),
  };
}

export const fullCapabilities: ClientCapabilities = {
  sampling: {},
  elicitation: { form: {} },
  roots: { listChanged: true },
};

/** The official SDK client over Streamable HTTP. */
export async function connectClient(
  url: URL,
  capabilities: ClientCapabilities = fullCapabilities,
  setup?: (client: Client) => void,
): Promise<Client> {
  const client = new Client({ name: 'mcp-bridge-test', version: '1.0.0' }, { capabilities });
  setup?.(client);
  await client.connect(new StreamableHTTPClientTransport(url));
  return client;
}

/** Resolves when `predicate` holds, polling; rejects after `ms`. */
export async function waitFor(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** TCP ports process `pid` listens on, read from /proc (for servers that cannot report port 0). */
export function listeningPortsOf(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // closed while we looked
    }
  }
  const ports: number[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && cols[9] && inodes.has(cols[9]))
        ports.push(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

export interface RunningServer {
  url: string;
  pid: number;
  close(): Promise<void>;
}

/** server-everything in its own HTTP modes, on a free port: `sse` (GET /sse) or `streamableHttp` (/mcp). */
export async function startEverythingHttp(mode: 'sse' | 'streamableHttp'): Promise<RunningServer> {
  const child = spawn(process.execPath, [EVERYTHING, mode], {
    env: { PATH: process.env.PATH ?? '', PORT: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let ports: number[] = [];
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`server-everything ${mode} exited: ${stderr}`);
      ports = child.pid ? listeningPortsOf(child.pid) : [];
      return ports.length > 0;
    },
    10_000,
    `server-everything ${mode} to listen`,
  );
  const path = mode === 'sse' ? '/sse' : '/mcp';
  return {
    url: `http://127.0.0.1:${ports[0]}${path}`,
    pid: child.pid!,
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The SDK-built HTTP probe server (test/fixtures/probe-http-server.mjs) in `streamable` or `sse` mode. */
export async function startProbeHttp(mode: 'streamable' | 'sse'): Promise<RunningServer> {
  const child = spawn(process.execPath, [join(FIXTURES, 'probe-http-server.mjs'), mode], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  await waitFor(() => out.includes('\n'), 10_000, `the probe HTTP server (${mode}) to listen`);
  const port = Number(out.trim());
  return {
    url: `http://127.0.0.1:${port}${mode === 'sse' ? '/sse' : '/mcp'}`,
    pid: child.pid!,
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The Accept header a Streamable HTTP client must send with a POST. */
export const ACCEPT_JSON_AND_SSE = 'application/json, text/event-stream';

/** An `initialize` request as a raw (non-SDK) client sends it. */
export function initializeRequest(
  options: { id?: number | string; name?: string; protocolVersion?: string } = {},
) {
  const { id = 1, name = 'raw', protocolVersion = '2025-11-25' } = options;
  return {
    jsonrpc: '2.0' as const,
    id,
    method: 'initialize' as const,
    params: { protocolVersion, capabilities: {}, clientInfo: { name, version: '1' } },
  };
}

export interface TcpRelay {
  port: number;
  /** Cuts every open connection, as a flaky network would. */
  cut(): void;
  /** Cuts every connection and refuses new ones until `heal()`, as a failing server would. */
  break(): void;
  heal(): void;
  /** New connections go to `port` from now on (a server that moved, or was replaced). */
  retarget(port: number): void;
  close(): Promise<void>;
}

/** A TCP relay on 127.0.0.1 in front of `target` (a port), whose connections a test can cut. */
export async function tcpRelay(target: number): Promise<TcpRelay> {
  let broken = false;
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    if (broken) return void client.destroy();
    const upstream = connectTcp(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    port: (server.address() as AddressInfo).port,
    cut,
    break() {
      broken = true;
      cut();
    },
    heal() {
      broken = false;
    },
    retarget(port: number) {
      target = port;
    },
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}

/**
 * A desktop client of `mcp-bridge connect <url> ...args` (the SDK's stdio client, the connector
 * as its child process, logging at info with a short backoff), with the connector's stderr and
 * what it wrote to the client, in order: the SDK client handles a reply at once and
 * notifications a tick later, so a progress notification read in the same chunk as the result
 * never reaches onprogress; the wire is what the connector answers for. Close the client to end it.
 */
export async function connectorClient(
  url: string,
  args: string[] = [],
): Promise<{ client: Client; stderr: () => string; received: unknown[] }> {
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cli, 'connect', url, ...args, '--log-level', 'info', '--backoff-max-ms', '200'],
    env: { PATH: process.env.PATH ?? '' },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr!.on('data', (d: Buffer) => (stderr += d));
  const client = new Client({ name: 'desktop', version: '1' });
  await client.connect(transport);
  const received: unknown[] = [];
  const handle = transport.onmessage!;
  transport.onmessage = (message) => {
    received.push(message);
    handle(message);
  };
  return { client, stderr: () => stderr, received };
}

/**
 * A long tools/call (server-everything's, 8 progress steps) with `relay` cut once two progress
 * notifications are in: the progress numbers the client saw, and the call's result.
 */
export async function cutMidCall(
  client: Client,
  relay: TcpRelay,
): Promise<{ progress: number[]; result: unknown }> {
  const progress: number[] = [];
  const call = client.callTool(
    { name: 'trigger-long-running-operation', arguments: { duration: 2, steps: 8 } },
    undefined,
    { onprogress: (p) => progress.push(p.progress), timeout: 30_000 },
  );
  await waitFor(() => progress.length >= 2, 10_000, 'the first progress notifications');
  relay.cut();
  return { progress, result: await call };
}

/**
 * cutMidCall through a connector: what reached the client, in order, as progress numbers and
 * `'result'`. A call that lives through the cut gives [1, …, 8, 'result'].
 */
export async function longCallAcrossCut(
  client: Client,
  relay: TcpRelay,
  received: unknown[],
): Promise<Array<number | string>> {
  const { result } = await cutMidCall(client, relay);
  if (!JSON.stringify(result).includes('Long running operation completed'))
    throw new Error(`the call did not complete: ${JSON.stringify(result).slice(0, 200)}`);
  return received.flatMap((m): Array<number | string> => {
    const message = m as { method?: string; params?: { progress?: number }; result?: unknown };
    if (message.method === 'notifications/progress') return [message.params!.progress!];
    return JSON.stringify(message.result ?? '').includes('Long running') ? ['result'] : [];
  });
}
