import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../config/schema.js';
import { ConnectFlagError, parseConnectArgs } from './command.js';
import { connectorJsonSchema, loadConnectorConfig } from './config.js';
import { SecretError, SecretStore } from './secrets.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'connector-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the config to be refused');
}

describe('the connector config file', () => {
  it('loads YAML with ${VAR} substitution and the schema defaults', () => {
    const path = file(
      'c.yaml',
      'remote:\n  url: ${GW}/mcp\n  headers: { X-Team: blue }\nqueue:\n  size: 7\n',
    );
    const config = loadConnectorConfig({ file: path, env: { GW: 'https://gw.example' } });
    expect(config.remote?.url).toBe('https://gw.example/mcp');
    expect(config.remote?.headers).toEqual({ 'X-Team': 'blue' });
    expect(config.queue).toEqual({ size: 7, waitMs: 60_000 });
    expect(config.backoff).toEqual({});
    expect(config.metrics).toEqual({ enabled: false, port: 9091, host: '127.0.0.1' });
    expect(config.remote?.auth).toEqual({ type: 'none' });
  });

  it('names the file and the exact path of every problem', () => {
    const path = file(
      'c.json',
      JSON.stringify({
        remote: { url: 'ftp://x', colour: 'red', auth: { type: 'bearer' } },
        queue: { size: -1 },
        backoff: { initialMs: 900, maxMs: 100 },
        logLevel: 'loud',
      }),
    );
    const problems = problemsOf(() => loadConnectorConfig({ file: path, env: {} }));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^${path}: remote: Unrecognized key: "colour"`)),
        expect.stringMatching(new RegExp(`^${path}: remote.auth.token: `)),
        expect.stringMatching(new RegExp(`^${path}: queue.size: `)),
        expect.stringMatching(
          new RegExp(`^${path}: backoff.initialMs: initialMs must not exceed maxMs`),
        ),
        expect.stringMatching(new RegExp(`^${path}: logLevel: `)),
      ]),
    );
  });

  it('checks the URL and the transport together, and refuses an unset variable', () => {
    const path = file(
      'c.yaml',
      'remote:\n  url: ws://gw/ws\n  transport: sse\n  auth:\n    type: bearer\n    token: ${NOPE}\n',
    );
    const problems = problemsOf(() => loadConnectorConfig({ file: path, env: {} }));
    expect(problems).toContain(
      `${path}: remote.transport: sse cannot reach a ws:// URL (it takes websocket, websocket-envelope or websocket-control)`,
    );
    expect(
      problems.some((p) =>
        p.includes('remote.auth.token: the environment variable NOPE is not set'),
      ),
    ).toBe(true);
    const url = problemsOf(() =>
      loadConnectorConfig({ file: file('d.yaml', 'remote: { url: gopher://x }\n'), env: {} }),
    );
    expect(url[0]).toMatch(/remote\.url: .*gopher is not a transport the connector speaks/);
  });

  it('lets flags win: the URL (with its own transport), headers by name, the whole auth', () => {
    const path = file(
      'c.yaml',
      [
        'remote:',
        '  url: http://old.example/mcp',
        '  transport: sse',
        '  headers: { X-A: file, X-B: file }',
        '  auth: { type: bearer, token: { env: FILE_TOKEN } }',
        'logLevel: debug',
      ].join('\n'),
    );
    const settings = parseConnectArgs(
      [
        '--config',
        path,
        'ws://new.example/ws',
        '--header',
        'X-B: flag',
        '--bearer-token-env',
        'FLAG_TOKEN',
      ],
      { FLAG_TOKEN: 'flag-secret' },
    );
    if (settings === 'help') throw new Error('unexpected help');
    expect(settings.url).toBe('ws://new.example/ws');
    expect(settings.transport).toBe('websocket');
    expect(settings.logLevel).toBe('debug');
    return expect(settings.credentials!.headers()).resolves.toEqual({
      'X-A': 'file',
      'X-B': 'flag',
      Authorization: 'Bearer flag-secret',
    });
  });

  it('refuses a bad file through connect --config with the path, one problem a line', () => {
    const path = file(
      'c.yaml',
      'remote:\n  url: http://x/mcp\nqueue: { waitMs: 0 }\nmetrics: { port: 70000 }\n',
    );
    let error: unknown;
    try {
      parseConnectArgs(['--config', path], {});
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConnectFlagError);
    const lines = (error as Error).message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${path}: queue.waitMs: `));
    expect(lines[1]).toMatch(new RegExp(`^${path}: metrics.port: `));
  });

  it('takes --backoff-max-ms alone below the default first ceiling (regression: refused as initialMs > maxMs)', () => {
    const settings = parseConnectArgs(['http://x/mcp', '--backoff-max-ms', '200'], {});
    if (settings === 'help') throw new Error('unexpected help');
    expect(settings.backoff).toEqual({ initialMs: undefined, maxMs: 200 });
  });

  it('wants a remote or a direct server, one of the two; a flag for one replaces the file’s other', () => {
    expect(
      problemsOf(() => loadConnectorConfig({ file: file('n.yaml', 'logLevel: info\n'), env: {} })),
    ).toEqual([
      `${join(dir, 'n.yaml')}: remote: expected remote (a gateway to reach, with its url) or direct (a local server to run)`,
    ]);
    const both = file('b.yaml', 'remote: { url: http://x/mcp }\ndirect: { command: node }\n');
    expect(problemsOf(() => loadConnectorConfig({ file: both, env: {} }))).toEqual([
      `${both}: direct: give remote or direct, not both`,
    ]);
    const remote = file(
      'r.yaml',
      'remote: { url: http://x/mcp }\nfallbacks: [{ url: "wss://b/ws" }]\n',
    );
    const settings = parseConnectArgs(
      ['--config', remote, '--direct', 'node "my server.js" --flag'],
      {},
    );
    if (settings === 'help') throw new Error('unexpected help');
    expect(settings.direct).toEqual({ command: 'node', args: ['my server.js', '--flag'], env: {} });
    expect(settings.fallbacks?.map((f) => [f.url, f.transport])).toEqual([
      ['wss://b/ws', 'websocket'],
    ]);
    expect(() => parseConnectArgs(['--direct', 'a && b'], {})).toThrow(
      /--direct: expected a command line without shell operators/,
    );
    expect(() => parseConnectArgs(['http://x/mcp', '--fallback', 'ftp://y'], {})).toThrow(
      /ftp is not a transport/,
    );
  });

  it('takes the seed router’s environment variables over the file, under the flags', async () => {
    const path = file(
      'c.yaml',
      'remote: { url: http://file/mcp, transport: sse }\nlogLevel: warn\n',
    );
    const env = {
      MCP_GATEWAY_URL: 'tcp://env-gateway:8444',
      MCP_AUTH_TOKEN: 'env-token',
      MCP_LOGGING_LEVEL: 'debug',
      MCP_METRICS_PORT: '9191',
    };
    const config = loadConnectorConfig({ file: path, env, flags: { logLevel: 'error' } });
    expect(config.remote?.url).toBe('tcp://env-gateway:8444');
    expect(config.remote?.transport).toBeUndefined();
    expect(config.logLevel).toBe('error');
    expect(config.metrics).toEqual({ enabled: true, port: 9191, host: '127.0.0.1' });
    const settings = parseConnectArgs([], env);
    if (settings === 'help') throw new Error('unexpected help');
    expect(settings.transport).toBe('tcp');
    expect(await settings.credentials!.headers()).toEqual({ Authorization: 'Bearer env-token' });
    expect(
      problemsOf(() =>
        loadConnectorConfig({ env: { MCP_GATEWAY_URL: 'x', MCP_METRICS_PORT: 'many' } }),
      ),
    ).toEqual([
      'MCP_GATEWAY_URL: remote.url: expected an absolute http(s)://, ws(s):// or tcp(s):// URL, got "x"',
      'MCP_METRICS_PORT: metrics.port: Invalid input: expected number, received string',
    ]);
  });

  it('reads the relative paths of a file from its own folder', () => {
    const path = file(
      'c.yaml',
      'remote:\n  url: https://gw/mcp\n  tls: { ca: certs/ca.pem, cert: /abs/me.pem, key: me.key }\nstatusFile: link.json\n',
    );
    const config = loadConnectorConfig({ file: path, env: {}, cwd: '/' });
    expect(config.remote?.tls).toEqual({
      ca: join(dir, 'certs', 'ca.pem'),
      cert: '/abs/me.pem',
      key: join(dir, 'me.key'),
    });
    expect(config.statusFile).toBe(join(dir, 'link.json'));
  });

  it('has a JSON Schema for editors that names every section', () => {
    const schema = connectorJsonSchema() as {
      properties: Record<string, unknown>;
      required: string[];
    };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining([
        'remote',
        'direct',
        'fallbacks',
        'queue',
        'backoff',
        'statusFile',
        'metrics',
        'logLevel',
      ]),
    );
  });
});

describe('the secrets store', () => {
  it('falls back to a file of mode 0600 in a folder of mode 0700 where there is no keychain', () => {
    const path = join(dir, 'nested', 'secrets.json');
    // This machine has no keychain (no Secret Service), so even with it wanted, the file is used.
    const store = new SecretStore({ file: path, env: {} });
    const place = store.set('team-gateway', 'tok-123');
    expect(place).toEqual({ kind: 'file', path });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'nested')).mode & 0o777).toBe(0o700);
    store.set('other', 'tok-456');
    expect(store.get('team-gateway')).toEqual({ value: 'tok-123', place: { kind: 'file', path } });
    expect(store.get('missing')).toBeUndefined();
  });

  it('refuses a secrets file that others may read', () => {
    const path = file('secrets.json', '{"k":"v"}');
    chmodSync(path, 0o644);
    const store = new SecretStore({ file: path, env: { MCP_BRIDGE_KEYCHAIN: 'off' } });
    expect(() => store.get('k')).toThrow(SecretError);
    expect(() => store.get('k')).toThrow(/may be read by others \(mode 644\); run "chmod 600/);
  });

  it('gives a stored token to connect --token-key, and says where it came from without it', async () => {
    const path = join(dir, 'secrets.json');
    const env = { MCP_BRIDGE_SECRETS_FILE: path };
    new SecretStore({ env }).set('gw', 'stored-secret');
    const settings = parseConnectArgs(['http://x/mcp', '--token-key', 'gw'], env);
    if (settings === 'help') throw new Error('unexpected help');
    expect(await settings.credentials!.headers()).toEqual({
      Authorization: 'Bearer stored-secret',
    });
    expect(settings.credentials!.describe()).toBe(
      `a bearer token from "gw" in the secrets file ${path}`,
    );
    expect(() => parseConnectArgs(['http://x/mcp', '--token-key', 'absent'], env)).toThrow(
      /remote\.auth\.token\.key: no secret is stored under "absent"/,
    );
  });
});
