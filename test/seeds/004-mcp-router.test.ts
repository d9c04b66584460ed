import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { parseConnectArgs } from '../../src/connector/command.js';
import { setupCommand } from '../../src/connector/setup.js';
import {
  checkConfigCommand,
  importRouterCommand,
  storeTokenCommand,
  versionCommand,
} from '../../src/connector/subcommands.js';
import { channels } from '../../src/core/diagnostics.js';
import type { SessionOpenEvent } from '../../src/core/diagnostics.js';
import { version } from '../../src/version.js';
import { EVERYTHING, everythingStdio, startGateway, waitFor } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/*
 * Seed 004, "MCP Router" (the stdio process a desktop client launches, carrying its traffic to
 * a remote gateway or straight to local servers), walked as its user would with
 * `mcp-bridge connect`: their mcp-router.yaml (the README's example, test/fixtures/seeds/),
 * loaded by `connect --config` as it is or converted by `connect import`, their MCP_*
 * variables, their commands, their metric names on the metrics port, direct mode with a real
 * server-everything, and a real gateway (in this process, port 0, a token required) over both
 * transports the seed names: WebSocket and TCP Binary. The desktop client is the SDK's
 * StdioClientTransport. One `it` per documented feature (22 working); LEFT_OUT lists the 12
 * left out, with why, and docs/migrating.md names each.
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/seeds/004-mcp-router.yaml', import.meta.url));
const MIGRATING = fileURLToPath(new URL('../../docs/migrating.md', import.meta.url));
const TOKEN = 'router-token-41c9e07d';

/** Seed 004 features mcp-bridge deliberately does not carry, each named in docs/migrating.md. */
const LEFT_OUT: ReadonlyArray<{ feature: string; named: string; reason: string }> = [
  {
    feature: 'Connection pooling',
    named: 'gateway.connection.pool',
    reason: 'one link carries the client session, its requests multiplexed by id',
  },
  {
    feature: 'Memory optimization and GC tuning',
    named: 'direct_clients',
    reason: "tuning of the Go runtime; Node's is not configured from the file",
  },
  {
    feature: 'Protocol auto-detection across candidates; direct-to-gateway fallback',
    named: 'fallback: gateway',
    reason:
      'a connector runs one direct server or one remote (plus fallback remotes); only http(s) is detected (Streamable HTTP, then SSE)',
  },
  {
    feature: 'Circuit breaker in the router',
    named: 'max_attempts',
    reason: 'the connector reconnects with capped, jittered backoff and never gives up',
  },
  {
    feature: 'Client-side rate limiting and concurrency cap',
    named: 'local.rate_limit',
    reason: 'limits belong on the gateway (rateLimits), where they protect every client',
  },
  {
    feature: 'TLS minimum version, cipher suites, certificate pinning, verify: false',
    named: 'cipher_suites',
    reason: "Node's TLS defaults; certificates are always verified (a private CA is tls.ca)",
  },
  {
    feature: 'OAuth2 password grant',
    named: 'grant_type: password',
    reason:
      'deprecated by OAuth 2.1; client credentials and the MCP authorization flow are carried',
  },
  {
    feature: 'Encrypted fallback token file with machine-specific encryption',
    named: 'machine-specific encryption',
    reason:
      'the fallback is a 0600 file in a 0700 folder; the OS keychain is used where there is one',
  },
  {
    feature: 'update-check command',
    named: 'update-check',
    reason: 'mcp-bridge is an npm package: npm outdated -g mcp-bridge',
  },
  {
    feature: 'install.sh / uninstall.sh of the binary',
    named: 'uninstall.sh',
    reason:
      'npm install -g mcp-bridge; scripts/quick-start.sh and scripts/install-systemd.sh for a gateway',
  },
  {
    feature: 'MCP_ADVANCED_DEBUG_LOG_FRAMES and the other tuning variables',
    named: 'MCP_ADVANCED_DEBUG_LOG_FRAMES',
    reason: 'MCP_LOGGING_LEVEL=trace logs every message; the tuning they set has no counterpart',
  },
  {
    feature: 'mcp_router_response_size_bytes and mcp_router_rate_limit_exceeded metrics',
    named: 'mcp_router_response_size_bytes',
    reason: 'the connector does not measure replies, nor limit its client',
  },
];

let dir: string;
let gw: RunningGateway;
let wsUrl: string;
let tcpUrl: string;
const sessions: SessionOpenEvent[] = [];
const onSession = (event: SessionOpenEvent) => sessions.push(event);

/** The environment a desktop client gives the router: PATH, a secrets file of its own, the token. */
function envWith(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    MCP_BRIDGE_SECRETS_FILE: join(dir, 'secrets.json'),
    MCP_BRIDGE_KEYCHAIN: 'off',
    MCP_AUTH_TOKEN: TOKEN,
    ...extra,
  };
}

/**
 * One of `connect`'s commands, run in this process through its own entry point (each spawned
 * CLI costs a second of CPU on this shared machine; the connector sessions below are real
 * processes).
 */
async function command(
  run: (io: {
    out: (t: string) => void;
    err: (t: string) => void;
    env: NodeJS.ProcessEnv;
    stdin: NodeJS.ReadableStream;
  }) => number | Promise<number>,
  env: Record<string, string> = envWith(),
  input = '',
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run({
    out: (t) => (stdout += t),
    err: (t) => (stderr += t),
    env,
    stdin: Readable.from([input]),
  });
  return { code, stdout, stderr };
}

interface Desktop {
  client: Client;
  stderr: () => string;
  close(): Promise<void>;
}

/** The router as Claude CLI starts it (`mcp_server_command`), through the SDK's stdio client. */
async function desktop(args: string[], env = envWith()): Promise<Desktop> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'connect', ...args],
    env,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr!.on('data', (d: Buffer) => (stderr += d));
  const client = new Client({ name: 'claude-cli', version: '1' });
  await client.connect(transport);
  return { client, stderr: () => stderr, close: () => client.close() };
}

function writeConfig(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Waits for the router's status file (written a moment after each change) to show `expected`. */
async function statusShows(file: string, expected: Record<string, unknown>): Promise<void> {
  let status: Record<string, unknown> = {};
  try {
    await waitFor(
      () => {
        try {
          status = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
        } catch {
          return false; // not written yet
        }
        return Object.entries(expected).every(([key, value]) => status[key] === value);
      },
      10_000,
      `the status file to show ${JSON.stringify(expected)}`,
    );
  } finally {
    expect(status).toMatchObject(expected);
  }
}

function text(result: Awaited<ReturnType<Client['callTool']>>): string {
  return (result.content as Array<{ text: string }>)[0]!.text;
}

/** A port nothing listens on (bound, then let go). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The gateway the router reaches: server-everything behind it, a token required. */
function gatewayOn(tcpPort: number): Promise<RunningGateway> {
  return startGateway(
    { ...everythingStdio, processModel: 'shared' },
    {
      server: { host: '127.0.0.1', port: 0, tcp: { enabled: true, port: tcpPort } },
      auth: { required: true, apiKeys: [TOKEN] },
    },
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'seed-004-'));
  gw = await gatewayOn(0);
  wsUrl = `ws://127.0.0.1:${gw.url.port}/ws`;
  tcpUrl = `tcp://127.0.0.1:${gw.gateway.tcpAddress()!.port}`;
  channels.sessionOpen.subscribe(onSession);
});
afterAll(async () => {
  channels.sessionOpen.unsubscribe(onSession);
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('seed 004: the README mcp-router.yaml', () => {
  let router: Desktop;
  let path: string;
  beforeAll(async () => {
    // The README's file, aimed at this gateway (its CA line out: there is no TLS here).
    path = writeConfig(
      'mcp-router.yaml',
      readFileSync(FIXTURE, 'utf8')
        .replace('wss://mcp-gateway.example.com:8443', wsUrl)
        .replace('tcps://mcp-gateway.example.com:8444', tcpUrl)
        .replace('    ca_cert_path: /path/to/ca.crt\n', '')
        .replace('endpoint: localhost:9091', 'endpoint: localhost:0'),
    );
    router = await desktop(['--config', path]);
  });
  afterAll(() => router?.close());

  it('is converted by connect import, every key not carried named with its reason', async () => {
    const { code, stdout, stderr } = await command((io) => importRouterCommand([FIXTURE], io));
    expect(code).toBe(0);
    const remote = {
      auth: { type: 'bearer', token: { env: 'MCP_AUTH_TOKEN' } },
      tls: { ca: '/path/to/ca.crt' },
    };
    expect(parse(stdout)).toEqual({
      remote: {
        url: 'wss://mcp-gateway.example.com:8443',
        transport: 'websocket-envelope',
        ...remote,
      },
      fallbacks: [{ url: 'tcps://mcp-gateway.example.com:8444', ...remote }],
      connectTimeoutMs: 5000,
      backoff: { initialMs: 1000, maxMs: 60000 },
      queue: { size: 100, waitMs: 30000 },
      logLevel: 'info',
      metrics: { enabled: true, host: '127.0.0.1', port: 9091 },
    });
    const notCarried = [...stderr.matchAll(/^not carried: (\S+?):/gm)].map((m) => m[1]);
    expect(notCarried).toEqual([
      'gateway.tls.min_version',
      'gateway.tls.cipher_suites',
      'gateway.connection.reconnect.max_attempts',
      'gateway.connection.reconnect.jitter',
      'gateway.connection.keepalive_interval_ms',
      'gateway.connection.pool',
      'gateway.auto_select',
      'servers[0]',
      'direct_clients',
      'local.max_concurrent_requests',
      'local.rate_limit',
    ]);
    const ours = writeConfig('ours.yaml', 'remote: { url: "https://gw.example/mcp" }\n');
    const refused = await command((io) => importRouterCommand([ours], io));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/ours\.yaml: not seed 004's router file: expected "gateway"/);
  });

  it('is loaded as it is by connect check-config and connect --config, with one warning', async () => {
    const check = await command((io) => checkConfigCommand([path], io));
    expect(check.stderr).toMatch(
      /^note: .*mcp-router\.yaml: a seed 004 router config \(mcp-router\.yaml\), converted on the fly \(11 keys not carried\)/m,
    );
    expect(check.stdout).toContain(
      `${wsUrl} over websocket-envelope, auth bearer, then 1 fallback, metrics on 127.0.0.1:0`,
    );
    expect(check.code).toBe(0);
    expect((await router.client.listTools()).tools.map((t) => t.name)).toContain('echo');
    const warnings = router
      .stderr()
      .split('\n')
      .filter((l) => l.includes('converted on the fly'));
    expect(warnings).toHaveLength(1);
  });

  it('reaches the gateway over WebSocket, the token in every message (per-message authentication)', async () => {
    const reply = await router.client.callTool({ name: 'echo', arguments: { message: 'ws' } });
    expect(text(reply)).toBe('Echo: ws');
    expect(router.stderr()).toContain('a bearer token from $MCP_AUTH_TOKEN');
    expect(router.stderr()).not.toContain(TOKEN);
  });

  it('serves Prometheus metrics with the mcp_router_* names, and /health, on metrics.endpoint', async () => {
    const line = router
      .stderr()
      .split('\n')
      .find((l) => l.includes('connector metrics at'));
    const { port } = JSON.parse(line!) as { port: number };
    // initialize, tools/list and tools/call, all answered, none an error.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^mcp_router_requests_total 3$/m);
    expect(metrics).toMatch(/^mcp_router_responses_total 3$/m);
    expect(metrics).toMatch(/^mcp_router_errors_total 0$/m);
    expect(metrics).toMatch(/^mcp_router_request_duration_seconds_count 3$/m);
    expect(metrics).toMatch(/^mcp_router_active_connections 1$/m);
    expect(metrics).toMatch(/^mcp_router_connection_retries_total 0$/m);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'healthy' });
  });
});

describe('seed 004: environment variables, over TCP Binary', () => {
  // MCP_GATEWAY_URL and MCP_AUTH_TOKEN, no file: "works with sensible defaults".
  const statusFile = () => join(dir, 'env.status.json');
  const transport = () =>
    new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'connect', '--status-file', statusFile()],
      env: envWith({ MCP_GATEWAY_URL: tcpUrl, MCP_LOGGING_LEVEL: 'warn' }),
      stderr: 'pipe',
    });
  let stdio: StdioClientTransport;
  let stderr = '';
  const client = new Client({ name: 'claude-cli', version: '1' });
  let before = 0;
  beforeAll(async () => {
    stdio = transport();
    stdio.stderr!.on('data', (d: Buffer) => (stderr += d));
    before = sessions.length;
    await stdio.start();
  });
  afterAll(() => client.close());

  it('is passive: nothing reaches the gateway until the client initializes', async () => {
    await statusShows(statusFile(), { state: 'idle' });
    expect(sessions.length).toBe(before);
    // The client's own initialize, on the transport already started, is what opens the session.
    stdio.start = async () => {};
    await client.connect(stdio);
    expect(sessions.length).toBe(before + 1);
    expect(client.getServerVersion()?.name).toBe('mcp-servers/everything');
  });

  it('zero configuration: MCP_GATEWAY_URL (tcp://) and MCP_AUTH_TOKEN are enough', async () => {
    const reply = await client.callTool({ name: 'echo', arguments: { message: 'env' } });
    expect(text(reply)).toBe('Echo: env');
    await statusShows(statusFile(), { state: 'connected', remote: tcpUrl, transport: 'tcp' });
  });

  it('correlates concurrent requests on the one multiplexed connection', async () => {
    const words = ['one', 'two', 'three', 'four', 'five', 'six'];
    const replies = await Promise.all(
      words.map((message) => client.callTool({ name: 'echo', arguments: { message } })),
    );
    expect(replies.map(text)).toEqual(words.map((w) => `Echo: ${w}`));
  });

  it('MCP_LOGGING_LEVEL sets the level (warn: no info lines), and no line carries the token', () => {
    const levels = stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { level: number }).level);
    expect(levels.every((level) => level >= 40)).toBe(true);
    expect(stderr).not.toContain(TOKEN);
  });
});

describe('seed 004: endpoints, flags and secure storage', () => {
  // A WebSocket endpoint nobody answers, then the TCP one; the token from the secret store; the
  // file asks for error logs only and the command line for info.
  const statusFile = () => join(dir, 'dual.status.json');
  let stored: Awaited<ReturnType<typeof command>>;
  let router: Desktop;
  beforeAll(async () => {
    stored = await command(
      (io) => storeTokenCommand(['--key', 'my-api-token'], io),
      envWith(),
      `${TOKEN}\n`,
    );
    const dead = await freePort();
    const path = writeConfig(
      'dual.yaml',
      [
        'gateway:',
        '  endpoints:',
        `    - url: ws://127.0.0.1:${dead}/ws`,
        `    - url: ${tcpUrl}`,
        '  protocol_preference: websocket',
        '  auth: { type: bearer, token_secure_key: my-api-token }',
        'logging: { level: error }',
      ].join('\n'),
    );
    // No MCP_AUTH_TOKEN here: it would stand in for the file's auth (the environment wins).
    router = await desktop(
      ['--config', path, '--log-level', 'info', '--status-file', statusFile()],
      envWith({ MCP_AUTH_TOKEN: '' }),
    );
  });
  afterAll(() => router?.close());

  it('falls back from the WebSocket endpoint to the TCP Binary one (endpoints, protocol_preference)', async () => {
    expect((await router.client.listTools()).tools.map((t) => t.name)).toContain('echo');
    await statusShows(statusFile(), { remote: tcpUrl, transport: 'tcp' });
  });

  it('secure token storage: store-token --key, then token_secure_key', () => {
    expect(stored.code).toBe(0);
    expect(stored.stdout).toMatch(/^stored "my-api-token" in the secrets file/);
    expect(stored.stdout + stored.stderr).not.toContain(TOKEN);
    expect(router.stderr()).toContain('a bearer token from \\"my-api-token\\" in the secrets file');
  });

  it('command-line flags override the file: --config … --log-level', () => {
    expect(router.stderr()).toMatch(/"level":30,.*"msg":"connector ready"/);
  });
});

/** The router as raw JSON lines on stdio, for requests the SDK client would not send yet. */
function rawRouter(args: string[]) {
  const child = spawn(process.execPath, [CLI, 'connect', ...args], {
    stdio: 'pipe',
    env: envWith(),
  });
  const replies: Array<{ id?: number; result?: unknown; error?: { code: number } }> = [];
  let buffer = '';
  child.stdout.on('data', (d: Buffer) => {
    buffer += d;
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      replies.push(JSON.parse(buffer.slice(0, i)) as (typeof replies)[number]);
      buffer = buffer.slice(i + 1);
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    send: (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`),
    reply: async (id: number) => {
      await waitFor(() => replies.some((r) => r.id === id), 15_000, `reply ${id}`);
      return replies.find((r) => r.id === id)!;
    },
    close: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

const initialize = (id: number) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'raw', version: '1' },
  },
});

describe('seed 004: request queueing and reconnection', () => {
  let tcpPort: number;
  let late: RunningGateway | undefined;
  let router: ReturnType<typeof rawRouter>;
  beforeAll(async () => {
    tcpPort = await freePort();
    const path = writeConfig(
      'queue.yaml',
      [
        'gateway:',
        `  url: tcp://127.0.0.1:${tcpPort}`,
        '  auth: { type: bearer, token_env: MCP_AUTH_TOKEN }',
        '  connection: { reconnect: { initial_delay_ms: 50, max_delay_ms: 200 } }',
        'local: { max_queued_requests: 1, request_timeout_ms: 2000 }',
      ].join('\n'),
    );
    router = rawRouter(['--config', path, '--log-level', 'silent']);
  });
  afterAll(async () => {
    await router?.close();
    await late?.close();
  });

  it('a queued request respects request_timeout_ms', async () => {
    router.send(initialize(1)); // nothing listens yet
    expect((await router.reply(1)).error).toMatchObject({ code: -32021 });
  });

  it('queues while not connected, refuses beyond max_queued_requests ("queue full"), sends the queue once up', async () => {
    router.send(initialize(2));
    router.send({ jsonrpc: '2.0', id: 3, method: 'ping' });
    expect((await router.reply(3)).error).toMatchObject({ code: -32020 });
    late = await gatewayOn(tcpPort);
    expect((await router.reply(2)).result).toMatchObject({
      serverInfo: { name: 'mcp-servers/everything' },
    });
    router.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    router.send({ jsonrpc: '2.0', id: 4, method: 'tools/list' });
    expect((await router.reply(4)).result).toHaveProperty('tools');
  });

  it('reconnects when the gateway comes back (reconnect.initial_delay_ms, max_delay_ms)', async () => {
    await late!.close();
    late = await gatewayOn(tcpPort);
    router.send({ jsonrpc: '2.0', id: 5, method: 'tools/list' });
    expect((await router.reply(5)).result).toHaveProperty('tools');
  });
});

describe('seed 004: direct mode (direct_clients, connection_mode: direct)', () => {
  it('runs a local stdio server itself (a command candidate), MCP_AUTH_TOKEN set or not', async () => {
    const path = writeConfig(
      'direct.yaml',
      [
        'direct_clients: { enabled: true }',
        'servers:',
        '  - name: everything',
        '    connection_mode: direct',
        `    candidates: ['${JSON.stringify(process.execPath)} ${JSON.stringify(EVERYTHING)} stdio']`,
      ].join('\n'),
    );
    const router = await desktop(['--config', path]);
    try {
      const reply = await router.client.callTool({
        name: 'echo',
        arguments: { message: 'direct' },
      });
      expect(text(reply)).toBe('Echo: direct');
    } finally {
      await router.close();
    }
  });

  it.each([
    ['HTTP (Streamable HTTP)', '/mcp', 'streamable-http'],
    ['SSE', '/sse', 'sse'],
  ])(
    'reaches a %s server directly (a URL candidate, the protocol detected)',
    async (_name, path, kind) => {
      const url = `http://127.0.0.1:${gw.url.port}${path}`;
      const file = writeConfig(
        `direct-${kind}.yaml`,
        `servers:\n  - name: remote\n    connection_mode: direct\n    auto_detect: true\n    candidates: ["${url}"]\n`,
      );
      const statusFile = join(dir, `direct-${kind}.status.json`);
      const router = await desktop(['--config', file, '--status-file', statusFile]);
      try {
        expect((await router.client.listTools()).tools.map((t) => t.name)).toContain('echo');
        await statusShows(statusFile, { remote: url, transport: kind });
      } finally {
        await router.close();
      }
    },
  );
});

describe('seed 004: authentication methods', () => {
  it('bearer token from a file (token_file)', async () => {
    const token = join(dir, 'token');
    writeFileSync(token, `${TOKEN}\n`, { mode: 0o600 });
    const good = writeConfig(
      'token-file.yaml',
      `gateway:\n  url: ${tcpUrl}\n  auth: { type: bearer, token_file: ${token} }\n`,
    );
    const env = envWith({ MCP_AUTH_TOKEN: '' });
    const ok = await command((io) => checkConfigCommand([good], io), env);
    expect(ok.stdout).toContain('auth bearer');
    expect(ok.code).toBe(0);
    const settings = parseConnectArgs(['--config', good, '--log-level', 'silent'], env);
    expect(settings !== 'help' && (await settings.credentials!.headers())).toMatchObject({
      Authorization: `Bearer ${TOKEN}`,
    });
    const missing = writeConfig(
      'token-missing.yaml',
      `gateway:\n  url: ${tcpUrl}\n  auth: { type: bearer, token_file: ${join(dir, 'nope')} }\n`,
    );
    const bad = await command((io) => checkConfigCommand([missing], io), env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      `remote.auth.token.file: cannot read ${join(dir, 'nope')}: ENOENT`,
    );
  });

  it('mTLS: client_cert, client_key and ca_cert_path (~ expanded) become the remote TLS files', async () => {
    const path = writeConfig(
      'mtls.yaml',
      [
        'gateway:',
        '  url: tcps://gateway.example.com:9443',
        '  auth: { type: mtls, client_cert: ~/.mcp/client.crt, client_key: ~/.mcp/client.key }',
        '  tls: { ca_cert_path: ~/.mcp/ca.crt }',
      ].join('\n'),
    );
    const converted = await command((io) => importRouterCommand([path], io));
    expect(parse(converted.stdout)).toEqual({
      remote: {
        url: 'tcps://gateway.example.com:9443',
        tls: {
          cert: join(homedir(), '.mcp/client.crt'),
          key: join(homedir(), '.mcp/client.key'),
          ca: join(homedir(), '.mcp/ca.crt'),
        },
      },
    });
    // Loaded as a start would: each file is read, and one that is missing is named by its path.
    const check = await command(
      (io) => checkConfigCommand([path], io),
      envWith({ MCP_AUTH_TOKEN: '' }),
    );
    expect(check.code).toBe(1);
    expect(check.stderr).toMatch(/remote\.tls\.ca: .*ca\.crt/);
  });

  it('OAuth2 client credentials (token_endpoint, client_id, client_secret_env, scopes)', async () => {
    const path = writeConfig(
      'oauth2.yaml',
      [
        'gateway:',
        '  url: wss://gateway.example.com:8443',
        '  auth:',
        '    type: oauth2',
        '    client_id: "your-client-id"',
        '    client_secret_env: OAUTH_CLIENT_SECRET',
        '    token_endpoint: "https://auth.example.com/token"',
        '    grant_type: "client_credentials"',
        '    scopes: ["mcp:read", "mcp:write"]',
      ].join('\n'),
    );
    const converted = await command((io) => importRouterCommand([path], io));
    expect((parse(converted.stdout) as { remote: { auth: unknown } }).remote.auth).toEqual({
      type: 'oauth-client-credentials',
      tokenUrl: 'https://auth.example.com/token',
      clientId: 'your-client-id',
      clientSecret: { env: 'OAUTH_CLIENT_SECRET' },
      scope: 'mcp:read mcp:write',
      clientAuth: 'body',
    });
    const env = envWith({ MCP_AUTH_TOKEN: '', OAUTH_CLIENT_SECRET: 's3cret' });
    const check = await command((io) => checkConfigCommand([path], io), env);
    expect(check.stdout).toContain('auth oauth-client-credentials');
    expect(check.code).toBe(0);
    const unset = await command(
      (io) => checkConfigCommand([path], io),
      envWith({ MCP_AUTH_TOKEN: '' }),
    );
    expect(unset.code).toBe(1);
    expect(unset.stderr).toContain('OAUTH_CLIENT_SECRET is not set');
  });
});

describe('seed 004: commands', () => {
  it('version', async () => {
    const shown = await command((io) => versionCommand([], io));
    expect(shown).toMatchObject({ code: 0, stdout: `mcp-bridge ${version} (connector)\n` });
  });

  it('setup: asks for the gateway URL and the token, tests the connection, saves the configuration', async () => {
    const configPath = join(dir, 'setup', 'router.yaml');
    const answers = [tcpUrl, 'token', 'team-gw', TOKEN, 'team', configPath, 'none'];
    let out = '';
    const code = await setupCommand([], {
      input: Readable.from([`${answers.join('\n')}\n`]),
      out: new Writable({ write: (chunk: Buffer, _enc, done) => ((out += chunk), done()) }),
      env: envWith(),
    });
    expect(code).toBe(0);
    expect(out).toContain(`wrote ${configPath}`);
    expect(out).toContain('testing the connection: connected: mcp-servers/everything');
    expect(out).not.toContain(TOKEN);
    const check = await command(
      (io) => checkConfigCommand([configPath], io),
      envWith({ MCP_AUTH_TOKEN: '' }),
    );
    expect(check.stdout).toContain(`${tcpUrl} over the transport its scheme takes, auth bearer`);
    // A gateway that is not there is reported, and the configuration is saved all the same.
    const downPath = join(dir, 'setup', 'down.yaml');
    const down = [`tcp://127.0.0.1:${await freePort()}`, 'none', 'down', downPath, 'none'];
    out = '';
    const downCode = await setupCommand([], {
      input: Readable.from([`${down.join('\n')}\n`]),
      out: new Writable({ write: (chunk: Buffer, _enc, done) => ((out += chunk), done()) }),
      env: envWith({ MCP_AUTH_TOKEN: '' }),
    });
    expect(downCode).toBe(0);
    expect(out).toMatch(/testing the connection: could not connect: .*ECONNREFUSED/);
    expect(out).toContain(`wrote ${downPath}`);
  });
});

describe('seed 004: what is left out', () => {
  it('docs/migrating.md names each feature left out', () => {
    const doc = readFileSync(MIGRATING, 'utf8');
    const section = doc.slice(doc.indexOf('## Seed 004'));
    for (const { named } of LEFT_OUT) expect(section, named).toContain(named);
  });
});
