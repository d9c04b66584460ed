import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createGateway } from '../../src/gateway.js';
import type { Gateway } from '../../src/gateway.js';
import { loadConfig } from '../../src/config/load.js';
import { conversionYaml, importSeedConfig } from '../../src/config/import/index.js';
import { createToken } from '../../src/auth/token.js';
import { createLogger } from '../../src/core/logger.js';
import { FrameType } from '../../src/core/frames.js';
import { createObservability } from '../../src/observability/observability.js';
import type { Observability } from '../../src/observability/observability.js';
import { CLI, JsonLines, line, runCliIn } from '../frontend-helpers.js';
import {
  EVERYTHING,
  FIXTURES,
  initializeRequest,
  startEverythingHttp,
  waitFor,
} from '../helpers.js';
import type { RunningServer } from '../helpers.js';
import { text } from '../cases.js';
import { parseMetrics } from '../observability-helpers.js';
import { FrameClient, migratingSection } from '../seed-helpers.js';

/*
 * Seed 002 (the Go "MCP Bridge": a router beside the desktop client, a gateway in front of the
 * servers) walked as its user would: the router's ~/.config/mcp-router/config.yaml through
 * `import` and run as the desktop client's stdio server, reaching the gateway over WebSocket and
 * over TCP Binary; the gateway (its config is seed 003's) on every client method the README
 * lists, in front of a backend of every protocol it lists, with Bearer tokens, /health and
 * /metrics. One `it` per documented feature; LEFT_OUT has the rest, and docs/migrating.md names
 * each of those.
 */

const LEFT_OUT: ReadonlyArray<{ feature: string; reason: string }> = [
  {
    feature: 'token_store: keychain',
    reason:
      'a config file cannot read a keychain: the router config takes token_env; the connector keeps tokens in one (connect store-token)',
  },
  {
    feature: 'Service Discovery',
    reason:
      'Kubernetes and Consul discovery find the replicas of a named backend, not new backends',
  },
  {
    feature: 'PostgreSQL',
    reason: 'no database: state is in memory, or in Redis with several replicas',
  },
  {
    feature: 'request deduplication',
    reason: 'requests are not merged: an MCP request may have effects',
  },
  {
    feature: 'Protocol Auto-Detection',
    reason:
      'HTTP servers are told apart (transport: auto: Streamable HTTP, then SSE); other protocols are named by the URL scheme',
  },
];

const SECRET = 'a-seed-002-secret-of-32-characters!';
const log = createLogger({ level: 'silent' });
let dir: string;
let http: RunningServer;
let sse: RunningServer;
let upstream: { gateway: Gateway; address: AddressInfo };
let gw: {
  gateway: Gateway;
  observability: Observability;
  address: AddressInfo;
  admin: AddressInfo;
};
let token: string;

const base = () => `http://127.0.0.1:${gw.address.port}`;
const bearer = () => ({ Authorization: `Bearer ${token}` });

/** Starts a gateway from a file, as `--config` would, with its admin listener. */
async function gatewayFrom(file: string, env: Record<string, string>) {
  const config = loadConfig({ file, env, cwd: dir, warn: () => {} });
  const observability = createObservability({ config, log, processMetrics: false });
  const gateway = createGateway(config, { log, policies: observability.policies });
  const address = await gateway.listen();
  const admin = await observability.listen({ gateway, gatewayAddress: address });
  return { gateway, observability, address, admin: admin! };
}

async function client(transport: Transport) {
  const c = new Client({ name: 'seed-002', version: '1' });
  await c.connect(transport);
  return c;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-seed-002-'));
  [http, sse] = await Promise.all([
    startEverythingHttp('streamableHttp'),
    startEverythingHttp('sse'),
  ]);
  // A WebSocket MCP server for the gateway's websocket backend: another gateway's /ws.
  const upstreamFile = join(dir, 'upstream.yaml');
  writeFileSync(
    upstreamFile,
    `server: {port: 0}\nadmin: {enabled: false}\nbackends:\n  probe:\n    command: ${process.execPath}\n    args: [${join(FIXTURES, 'probe-server.mjs')}]\n`,
  );
  const up = await gatewayFrom(upstreamFile, {});
  upstream = { gateway: up.gateway, address: up.address };
  // The gateway, in seed 003's format (seed 002's gateway is seed 003's).
  const gatewayFile = join(dir, 'gateway.yaml');
  writeFileSync(
    gatewayFile,
    `version: 1
server:
  host: 127.0.0.1
  port: 0
  metrics_port: 0
  protocol: both
  tcp_port: 0
auth:
  provider: jwt
  jwt: {issuer: mcp-gateway, audience: mcp-gateway, secret_key_env: JWT_SECRET_KEY}
backends:
  - name: stdio
    protocol: stdio
    config: {command: ["${process.execPath}", "${EVERYTHING}", "stdio"]}
  - name: websocket
    protocol: websocket
    config: {endpoints: ["ws://127.0.0.1:${up.address.port}/ws"]}
  - name: http
    protocol: http
    config: {base_url: "${http.url}"}
  - name: sse
    protocol: sse
    config: {base_url: "${sse.url.replace(/\/sse$/, '')}", stream_endpoint: /sse}
`,
  );
  gw = await gatewayFrom(gatewayFile, { JWT_SECRET_KEY: SECRET });
  token = await createToken({
    subject: 'router',
    ttl: '1h',
    configFile: gatewayFile,
    env: { JWT_SECRET_KEY: SECRET },
    cwd: dir,
  });
}, 30_000);

afterAll(async () => {
  await gw?.gateway.close();
  await gw?.observability.close();
  await upstream?.gateway.close();
  await Promise.all([http?.close(), sse?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('seed 002 (MCP Bridge) walked through', () => {
  it("router config: mcp-bridge import converts the README's config.yaml and names the keychain as not carried", async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(
      file,
      'gateway:\n  url: wss://your-gateway.com\n  auth:\n    type: bearer\n    token_store: keychain\nservers:\n  - name: my-server\n    command: ["/path/to/my-server"]\n',
    );
    const { code, stdout, stderr } = await runCliIn(dir, ['import', file]);
    expect(code).toBe(0);
    expect(parse(stdout).backends).toEqual({
      gateway: { transport: 'websocket', url: 'wss://your-gateway.com' },
      'my-server': { command: '/path/to/my-server', args: [] },
    });
    expect(stderr).toMatch(/not carried: gateway\.auth\.token_store: /);
    expect(stderr).toMatch(/--serve stdio/);
  });

  it("router: run as the desktop client's stdio server, to the gateway over WebSocket (Bearer) and to a local server", async () => {
    const file = join(dir, 'router.yaml');
    writeFileSync(
      file,
      `gateway:\n  url: ws://127.0.0.1:${gw.address.port}/ws\n  auth:\n    type: bearer\n    token_env: MCP_AUTH_TOKEN\nservers:\n  - name: my-server\n    command: ["${process.execPath}", "${EVERYTHING}", "stdio"]\n`,
    );
    // Converted as `import` does (the first case runs the command; each CLI start costs seconds).
    const converted = importSeedConfig(parse(readFileSync(file, 'utf8')));
    writeFileSync(join(dir, 'router-bridge.yaml'), conversionYaml(converted, file));
    const child = spawn(
      process.execPath,
      [CLI, '--config', 'router-bridge.yaml', '--serve', 'stdio'],
      {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', MCP_AUTH_TOKEN: token },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise((resolve) => child.once('close', resolve));
    try {
      const out = new JsonLines(child.stdout);
      child.stdin.write(line(initializeRequest({ name: 'desktop' })));
      expect(await out.reply(1, 20_000)).toMatchObject({ result: { serverInfo: {} } });
      child.stdin.write(line({ jsonrpc: '2.0', method: 'notifications/initialized' }));
      const call = (id: number, name: string) =>
        child.stdin.write(
          line({
            jsonrpc: '2.0',
            id,
            method: 'tools/call',
            params: { name, arguments: { message: 'hi' } },
          }),
        );
      call(2, 'my-server__echo');
      expect(await out.reply(2, 20_000)).toMatchObject({
        result: { content: [{ text: 'Echo: hi' }] },
      });
      call(3, 'gateway__stdio__echo');
      expect(await out.reply(3, 20_000)).toMatchObject({
        result: { content: [{ text: 'Echo: hi' }] },
      });
      expect(out.junk).toEqual([]);
    } finally {
      child.stdin.end();
      child.kill('SIGTERM');
      await exited;
    }
  });

  it("router: to the gateway over TCP Binary (tcp:// with a Bearer token as each frame's auth_token)", async () => {
    const file = join(dir, 'router-tcp.yaml');
    const tcpPort = gw.gateway.tcpAddress()!.port;
    writeFileSync(
      file,
      `gateway:\n  url: tcp://127.0.0.1:${tcpPort}\n  auth:\n    type: bearer\n    token_env: MCP_AUTH_TOKEN\n`,
    );
    const router = await gatewayFrom(file, { MCP_AUTH_TOKEN: token });
    try {
      const c = await client(
        new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${router.address.port}/mcp`)),
      );
      const result = await c.callTool({ name: 'stdio__echo', arguments: { message: 'tcp' } });
      expect(text(result)).toBe('Echo: tcp');
      await c.close();
    } finally {
      await router.gateway.close();
      await router.observability.close();
    }
  });

  it('gateway client method: WebSocket (JSON-RPC in text frames, Bearer on the upgrade), batches too', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.address.port}/ws`, { headers: bearer() });
    const frames: unknown[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(String(data))));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      ws.send(JSON.stringify(initializeRequest({ name: 'seed-002-ws' })));
      await waitFor(
        () => frames.some((f) => (f as { id?: number }).id === 1),
        15_000,
        'initialize',
      );
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
      // A batch (the seed's client-integration guide batches requests): one array of replies.
      ws.send(
        JSON.stringify([
          { jsonrpc: '2.0', id: 2, method: 'ping' },
          {
            jsonrpc: '2.0',
            id: 3,
            method: 'tools/call',
            params: { name: 'stdio__echo', arguments: { message: 'w' } },
          },
        ]),
      );
      await waitFor(() => frames.some(Array.isArray), 15_000, 'the batch reply');
      expect(frames.find(Array.isArray)).toMatchObject([
        { id: 2, result: {} },
        { id: 3, result: { content: [{ text: 'Echo: w' }] } },
      ]);
    } finally {
      ws.close(1000);
    }
  });

  it('gateway client method: HTTP (Streamable HTTP, Bearer token)', async () => {
    const c = await client(
      new StreamableHTTPClientTransport(new URL(`${base()}/mcp`), {
        requestInit: { headers: bearer() },
      }),
    );
    const names = (await c.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['stdio__echo', 'http__echo', 'sse__echo']));
    await c.close();
  });

  it('gateway client method: SSE', async () => {
    const c = await client(
      new SSEClientTransport(new URL(`${base()}/sse`), {
        requestInit: { headers: bearer() },
        eventSourceInit: {
          fetch: (url, init) => fetch(url, { ...init, headers: { ...init?.headers, ...bearer() } }),
        },
      }),
    );
    expect(text(await c.callTool({ name: 'stdio__echo', arguments: { message: 'sse' } }))).toBe(
      'Echo: sse',
    );
    await c.close();
  });

  it('gateway client method: TCP Binary', async () => {
    const tcp = await FrameClient.open(`tcp://127.0.0.1:${gw.gateway.tcpAddress()!.port}`);
    tcp.send(FrameType.request, { auth_token: token, message: initializeRequest({ name: 'tcp' }) });
    expect(await tcp.reply(1)).toMatchObject({ result: { serverInfo: {} } });
    await tcp.close();
  });

  it.each(['stdio', 'websocket', 'http', 'sse'])(
    'gateway backend protocol: %s',
    async (backend) => {
      const c = await client(
        new StreamableHTTPClientTransport(new URL(`${base()}/servers/${backend}/mcp`), {
          requestInit: { headers: bearer() },
        }),
      );
      const tools = (await c.listTools()).tools.map((t) => t.name);
      expect(tools.length).toBeGreaterThan(0);
      await c.close();
    },
  );

  it('authentication: Bearer tokens; none gets 401', async () => {
    const res = await fetch(`${base()}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify(initializeRequest()),
    });
    expect(res.status).toBe(401);
    await res.body?.cancel();
  });

  it("health check: the gateway's /health", async () => {
    const res = await fetch(`${base()}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { backends: Array<{ name: string }> };
    expect(body.backends.map((b) => b.name)).toEqual(['stdio', 'websocket', 'http', 'sse']);
  });

  it('metrics: connections, request rate and latency, errors, breakers and auth failures on /metrics', async () => {
    const samples = parseMetrics(
      await (await fetch(`http://127.0.0.1:${gw.admin.port}/metrics`)).text(),
    );
    const has = (name: string) => samples.some((s) => s.name === name);
    for (const name of [
      'mcp_gateway_connections_active',
      'mcp_gateway_requests_total',
      'mcp_gateway_request_duration_seconds_bucket',
      'mcp_gateway_circuit_breaker_state',
      'mcp_gateway_auth_failures_total',
      'mcp_gateway_tcp_connections_total',
    ])
      expect(has(name), name).toBe(true);
    const sum = (name: string, labels: Record<string, string>) =>
      samples
        .filter(
          (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
        )
        .reduce((n, s) => n + s.value, 0);
    expect(
      sum('mcp_gateway_requests_total', { method: 'tools/call', status: 'ok' }),
    ).toBeGreaterThan(0);
    expect(sum('mcp_gateway_auth_failures_total', {})).toBeGreaterThan(0);
    expect(sum('mcp_gateway_circuit_breaker_state', { endpoint: 'stdio' })).toBe(0);
    expect(sum('mcp_gateway_tcp_connections_total', {})).toBeGreaterThanOrEqual(2);
  });

  it('docs/migrating.md names every feature left out, and counts the features', () => {
    const section = migratingSection('002');
    for (const { feature } of LEFT_OUT) expect(section, feature).toContain(feature);
    expect(section).toMatch(/features: \d+ of \d+ work/);
  });
});
