import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parse } from 'yaml';
import { FrameType } from '../../src/core/frames.js';
import { parseConfig } from '../../src/config/schema.js';
import { adminCommand } from '../../src/observability/admin-status.js';
import { connectUnix, runCliIn } from '../frontend-helpers.js';
import type { CliOutput } from '../frontend-helpers.js';
import { ACCEPT_JSON_AND_SSE, EVERYTHING, initializeRequest, waitFor } from '../helpers.js';
import { parseMetrics } from '../observability-helpers.js';
import { FrameClient, migratingSection, startCliGateway } from '../seed-helpers.js';
import type { CliGateway } from '../seed-helpers.js';

/*
 * Seed 003 (the Go "MCP Gateway", services/gateway/README) walked as its user would: their
 * `version: 1` config with `--config` and through `import`, their environment (JWT_SECRET_KEY),
 * their clients (WebSocket envelopes with a Bearer token, framed TCP with per-message tokens, the
 * Unix socket), their size limits, their health checks (HTTP and the TCP health port), their
 * metric names on /metrics after real traffic, and their commands (`admin token create`,
 * `admin status`). One `it` per documented feature; what is left out is in LEFT_OUT, and
 * docs/migrating.md names each of those.
 */

/** Features of the README that mcp-bridge does not give, and why (docs/migrating.md says the same). */
const LEFT_OUT: ReadonlyArray<{ feature: string; reason: string }> = [
  {
    feature: 'service_discovery',
    reason:
      'we discover the replicas of a named backend (backends.<name>.discovery), not new backends',
  },
  {
    feature: 'rate_limit claims',
    reason: "per-user limits from a JWT's rate_limit claim are not read; rateLimits rules are",
  },
  {
    feature: 'max_connections',
    reason: 'no gateway-wide connection cap; server.maxConnectionsPerAddress caps each address',
  },
  {
    feature: 'connection_buffer_size',
    reason: 'buffers are sized by Node',
  },
  {
    feature: 'tracing.agent_host',
    reason: 'spans go out over OTLP/HTTP, not to a Jaeger agent',
  },
  {
    feature: 'mcp_gateway_tcp_message_duration_seconds',
    reason: 'not in the README list; request durations are in mcp_gateway_request_duration_seconds',
  },
];

/**
 * Features of the README that work and are walked in a test file of their own (each needs a
 * server of its kind beside the gateway): the feature, the file, and the test names there.
 */
const ELSEWHERE: ReadonlyArray<{ feature: string; file: string; tests: string[] }> = [
  {
    feature: 'OAuth2',
    file: 'test/integration/introspection.test.ts',
    tests: ['lets active tokens in, refuses inactive, expired and foreign ones, and keeps answers'],
  },
  {
    feature: 'CROSS_PROTOCOL_LOAD_BALANCING',
    file: 'test/integration/latency-balancing.test.ts',
    tests: [
      'places sessions on replicas over stdio, Streamable HTTP and WebSocket alike',
      'moves sessions off a slow replica, and back once it has recovered',
    ],
  },
];

const SECRET = 'a-seed-003-secret-of-32-characters!';
const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;
let file: string;
let gw: CliGateway;
let token: string;
/** CLI runs made once, beside the gateway's start (each start of the CLI costs seconds here). */
let converted: CliOutput;

/** A seed 003 config as its README writes it, with ports 0 and server-everything as the backend. */
function seedConfig(dir: string): string {
  return `version: 1
server:
  host: 127.0.0.1
  port: 0
  metrics_port: 0
  protocol: both
  tcp_port: 0
  tcp_health_port: 0
  max_connections_per_ip: 40
  stdio_frontend:
    enabled: true
    modes:
      - type: "unix_socket"
        path: "${join(dir, 'mcp-gateway.sock')}"
        enabled: true
  allowed_origins:
    - https://app.example.com
auth:
  provider: jwt
  jwt:
    issuer: "mcp-gateway"
    audience: "mcp-gateway"
    secret_key_env: JWT_SECRET_KEY
  per_message_auth: true
  per_message_auth_cache: 300
routing:
  strategy: least_connections
  health_check_interval: 30s
  circuit_breaker:
    failure_threshold: 5
    success_threshold: 2
    timeout: 30s
backends:
  - name: "everything"
    protocol: "stdio"
    config:
      command: ["${process.execPath}", "${EVERYTHING}", "stdio"]
  - name: "more"
    protocol: "stdio"
    config:
      command: ["${process.execPath}", "${EVERYTHING}", "stdio"]
rate_limit:
  enabled: true
  provider: memory
  window_size: 60
logging:
  level: info
  format: json
`;
}

const env = () => ({ JWT_SECRET_KEY: SECRET });
const mcpUrl = () => gw.urls['MCP (Streamable HTTP)']!;
const wsUrl = () => gw.urls['MCP (WebSocket)']!;
const tcpUrl = () => gw.urls['MCP (framed TCP)']!;
const adminUrl = () => gw.urls.metrics!.replace(/\/metrics$/, '');

async function post(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(mcpUrl(), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: ACCEPT_JSON_AND_SSE,
      authorization: `Bearer ${token}`,
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A seed 003 WebSocket client: Bearer on the upgrade, messages in the gateway's envelope. */
async function openWs(headers: Record<string, string> = { authorization: `Bearer ${token}` }) {
  const socket = new WebSocket(wsUrl(), { headers });
  const frames: Array<Record<string, unknown> | unknown[]> = [];
  socket.on('message', (data) => frames.push(JSON.parse(String(data))));
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const envelope = (id: string, payload: unknown) =>
    socket.send(
      JSON.stringify({
        id,
        timestamp: new Date().toISOString(),
        source: 'seed-003-client',
        mcp_payload: payload,
      }),
    );
  /** The envelope that answers the JSON-RPC request `id` (notifications may come between). */
  const answer = async (id: number) => {
    const find = () =>
      frames.find(
        (f) => !Array.isArray(f) && (f.mcp_payload as { id?: unknown } | undefined)?.id === id,
      );
    await waitFor(() => find() !== undefined, 15_000, `the reply to ${id}`);
    return find() as { id: unknown; source: string; mcp_payload: Record<string, unknown> };
  };
  return { socket, frames, closed, envelope, answer };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-seed-003-'));
  file = join(dir, 'gateway.yaml');
  writeFileSync(file, seedConfig(dir));
  let created: CliOutput;
  [gw, created, converted] = await Promise.all([
    startCliGateway(dir, ['--config', file], env()),
    runCliIn(dir, ['token', 'create', '--config', file, '--sub', 'ops', '--ttl', '1h'], env()),
    runCliIn(dir, ['import', file], env()),
  ]);
  expect(created.code).toBe(0);
  token = created.stdout.trim();
}, 30_000);

afterAll(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('seed 003 (MCP Gateway) walked through', () => {
  it('config: its version 1 file loads with --config, converted on the fly with one warning', () => {
    expect(gw.stderr()).toMatch(/a seed 003 gateway config \(version: 1\), converted on the fly/);
    expect(gw.urls['MCP (framed TCP)']).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(gw.urls['MCP (Unix socket)']).toBe(join(dir, 'mcp-gateway.sock'));
  });

  it('config: mcp-bridge import converts it to a file of ours, with its size limits', async () => {
    expect(converted.code).toBe(0);
    expect(converted.stderr).toMatch(/not carried: rate_limit\.provider: /);
    // The file names the seed's JWT_SECRET_KEY: the secret is left to the environment.
    expect(converted.stderr).toMatch(/note: auth\.jwt\.secret is left to the environment/);
    const doc = parse(converted.stdout) as { auth: { jwt: Record<string, unknown> } };
    expect(doc.auth.jwt.secret).toBeUndefined();
    doc.auth.jwt.secret = SECRET;
    const config = parseConfig(doc);
    expect(config.limits.http.maxMessageBytes).toBe(MiB);
    expect(config.limits.websocket.maxMessageBytes).toBe(10 * MiB);
    expect(config.server.tcp).toMatchObject({ enabled: true, healthPort: 0 });
    expect(config.server.maxConnectionsPerAddress).toBe(40);
    expect(Object.keys(config.backends)).toEqual(['everything', 'more']);
  });

  it('environment: JWT_SECRET_KEY, which the file names, is read as the JWT secret, with a note', async () => {
    expect(gw.stderr()).toMatch(/JWT_SECRET_KEY \(seed 002-003\) is read as BRIDGE_JWT_SECRET/);
    // (MCP_JWT_SECRET_KEY, its other name, is read the same way: src/config/env-aliases.test.ts.)
  });

  it('admin token create: a token the gateway accepts (our "token create")', async () => {
    expect(token.split('.')).toHaveLength(3);
    const res = await post(initializeRequest({ name: 'seed-003-http' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBeTruthy();
  });

  it('authentication: a request without "Authorization: Bearer" is refused with 401 and a JSON body', async () => {
    const res = await post(initializeRequest(), { authorization: '' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await res.json()) as { error: { code: number } }).error.code).toBe(-32030);
  });

  it('security headers on every HTTP response, and security.txt', async () => {
    const res = await fetch(new URL('/healthz', mcpUrl()));
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBeTruthy();
    expect(res.headers.get('content-security-policy')).toBeTruthy();
    const txt = await fetch(new URL('/.well-known/security.txt', mcpUrl()));
    expect(txt.status).toBe(200);
    expect(await txt.text()).toMatch(/^Contact: /m);
  });

  it('health checks: /healthz, /ready and /health with component checks', async () => {
    const healthz = await fetch(new URL('/healthz', mcpUrl()));
    expect(healthz.status).toBe(200);
    const ready = await fetch(new URL('/ready', mcpUrl()));
    expect(await ready.json()).toMatchObject({ ready: true });
    const health = (await (await fetch(new URL('/health', mcpUrl()))).json()) as {
      status: string;
      backends: Array<{ name: string }>;
    };
    expect(health.status).toBe('healthy');
    expect(health.backends.map((b) => b.name)).toEqual(['everything', 'more']);
  });

  it('TCP health port: a health-check frame is answered with healthy, checks and timestamp', async () => {
    const probe = await FrameClient.open(gw.urls['TCP health']!);
    probe.send(FrameType.health, '');
    const answer = JSON.parse(
      (await probe.next(FrameType.health, 'the health answer')).payload.toString(),
    );
    expect(answer).toMatchObject({ healthy: true, checks: { everything: { healthy: true } } });
    expect(answer.timestamp).toBeGreaterThan(1_700_000_000);
    await probe.closed;
    const simple = await FrameClient.open(gw.urls['TCP health']!);
    simple.send(FrameType.health, { check: 'simple' });
    const short = await simple.next(FrameType.health, 'the simple answer');
    expect(JSON.parse(short.payload.toString())).toEqual({ healthy: true });
    await simple.closed;
    const wrong = await FrameClient.open(gw.urls['TCP health']!);
    wrong.send(FrameType.request, { jsonrpc: '2.0', id: 1, method: 'ping' });
    const error = await wrong.next(FrameType.error, 'the error frame');
    expect(error.payload.toString()).toMatch(/^TCP_UNEXPECTED_FRAME: the health port answers/);
    await wrong.closed;
  });

  it('WebSocket frontend: envelope messages with a Bearer token on the upgrade', async () => {
    const ws = await openWs();
    ws.envelope('m-1', initializeRequest({ name: 'seed-003-ws' }));
    expect(await ws.answer(1)).toMatchObject({ id: 1, source: 'gateway', mcp_payload: { id: 1 } });
    ws.envelope('m-2', { jsonrpc: '2.0', method: 'notifications/initialized' });
    ws.envelope('m-3', { jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const tools = (await ws.answer(2)).mcp_payload as { result: { tools: unknown[] } };
    expect(tools.result.tools.length).toBeGreaterThan(3);
    // A tool no backend offers: the aggregated endpoint's answer (a routing error in the metrics).
    ws.envelope('m-4', {
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: { name: 'nope', arguments: {} },
    });
    expect((await ws.answer(3)).mcp_payload).toMatchObject({ error: { code: -32602 } });
    ws.socket.close(1000);
    await ws.closed;
  });

  it('WebSocket batch: an envelope whose mcp_payload is an array gets one envelope of replies', async () => {
    const ws = await openWs();
    ws.envelope('init', initializeRequest({ name: 'seed-003-batch' }));
    await ws.answer(1);
    ws.envelope('note', { jsonrpc: '2.0', method: 'notifications/initialized' });
    ws.envelope('batch-1', [
      { jsonrpc: '2.0', id: 10, method: 'ping' },
      {
        jsonrpc: '2.0',
        id: 11,
        method: 'tools/call',
        params: { name: 'everything__echo', arguments: { message: 'b' } },
      },
    ]);
    const batchReply = () => ws.frames.find((f) => !Array.isArray(f) && f.id === 'batch-1');
    await waitFor(() => batchReply() !== undefined, 10_000, 'the batch reply');
    expect(batchReply()).toMatchObject({
      id: 'batch-1',
      source: 'gateway',
      mcp_payload: [
        { id: 10, result: {} },
        { id: 11, result: { content: [{ type: 'text', text: 'Echo: b' }] } },
      ],
    });
    ws.socket.close(1000);
    await ws.closed;
  });

  it('allowed_origins: a browser upgrade from another origin is refused, one listed is let in', async () => {
    const refused = new WebSocket(wsUrl(), {
      headers: { origin: 'https://evil.example', authorization: `Bearer ${token}` },
    });
    const status = await new Promise<number>((resolve) =>
      refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
    );
    expect(status).toBe(403);
    // Ended before it opened: ws reports that as an error, which is the point here.
    refused.on('error', () => {});
    refused.terminate();
    const listed = await openWs({
      origin: 'https://app.example.com',
      authorization: `Bearer ${token}`,
    });
    listed.socket.close(1000);
    await listed.closed;
  });

  it('TCP Binary frontend: version negotiation, then JSON-RPC with per-message auth_token', async () => {
    const tcp = await FrameClient.open(tcpUrl());
    tcp.send(FrameType.version, {
      min_version: 1,
      max_version: 1,
      preferred_version: 1,
      supported_versions: [1],
    });
    const ack = await tcp.next(FrameType.versionAck, 'the version ack');
    expect(JSON.parse(ack.payload.toString())).toEqual({ agreed_version: 1 });
    tcp.send(FrameType.request, { auth_token: token, message: initializeRequest({ name: 'tcp' }) });
    expect(await tcp.reply(1)).toMatchObject({ result: { serverInfo: {} } });
    tcp.send(FrameType.request, { jsonrpc: '2.0', method: 'notifications/initialized' });
    tcp.send(FrameType.request, {
      auth_token: token,
      message: { jsonrpc: '2.0', id: 2, method: 'tools/list' },
    });
    expect(await tcp.reply(2)).toMatchObject({ result: { tools: expect.any(Array) } });
    // A TCP health check on the main port is answered in kind.
    tcp.send(FrameType.health, { kind: 'ping' });
    await tcp.next(FrameType.health, 'the pong');
    await tcp.close();
  });

  it('TCP without a token: the request is refused, not served', async () => {
    const tcp = await FrameClient.open(tcpUrl());
    tcp.send(FrameType.request, initializeRequest());
    expect(await tcp.reply(1)).toMatchObject({ error: { data: { code: 'GATEWAY_UNAUTHORIZED' } } });
    await tcp.close();
  });

  it('stdio frontend (unix_socket mode): newline-delimited JSON-RPC on its socket path', async () => {
    const unix = await connectUnix(join(dir, 'mcp-gateway.sock'));
    unix.send(initializeRequest({ name: 'seed-003-unix' }));
    expect(await unix.lines.reply(1)).toMatchObject({ result: { serverInfo: {} } });
    await unix.close();
  });

  it('request size limits: HTTP 1 MB gets 413 with a JSON body', async () => {
    const big = JSON.stringify({
      jsonrpc: '2.0',
      id: 9,
      method: 'ping',
      params: { pad: 'x'.repeat(MiB) },
    });
    const res = await post(big);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { data: { code: string } } }).error.data.code).toBe(
      'GATEWAY_PAYLOAD_TOO_LARGE',
    );
  });

  it('request size limits: a WebSocket message over 10 MB closes the connection with 1009', async () => {
    const ws = await openWs();
    ws.socket.send('x'.repeat(10 * MiB + 1));
    expect(await ws.closed).toBe(1009);
  });

  it('request size limits: a TCP payload over 10 MB gets an error frame', async () => {
    const tcp = await FrameClient.open(tcpUrl());
    const header = Buffer.alloc(12);
    header.writeUInt32BE(0x4d435042, 0);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(FrameType.request, 6);
    header.writeUInt32BE(10 * MiB + 1, 8);
    tcp.socket.write(header);
    const error = await tcp.next(FrameType.error, 'the error frame');
    expect(error.payload.toString()).toMatch(/^TCP_FRAME_TOO_LARGE: /);
    await tcp.closed;
  });

  it('per-IP connection limits (max_connections_per_ip): one connection too many is cut', async () => {
    const sockets = await Promise.all(
      Array.from({ length: 45 }, () => {
        const { hostname, port } = new URL(mcpUrl());
        const socket = connect(Number(port), hostname);
        socket.on('error', () => {});
        return new Promise<{ socket: typeof socket; cut: Promise<boolean> }>((resolve) =>
          socket.once('connect', () =>
            resolve({
              socket,
              cut: new Promise((done) => socket.once('close', () => done(true))),
            }),
          ),
        );
      }),
    );
    await waitFor(() => sockets.some((s) => s.socket.destroyed), 5000, 'a connection to be cut');
    for (const s of sockets) s.socket.destroy();
    await Promise.all(sockets.map((s) => s.cut));
    // The gateway counts a connection until it has seen it close: before the next test, wait
    // until a new connection is served again, or its first request meets the cap (ECONNRESET).
    const deadline = Date.now() + 5000;
    for (;;) {
      const served = await fetch(new URL('/healthz', mcpUrl())).then(
        (res) => res.ok,
        () => false,
      );
      if (served) break;
      if (Date.now() > deadline) throw new Error('no new connection served within 5 s of the cut');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  it('rate limiting (rate_limit.enabled, window_size): over the limit, 429 with Retry-After', async () => {
    const opened = await post(initializeRequest({ name: 'seed-003-limits' }));
    const session = { 'mcp-session-id': opened.headers.get('mcp-session-id')! };
    await opened.body?.cancel();
    const note = { jsonrpc: '2.0', method: 'notifications/initialized' };
    await (await post(note, session)).body?.cancel();
    let limited: Response | undefined;
    for (let i = 0; i < 120 && !limited; i++) {
      const res = await post({ jsonrpc: '2.0', id: 100 + i, method: 'ping' }, session);
      if (res.status === 429) limited = res;
      else await res.body?.cancel();
    }
    expect(limited?.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it("metrics: every name the README lists is on /metrics, with the seed's labels, after the traffic above", async () => {
    const text = await (await fetch(gw.urls.metrics!)).text();
    const samples = parseMetrics(text);
    const families: Record<string, string[]> = {
      mcp_gateway_connections_total: [],
      mcp_gateway_connections_active: [],
      mcp_gateway_connections_rejected_total: [],
      mcp_gateway_tcp_connections_total: [],
      mcp_gateway_tcp_connections_active: [],
      mcp_gateway_requests_total: ['method', 'status'],
      mcp_gateway_request_duration_seconds_count: ['method', 'status'],
      mcp_gateway_requests_in_flight: [],
      mcp_gateway_endpoint_requests_total: ['endpoint', 'namespace', 'status'],
      mcp_gateway_websocket_messages_total: ['direction', 'type'],
      mcp_gateway_websocket_bytes_total: ['direction'],
      mcp_gateway_tcp_messages_total: ['direction', 'type'],
      mcp_gateway_tcp_bytes_total: ['direction'],
      mcp_gateway_tcp_protocol_errors_total: ['error_type'],
      mcp_gateway_auth_failures_total: ['reason'],
      mcp_gateway_rate_limit_exceeded_total: [],
      mcp_gateway_routing_errors_total: ['reason'],
      mcp_gateway_circuit_breaker_state: ['endpoint'],
    };
    for (const [name, labels] of Object.entries(families)) {
      const found = samples.filter((s) => s.name === name);
      expect(found, name).not.toHaveLength(0);
      for (const label of labels) expect(Object.keys(found[0]!.labels), name).toContain(label);
    }
    const value = (name: string, labels: Record<string, string>) =>
      samples
        .filter(
          (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
        )
        .reduce((n, s) => n + s.value, 0);
    expect(value('mcp_gateway_tcp_connections_total', {})).toBeGreaterThanOrEqual(3);
    expect(
      value('mcp_gateway_websocket_messages_total', { direction: 'inbound', type: 'text' }),
    ).toBeGreaterThan(0);
    expect(
      value('mcp_gateway_tcp_messages_total', {
        direction: 'inbound',
        type: 'version_negotiation',
      }),
    ).toBe(1);
    expect(
      value('mcp_gateway_tcp_messages_total', { direction: 'outbound', type: 'health_check' }),
    ).toBeGreaterThanOrEqual(3);
    expect(value('mcp_gateway_tcp_protocol_errors_total', { error_type: 'frame_too_large' })).toBe(
      1,
    );
    expect(
      value('mcp_gateway_connections_rejected_total', { reason: 'per_address_limit' }),
    ).toBeGreaterThan(0);
    expect(value('mcp_gateway_rate_limit_exceeded_total', {})).toBeGreaterThan(0);
    expect(value('mcp_gateway_circuit_breaker_state', { endpoint: 'everything' })).toBe(0);
    expect(value('mcp_gateway_routing_errors_total', { reason: 'unknown_name' })).toBe(1);
    expect(
      value('mcp_gateway_endpoint_requests_total', { endpoint: 'everything', namespace: '*' }),
    ).toBeGreaterThan(0);
  });

  it('admin status: version, status, uptime, connections, namespaces and endpoints of the running gateway', async () => {
    const status = await runCliIn(dir, ['admin', 'status', '--url', adminUrl()]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^Status: Running$/m);
    expect(status.stdout).toMatch(/^Uptime: \d+h \d+m \d+s$/m);
    expect(status.stdout).toMatch(/^Namespaces: 2 \(everything, more\)$/m);
    expect(status.stdout).toMatch(/^Endpoints: 2 healthy, 0 unhealthy$/m);
    // No gateway there: exit 1 and why (the command in process: each CLI start costs seconds).
    let err = '';
    const io = { out: () => {}, err: (t: string) => void (err += t), env: {} };
    const args = ['status', '--url', 'http://127.0.0.1:9', '--timeout', '2000'];
    expect(await adminCommand(args, io)).toBe(1);
    expect(err).toMatch(/no gateway answers at http:\/\/127\.0\.0\.1:9/);
  });

  it('docs/migrating.md names every feature left out, and counts the features', () => {
    const section = migratingSection('003');
    for (const { feature } of LEFT_OUT) expect(section, feature).toContain(feature);
    expect(section).toMatch(/features: \d+ of \d+ work/);
  });

  it('the features walked elsewhere have their tests there, and docs/migrating.md names them', () => {
    const section = migratingSection('003');
    for (const { feature, file, tests } of ELSEWHERE) {
      expect(section, feature).toContain(feature);
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const name of tests) expect(text, `${file}: ${name}`).toContain(`it('${name}'`);
    }
  });
});
