import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../load.js';
import { parseConfig } from '../schema.js';
import { ImportError, convertSeedConfig, conversionYaml, importSeedConfig } from './index.js';
import type { ConversionResult } from './index.js';
import { durationMs } from './shared.js';

/* Each seed's own README example (test/fixtures/seeds/), converted and checked by our schema. */

const FIXTURES = new URL('../../../test/fixtures/seeds/', import.meta.url);

function sample(name: string): unknown {
  return parse(readFileSync(new URL(name, FIXTURES), 'utf8'));
}

function droppedKeys(result: ConversionResult): string[] {
  return result.dropped.map((d) => d.key);
}

/** The YAML we print, read back and validated as a start would validate it. */
/** The converted file through our schema; `jwtSecret` stands for what the environment gives. */
function reparsed(result: ConversionResult, jwtSecret?: string) {
  const doc = parse(conversionYaml(result, 'sample')) as { auth?: { jwt?: { secret?: string } } };
  if (jwtSecret !== undefined && doc.auth?.jwt) doc.auth.jwt.secret = jwtSecret;
  return parseConfig(doc);
}

describe('seed 001 (config/services.yaml)', () => {
  const result = importSeedConfig(sample('001-services.yaml'));

  it('is told by its shape', () => {
    expect(result.seed).toBe('001');
  });

  it('gives a config our schema accepts', () => {
    const config = reparsed(result);
    expect(Object.keys(config.backends)).toEqual(['fin-assistant-mcp', 'local-stdio-server']);
  });

  it('makes the http service a Streamable HTTP backend with its headers and timeout', () => {
    expect(result.config.backends).toMatchObject({
      'fin-assistant-mcp': {
        transport: 'streamable-http',
        url: 'http://localhost:3000/mcp/',
        timeoutMs: 30_000,
        headers: { 'X-Service-Name': 'mcp-gateway', 'X-Version': '1.0.0' },
      },
    });
  });

  it('makes the stdio service a command with its directory and environment', () => {
    expect(result.config.backends).toMatchObject({
      'local-stdio-server': {
        command: 'python',
        args: ['-m', 'my_mcp_server'],
        cwd: '/path/to/server',
        env: { MCP_SERVER_ENV: 'production' },
        credentials: { type: 'none' },
      },
    });
  });

  it('names the on-behalf-of settings and the display names as not carried', () => {
    const keys = droppedKeys(result);
    expect(keys).toContain('services.fin-assistant-mcp.auth.strategy');
    expect(keys).toContain('services.fin-assistant-mcp.auth.client_id');
    expect(keys).toContain('services.local-stdio-server.name');
    expect(result.dropped.find((d) => d.key.endsWith('auth.strategy'))?.reason).toMatch(
      /client secret/,
    );
  });

  it('carries passthrough and a disabled service', () => {
    const result = importSeedConfig({
      services: {
        a: {
          endpoint: 'http://h/mcp',
          transport: 'http',
          enabled: false,
          auth: { strategy: 'passthrough' },
        },
      },
    });
    expect(result.config.backends).toEqual({
      a: {
        transport: 'streamable-http',
        url: 'http://h/mcp',
        enabled: false,
        credentials: { type: 'passthrough' },
      },
    });
  });

  it('leaves out a stdio service without a command, and says so', () => {
    const result = importSeedConfig({
      services: { a: { transport: 'stdio' }, b: { endpoint: 'http://h/' } },
    });
    expect(Object.keys(result.config.backends as object)).toEqual(['b']);
    expect(droppedKeys(result)).toEqual(['services.a.command']);
  });
});

describe('seed 003 (gateway config, version: 1)', () => {
  const result = importSeedConfig(sample('003-gateway.yaml'));

  it('is told by its shape', () => {
    expect(result.seed).toBe('003');
  });

  it('gives a config our schema accepts (with the JWT secret from the environment)', () => {
    expect(() => reparsed(result)).toThrow(/auth\.jwt: verifies no token/);
    const config = reparsed(result, 'a-secret-of-at-least-16');
    expect(Object.keys(config.backends)).toEqual([
      'local-stdio-server',
      'websocket-server',
      'http-server',
      'sse-server',
      'tcp-binary-server',
    ]);
    expect(config.server.tcp).toMatchObject({ enabled: true, port: 8444 });
    expect(config.server.unixSocket).toBe('/tmp/mcp-gateway.sock');
    expect(config.admin.port).toBe(9090);
  });

  it('maps each backend protocol to our transport', () => {
    expect(result.config.backends).toMatchObject({
      'local-stdio-server': {
        command: 'python',
        args: ['examples/weather_server.py'],
        cwd: './examples',
      },
      'websocket-server': {
        transport: 'websocket',
        url: 'ws://localhost:8080',
        balance: 'least-connections',
      },
      'http-server': { transport: 'auto', url: 'http://localhost:8081' },
      'sse-server': { transport: 'sse', url: 'http://localhost:8082/events' },
      'tcp-binary-server': { transport: 'tcp', url: 'tcp://localhost:8083' },
    });
  });

  it("leaves the JWT secret to the environment when the file names one of the seed's variables", () => {
    expect(result.config.auth).toEqual({
      required: true,
      jwt: { issuer: 'mcp-gateway', audience: 'mcp-gateway' },
      perMessageCacheMs: 300_000,
    });
    expect(result.notes.join('\n')).toMatch(/MCP_JWT_SECRET_KEY or JWT_SECRET_KEY/);
  });

  it('reads the JWT secret from any other variable the file names', () => {
    const other = importSeedConfig({
      version: 1,
      auth: { provider: 'jwt', jwt: { secret_key_env: 'OUR_GATEWAY_SECRET' } },
      backends: [],
    });
    expect(other.config.auth).toMatchObject({ jwt: { secret: '${OUR_GATEWAY_SECRET}' } });
  });

  it('carries TLS, origins, breakers, Redis, logging', () => {
    expect(result.config.server).toMatchObject({
      host: '0.0.0.0',
      port: 8443,
      allowedOrigins: [
        'https://app.example.com',
        'https://dashboard.example.com',
        'http://localhost:3000',
      ],
      tls: {
        cert: '/etc/mcp-gateway/tls/tls.crt',
        ca: '/etc/mcp-gateway/tls/ca.crt',
        minVersion: 'TLSv1.3',
      },
    });
    expect(result.config.breakers).toEqual({
      enabled: true,
      failureThreshold: 5,
      successThreshold: 2,
      openMs: 30_000,
    });
    expect(result.config.redis).toEqual({ url: 'redis://redis:6379/0' });
    expect(result.config.log).toEqual({ level: 'info', format: 'json' });
  });

  it('names what it cannot carry', () => {
    const keys = droppedKeys(result);
    for (const key of [
      'service_discovery',
      'server.stdio_frontend.modes[1]',
      'server.max_connections',
      'auth.per_message_auth',
      'backends[0].config.health_check',
      'tracing.agent_host',
    ])
      expect(keys).toContain(key);
  });

  it("carries the TCP health port and writes the seed's size limits", () => {
    expect(result.config.server).toMatchObject({
      tcp: { enabled: true, port: 8444, healthPort: 9002 },
    });
    expect(result.config.limits).toEqual({
      http: { maxMessageBytes: 1024 * 1024 },
      websocket: { maxMessageBytes: 10 * 1024 * 1024 },
    });
    const websocketOnly = importSeedConfig({
      version: 1,
      server: { protocol: 'websocket', tcp_health_port: 9002 },
      backends: [],
    });
    expect(websocketOnly.dropped.map((d) => d.key)).toContain('server.tcp_health_port');
  });

  it('keeps extra endpoints as replicas', () => {
    const result = importSeedConfig({
      version: 1,
      routing: { strategy: 'round_robin' },
      backends: [
        { name: 'ws', protocol: 'websocket', config: { endpoints: ['ws://a:1', 'ws://b:2'] } },
      ],
    });
    expect(result.config.backends).toEqual({
      ws: {
        transport: 'websocket',
        url: 'ws://a:1',
        replicas: [{ url: 'ws://b:2' }],
        balance: 'round-robin',
      },
    });
    expect(() => parseConfig(result.config)).not.toThrow();
  });

  it('names an unknown backend protocol and leaves the backend out', () => {
    const result = importSeedConfig({
      version: 1,
      backends: [{ name: 'x', protocol: 'grpc', config: {} }],
    });
    expect(result.config.backends).toEqual({});
    expect(result.dropped).toEqual([
      { key: 'backends[0].protocol', reason: expect.stringMatching(/unknown protocol "grpc"/) },
    ]);
  });
});

describe('seed 004 (mcp-router.yaml)', () => {
  const result = importSeedConfig(sample('004-mcp-router.yaml'));

  it('is told by its shape', () => {
    expect(result.seed).toBe('004');
  });

  it('gives a config our schema accepts', () => {
    const config = reparsed(result);
    expect(Object.keys(config.backends)).toEqual(['gateway', 'local-auto-detect']);
    expect(config.admin).toMatchObject({ enabled: true, host: '127.0.0.1', port: 9091 });
  });

  it('makes the gateway a remote backend with its bearer token from the environment', () => {
    expect(result.config.backends).toMatchObject({
      gateway: {
        transport: 'websocket',
        url: 'wss://mcp-gateway.example.com:8443',
        headers: { Authorization: 'Bearer ${MCP_AUTH_TOKEN}' },
        timeoutMs: 30_000,
      },
      'local-auto-detect': { command: 'python', args: ['examples/weather_server.py'] },
    });
  });

  it('names the fallback endpoint, the other candidates and the tuning as not carried', () => {
    const keys = droppedKeys(result);
    expect(keys).toContain('gateway.endpoints (tcps://mcp-gateway.example.com:8444)');
    expect(keys).toContain('servers[0].candidates (ws://localhost:8080)');
    expect(keys).toContain('servers[0].fallback');
    expect(keys).toContain('direct_clients');
    expect(keys).toContain('local.max_queued_requests');
    expect(result.notes.join('\n')).toMatch(/--serve stdio/);
  });

  it('reads the single-url gateway form', () => {
    const result = importSeedConfig({ gateway: { url: 'tcps://gw.example:9443' } });
    expect(result.config.backends).toEqual({
      gateway: { transport: 'tcp', url: 'tcps://gw.example:9443' },
    });
  });

  it('refuses a candidate with a shell operator, naming it', () => {
    const result = importSeedConfig({
      servers: [{ name: 's', connection_mode: 'direct', candidates: ['a | b'] }],
    });
    expect(result.config.backends).toEqual({});
    expect(result.dropped[0]).toEqual({
      key: 'servers[0].candidates[0]',
      reason: expect.stringMatching(/shell operator "\|"/),
    });
  });
});

describe('detection', () => {
  it('refuses a file of no known shape, saying which shapes it knows', () => {
    expect(() => importSeedConfig({ a: 1 })).toThrow(ImportError);
    expect(() => importSeedConfig({ a: 1 })).toThrow(/services\.yaml.*version.*mcp-router\.yaml/);
    expect(() => importSeedConfig(['a'])).toThrow(/not a config of a known seed system/);
  });

  it('tells our own format apart', () => {
    const ours = { server: { port: 1 }, backends: { a: { command: 'x' } } };
    expect(convertSeedConfig(ours)).toBeUndefined();
    expect(() => importSeedConfig(ours)).toThrow(/already an mcp-bridge config/);
  });
});

describe('durationMs', () => {
  it('reads seconds and suffixed durations', () => {
    expect([
      durationMs(30),
      durationMs('30s'),
      durationMs('5m'),
      durationMs('250ms'),
      durationMs('1h'),
    ]).toEqual([30_000, 30_000, 300_000, 250, 3_600_000]);
    expect(durationMs('soon')).toBeUndefined();
  });
});

describe('loadConfig of a seed file (--config)', () => {
  it('converts it on the fly and warns once, naming the import command', () => {
    const warnings: string[] = [];
    const file = new URL('003-gateway.yaml', FIXTURES).pathname;
    const config = loadConfig({
      file,
      env: { JWT_SECRET_KEY: 'a-secret-of-at-least-16' },
      warn: (message) => warnings.push(message),
    });
    expect(config.auth.jwt?.secret).toBe('a-secret-of-at-least-16');
    expect(config.server.tcp.port).toBe(8444);
    const conversion = warnings.filter((w) => w.includes('converted on the fly'));
    expect(conversion).toHaveLength(1);
    expect(conversion[0]).toMatch(
      /seed 003 gateway config.*converted on the fly.*mcp-bridge import/,
    );
    // JWT_SECRET_KEY is also seed 003's alias of BRIDGE_JWT_SECRET, and says so.
    expect(warnings).toContainEqual(
      expect.stringMatching(/^JWT_SECRET_KEY .* read as BRIDGE_JWT_SECRET/),
    );
  });

  it('takes the secret from MCP_JWT_SECRET_KEY alone, as seed 003 does', () => {
    const file = new URL('003-gateway.yaml', FIXTURES).pathname;
    const config = loadConfig({
      file,
      env: { MCP_JWT_SECRET_KEY: 'another-secret-of-16+' },
      warn: () => undefined,
    });
    expect(config.auth.jwt?.secret).toBe('another-secret-of-16+');
  });

  it('without either variable, names the secret that is missing', () => {
    const file = new URL('003-gateway.yaml', FIXTURES).pathname;
    expect(() => loadConfig({ file, env: {}, warn: () => undefined })).toThrow(
      /auth\.jwt: verifies no token: give secret \(or set BRIDGE_JWT_SECRET\)/,
    );
  });

  it('says nothing of a file in our own format', () => {
    const warnings: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-import-'));
    try {
      const file = join(dir, 'bridge.yaml');
      writeFileSync(file, 'backends:\n  a:\n    command: x\n');
      loadConfig({ file, env: {}, cwd: dir, warn: (message) => warnings.push(message) });
      expect(warnings).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("seed 002's router config (the short form of seed 004's)", () => {
  const result = importSeedConfig(sample('002-router.yaml'));

  it('gives the gateway and the server as backends our schema accepts', () => {
    expect(result.seed).toBe('004');
    const config = reparsed(result);
    expect(config.backends).toMatchObject({
      gateway: { transport: 'websocket', url: 'wss://your-gateway.com' },
      'my-server': { transport: 'stdio', command: '/path/to/my-server', args: [] },
    });
  });

  it('names the keychain token as not carried', () => {
    expect(droppedKeys(result)).toEqual(['gateway.auth', 'gateway.auth.token_store']);
  });
});
