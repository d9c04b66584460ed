import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EVERYTHING, FIXTURES, startEverythingHttp, waitFor } from '../helpers.js';
import type { RunningServer } from '../helpers.js';
import { openRawSse, runCliIn } from '../frontend-helpers.js';
import { call } from '../rest-helpers.js';
import { createGateway, loadConfig } from '../../src/index.js';
import { createLogger } from '../../src/core/logger.js';
import { createToken } from '../../src/auth/token.js';

/*
 * Seed 001, "Bridge MCP Gateway", walked as its README's user would: their
 * `config/services.yaml` (an HTTP service and a stdio one) converted with `mcp-bridge import`,
 * the gateway started on the result, then their curl calls with a bearer JWT, the Streamable
 * HTTP paths they name (`/mcp/`, `/mcp/stream`, `/mcp/send`), the service, health and dashboard
 * APIs, `/docs` and the metrics. One case per feature the README lists; the features
 * deliberately left out are in LEFT_OUT, and docs/migrating.md names each and gives the count.
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const MIGRATING = fileURLToPath(new URL('../../docs/migrating.md', import.meta.url));
const SECRET = 'seed-001-walkthrough-secret-of-32-chars';

/** Features of the seed's README that mcp-bridge does not carry, and why. */
export const LEFT_OUT: readonly { feature: string; reason: string }[] = [
  {
    feature: 'HOST, PORT, DEBUG, LOG_LEVEL, LOG_FORMAT',
    reason: 'names other tools use too; BRIDGE_HOST, BRIDGE_PORT, BRIDGE_LOG_LEVEL, … instead',
  },
  {
    feature: 'SERVICE_REGISTRY_FILE',
    reason: 'the file is converted once with `mcp-bridge import`, then given with --config',
  },
  {
    feature: 'obo_required',
    reason: 'the exchange needs a client secret the file does not hold: written by hand',
  },
  {
    feature: 'Keycloak',
    reason: 'no identity provider is bundled: any issuer’s JWTs (jwksUrl or a secret) are checked',
  },
  {
    feature: 'localhost:5173',
    reason: 'no separate dashboard dev server: the dashboard is served by the admin listener',
  },
  {
    feature: 'Open Policy Agent',
    reason: 'authorization rules live in the config file (docs/security.md), not in OPA',
  },
  { feature: 'Multi-tenancy', reason: 'planned in the seed; one gateway serves one tenant' },
  { feature: 'Plugin Architecture', reason: 'planned in the seed; policies are code of ours' },
  {
    feature: 'uv run pytest',
    reason: 'the seed’s Python tooling (uv, pytest, black, mypy) is about its own code',
  },
];

/** The features that work, one case each, gathered as the cases are declared. */
const WORKING: string[] = [];

function feature(name: string, run: () => unknown, timeout?: number): void {
  WORKING.push(name);
  it(name, run, timeout);
}

let dir: string;
let http: RunningServer;
let child: ChildProcess;
let stderr = '';
let base: string;
let admin: string;
let alice: string;
let bob: string;

function records(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const ENV = {
  BRIDGE_HOST: '127.0.0.1',
  BRIDGE_PORT: '0',
  BRIDGE_METRICS_PORT: '0',
  BRIDGE_REQUIRE_AUTH: 'true',
  BRIDGE_JWT_SECRET: SECRET,
  BRIDGE_LOG_FORMAT: 'json',
  HOME: process.env.HOME ?? '',
};

/** The seed's services.yaml, its endpoint and command pointed at real servers here. */
function servicesYaml(endpoint: string): string {
  return readFileSync(join(FIXTURES, 'seeds/001-services.yaml'), 'utf8')
    .replace('http://localhost:3000/mcp/', endpoint)
    .replace(
      '["python", "-m", "my_mcp_server"]',
      JSON.stringify([process.execPath, EVERYTHING, 'stdio']),
    )
    .replace('/path/to/server', dir);
}

async function connect(server: string, token = alice) {
  return callAs(token, 'POST', '/api/v1/mcp/servers/connect', { server_name: server });
}

/** A request with `Authorization: Bearer <token>`, as the seed's curl examples send it. */
async function callAs(token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, json: json as any };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-seed001-'));
  http = await startEverythingHttp('streamableHttp');
  mkdirSync(join(dir, 'config'));
  writeFileSync(join(dir, 'config/services.yaml'), servicesYaml(`${http.url}/`));
  const imported = await runCliIn(dir, ['import', 'config/services.yaml']);
  if (imported.code !== 0) throw new Error(`import failed: ${imported.stderr}`);
  writeFileSync(join(dir, 'bridge.yaml'), imported.stdout);
  writeFileSync(join(dir, 'import-report.txt'), imported.stderr);
  // What the user adds by hand: the audit trail.
  appendFileSync(
    join(dir, 'bridge.yaml'),
    `audit:\n  enabled: true\n  destination: ${join(dir, 'audit.log')}\n`,
  );
  child = spawn(process.execPath, [CLI, '--config', 'bridge.yaml'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...ENV },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`the gateway exited: ${stderr}`);
      const msgs = records(stderr).map((r) => r.msg);
      return msgs.includes('gateway listening') && msgs.includes('admin listener up');
    },
    15_000,
    'the gateway to listen',
  );
  base = `http://127.0.0.1:${records(stderr).find((r) => r.msg === 'gateway listening')!.port}`;
  admin = `http://127.0.0.1:${records(stderr).find((r) => r.msg === 'admin listener up')!.port}`;
  // YOUR_JWT_TOKEN: what `mcp-bridge token create --sub <id>` prints, made in-process (the
  // same function) to spare two CLI starts.
  alice = await createToken({ subject: 'alice', ttl: '15m', env: ENV });
  bob = await createToken({ subject: 'bob', ttl: '15m', env: ENV });
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  await http?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('seed 001 (Bridge MCP Gateway): its services.yaml, its curl calls', () => {
  feature(
    'service registry: `mcp-bridge import config/services.yaml` converts it and names what it cannot carry',
    () => {
      const converted = readFileSync(join(dir, 'bridge.yaml'), 'utf8');
      expect(converted).toContain('fin-assistant-mcp');
      expect(converted).toContain('local-stdio-server');
      const report = readFileSync(join(dir, 'import-report.txt'), 'utf8');
      expect(report).toContain('services.fin-assistant-mcp.auth.strategy: on-behalf-of');
    },
  );

  feature('`--config` also takes services.yaml as it is, converting it with a note', async () => {
    const out = await runCliIn(dir, ['check-config', 'config/services.yaml'], ENV);
    expect(out.code).toBe(0);
    expect(out.stderr + out.stdout).toMatch(/seed 001|converted/i);
  });

  feature(
    'JWT authentication: no token and a foreign token are 401, a valid one passes',
    async () => {
      const none = await call(base, 'POST', '/api/v1/mcp/servers/connect', {
        server_name: 'fin-assistant-mcp',
      });
      expect(none.status).toBe(401);
      expect(none.json.error.message).toBeTruthy();
      const foreign = await callAs('not.a.jwt', 'GET', '/api/v1/services');
      expect(foreign.status).toBe(401);
      const ok = await callAs(alice, 'GET', '/api/v1/services');
      expect(ok.status).toBe(200);
    },
  );

  describe('a session with the HTTP service, as the curl examples use it', () => {
    let session: string;
    beforeAll(async () => {
      const connected = await connect('fin-assistant-mcp');
      expect(connected.status).toBe(201);
      session = connected.json.session_id;
    });

    feature(
      'POST /api/v1/mcp/servers/connect {server_name} → {session_id, server_name, status}',
      async () => {
        expect(typeof session).toBe('string');
        const again = await connect('fin-assistant-mcp');
        expect(again.json).toMatchObject({ server_name: 'fin-assistant-mcp', status: 'connected' });
        await callAs(alice, 'DELETE', `/api/v1/mcp/sessions/${again.json.session_id}`);
      },
    );

    feature(
      'MCP initialize handshake: GET …/info shows what the server said at initialize',
      async () => {
        const info = await callAs(alice, 'GET', `/api/v1/mcp/sessions/${session}/info`);
        expect(info.status).toBe(200);
        expect(info.json.server_info.name).toBeTruthy();
        expect(typeof info.json.protocol_version).toBe('string');
      },
    );

    feature('GET /api/v1/mcp/sessions/{id}/tools lists the tools', async () => {
      const tools = await callAs(alice, 'GET', `/api/v1/mcp/sessions/${session}/tools`);
      expect(tools.status).toBe(200);
      expect(tools.json.tools.map((t: { name: string }) => t.name)).toContain('echo');
    });

    feature('POST /api/v1/mcp/sessions/{id}/tools/call {tool_name, arguments}', async () => {
      const result = await callAs(alice, 'POST', `/api/v1/mcp/sessions/${session}/tools/call`, {
        tool_name: 'echo',
        arguments: { message: 'checking' },
      });
      expect(result.status).toBe(200);
      expect(result.json.success).toBe(true);
      expect(result.json.result.content[0].text).toBe('Echo: checking');
    });

    feature('GET …/resources and POST …/resources/read {uri}', async () => {
      const list = await callAs(alice, 'GET', `/api/v1/mcp/sessions/${session}/resources`);
      expect(list.status).toBe(200);
      const uri = list.json.resources[0].uri as string;
      const read = await callAs(alice, 'POST', `/api/v1/mcp/sessions/${session}/resources/read`, {
        uri,
      });
      expect(read.status).toBe(200);
      expect(read.json.content.contents[0].uri).toBe(uri);
    });

    feature('GET /api/v1/mcp/sessions/{id}/prompts lists the prompts', async () => {
      const prompts = await callAs(alice, 'GET', `/api/v1/mcp/sessions/${session}/prompts`);
      expect(prompts.status).toBe(200);
      expect(prompts.json.prompts.length).toBeGreaterThan(0);
    });

    feature(
      'per-client session isolation: another caller’s token cannot use the session',
      async () => {
        const other = await callAs(bob, 'GET', `/api/v1/mcp/sessions/${session}/tools`);
        expect(other.status).toBe(403);
      },
    );

    feature(
      'error handling: an unknown tool and an unknown server get clear JSON errors',
      async () => {
        const tool = await callAs(alice, 'POST', `/api/v1/mcp/sessions/${session}/tools/call`, {
          tool_name: 'get_statement',
          arguments: { account: 'checking' },
        });
        // The server says no within a result: 200, `success: false`, its words in `error`.
        expect(tool.status).toBe(200);
        expect(tool.json.success).toBe(false);
        expect(tool.json.error).toContain('get_statement');
        const server = await connect('no-such-mcp');
        expect(server.status).toBe(404);
        expect(server.json.error.message).toContain('no-such-mcp');
      },
    );

    feature('DELETE /api/v1/mcp/sessions/{id} closes the session', async () => {
      const closed = await callAs(alice, 'DELETE', `/api/v1/mcp/sessions/${session}`);
      expect(closed.status).toBe(200);
      const gone = await callAs(alice, 'GET', `/api/v1/mcp/sessions/${session}/tools`);
      expect(gone.status).toBe(404);
    });
  });

  feature(
    'transport bridging HTTP ↔ stdio: the stdio service, its command, cwd and environment',
    async () => {
      const connected = await connect('local-stdio-server');
      expect(connected.status).toBe(201);
      const id = connected.json.session_id;
      try {
        const env = await callAs(alice, 'POST', `/api/v1/mcp/sessions/${id}/tools/call`, {
          tool_name: 'get-env',
          arguments: {},
        });
        expect(env.json.success).toBe(true);
        expect(JSON.stringify(env.json.result)).toContain('production');
      } finally {
        await callAs(alice, 'DELETE', `/api/v1/mcp/sessions/${id}`);
      }
    },
  );

  feature('Streamable HTTP at /mcp/ (the trailing slash): the official SDK client', async () => {
    const client = new Client({ name: 'seed-001', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${base}/mcp/`), {
        requestInit: { headers: { authorization: `Bearer ${alice}` } },
      }),
    );
    try {
      const tools = await client.listTools();
      expect(tools.tools.some((t) => t.name.includes('echo'))).toBe(true);
    } finally {
      await client.close();
    }
  });

  feature('/mcp/stream and /mcp/send: a stream, and messages sent into it', async () => {
    const auth = { authorization: `Bearer ${alice}` };
    const stream = await openRawSse(new URL(`${base}/mcp/stream`), 'text/event-stream', auth);
    try {
      expect(stream.status).toBe(200);
      const endpoint = await stream.next((e) => e.event === 'endpoint', 'the endpoint event');
      expect(endpoint.data).toMatch(/^\/mcp\/send\?sessionId=/);
      const send = (message: unknown) =>
        fetch(`${base}${endpoint.data}`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify(message),
        });
      const init = await send({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2024-11-05',
          capabilities: {},
          clientInfo: { name: 'seed-001', version: '1' },
        },
      });
      expect(init.status).toBe(202);
      await stream.next((e) => e.data.includes('"id":1'), 'the initialize reply');
      await send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      await send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
      const list = await stream.next((e) => e.data.includes('"id":2'), 'the tools/list reply');
      expect(JSON.parse(list.data).result.tools.length).toBeGreaterThan(0);
      const stranger = await fetch(`${base}${endpoint.data}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }),
      });
      expect(stranger.status).toBe(403);
      await stranger.arrayBuffer();
    } finally {
      stream.close();
    }
  });

  feature('GET /health and GET /api/v1/services/{service_id}/health', async () => {
    const health = await call(base, 'GET', '/health');
    expect(health.json.backends.map((b: { name: string }) => b.name).sort()).toEqual([
      'fin-assistant-mcp',
      'local-stdio-server',
    ]);
    const one = await callAs(alice, 'GET', '/api/v1/services/fin-assistant-mcp/health');
    expect(one.status).toBe(200);
    expect(one.json.healthy).toBe(true);
  });

  feature('GET /api/v1/services and GET /api/v1/services/{service_id}', async () => {
    const all = await callAs(alice, 'GET', '/api/v1/services');
    expect(all.json.services.map((s: { name: string }) => s.name)).toContain('local-stdio-server');
    const one = await callAs(alice, 'GET', '/api/v1/services/local-stdio-server');
    expect(one.status).toBe(200);
    expect(one.json.transport).toBe('stdio');
    const none = await callAs(alice, 'GET', '/api/v1/services/no-such-mcp');
    expect(none.status).toBe(404);
  });

  feature('dashboard API: /api/v1/dashboard/overview and /services/health', async () => {
    const overview = await callAs(alice, 'GET', '/api/v1/dashboard/overview');
    expect(overview.status).toBe(200);
    expect(overview.json.total_services).toBe(2);
    expect(typeof overview.json.total_requests).toBe('number');
    const health = await callAs(alice, 'GET', '/api/v1/dashboard/services/health');
    expect(health.json.services.map((s: { service_id: string }) => s.service_id).sort()).toEqual([
      'fin-assistant-mcp',
      'local-stdio-server',
    ]);
  });

  feature('the monitoring dashboard and Prometheus metrics on the admin listener', async () => {
    const page = await fetch(`${admin}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const metrics = await fetch(`${admin}/metrics`);
    expect(await metrics.text()).toMatch(/^# TYPE mcp_gateway_/m);
  });

  feature('GET /docs: the interactive API documentation, from /openapi.json', async () => {
    const docs = await fetch(`${base}/docs`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger-ui');
    const document = await call(base, 'GET', '/openapi.json');
    expect(Object.keys(document.json.paths)).toContain('/api/v1/mcp/servers/connect');
  });

  feature('the audit trail: each call recorded with its caller', async () => {
    await waitFor(
      () => {
        try {
          return readFileSync(join(dir, 'audit.log'), 'utf8').includes('alice');
        } catch {
          return false;
        }
      },
      10_000,
      'an audit record naming alice',
    );
  });
});

describe('seed 001: circuit breaker and Redis rate limiting, on the same converted file', () => {
  // In-process, on bridge.yaml with the settings a user adds for these: a breaker that opens
  // after two failures, and rate-limit counters in the real Redis (a key prefix of this run's).
  const prefix = `mcp-bridge-test-seeds01-${process.pid}:`;
  let own: RunningServer;
  let gateway: ReturnType<typeof createGateway>;
  let local: string;
  let redis: Redis;
  beforeAll(async () => {
    own = await startEverythingHttp('streamableHttp');
    redis = new Redis('redis://127.0.0.1:6379/0', { lazyConnect: true });
    await redis.connect();
    const config = loadConfig({
      cwd: dir,
      file: 'bridge.yaml',
      env: { PATH: process.env.PATH ?? '' },
      flags: {
        server: { host: '127.0.0.1', port: 0 },
        admin: { enabled: false },
        audit: { enabled: false },
        backends: { 'fin-assistant-mcp': { url: `${own.url}/` } },
        breakers: { failureThreshold: 2, openMs: 60_000 },
        rateLimits: { enabled: true, requests: 15, periodMs: 60_000 },
        redis: { url: 'redis://127.0.0.1:6379/0', keyPrefix: prefix },
      },
    });
    gateway = createGateway(config, { log: createLogger({ level: 'silent' }) });
    local = `http://127.0.0.1:${(await gateway.listen()).port}`;
  });
  afterAll(async () => {
    await gateway?.close();
    await own?.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  });

  feature(
    'circuit breaker: a failing server’s circuit opens (503); the other server is unaffected',
    async () => {
      const fin = await call(local, 'POST', '/api/v1/mcp/servers/connect', {
        server_name: 'fin-assistant-mcp',
      });
      expect(fin.status).toBe(201);
      await own.close();
      const statuses: number[] = [];
      let last: Awaited<ReturnType<typeof call>> | undefined;
      for (let i = 0; i < 4 && last?.status !== 503; i++) {
        last = await call(local, 'POST', `/api/v1/mcp/sessions/${fin.json.session_id}/tools/call`, {
          tool_name: 'echo',
          arguments: { message: 'x' },
        });
        statuses.push(last.status);
      }
      expect(last?.status).toBe(503);
      expect(last?.json.error.data.code).toBe('GATEWAY_CIRCUIT_OPEN');
      const stdio = await call(local, 'POST', '/api/v1/mcp/servers/connect', {
        server_name: 'local-stdio-server',
      });
      expect(stdio.status).toBe(201);
      const echo = await call(
        local,
        'POST',
        `/api/v1/mcp/sessions/${stdio.json.session_id}/tools/call`,
        {
          tool_name: 'echo',
          arguments: { message: 'still here' },
        },
      );
      expect(echo.json.success).toBe(true);
    },
  );

  feature('rate limiting with its counters in Redis: past the limit, 429', async () => {
    const stdio = await call(local, 'POST', '/api/v1/mcp/servers/connect', {
      server_name: 'local-stdio-server',
    });
    let status = stdio.status;
    for (let i = 0; i < 20 && status !== 429; i++) {
      const res = await call(local, 'GET', `/api/v1/mcp/sessions/${stdio.json.session_id}/prompts`);
      status = res.status;
    }
    expect(status).toBe(429);
    expect((await redis.keys(`${prefix}*`)).length).toBeGreaterThan(0);
  });
});

describe('seed 001: docs/migrating.md agrees', () => {
  it('names each left-out feature and gives the count of features that work', () => {
    const text = readFileSync(MIGRATING, 'utf8');
    const start = text.indexOf('## Seed 001');
    const section = text.slice(start, text.indexOf('\n## ', start + 1));
    for (const { feature: name } of LEFT_OUT) expect(section).toContain(name);
    const working = WORKING.length;
    expect(section).toContain(`${working} of ${working + LEFT_OUT.length} work`);
  });
});
