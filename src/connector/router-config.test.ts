import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../config/schema.js';
import { loadConnectorConfig } from './config.js';
import { convertRouterConfig, isRouterConfig } from './router-config.js';
import { parseConnectArgs } from './command.js';

/* Seed 004's router file as the connector's config: the cases the README walk does not take. */

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'router-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the seed router file', () => {
  it('is told from ours by its shape', () => {
    expect(isRouterConfig({ gateway: { url: 'ws://gw' } })).toBe(true);
    expect(isRouterConfig({ direct_clients: {} })).toBe(true);
    expect(isRouterConfig({ remote: { url: 'ws://gw' } })).toBe(false);
  });

  it('puts the TCP endpoint first for protocol_preference: tcp, and reads tcp+tls:// as tcps://', () => {
    const { config } = convertRouterConfig({
      gateway: {
        endpoints: [{ url: 'wss://gw:8443' }, { url: 'tcp+tls://gw:8444' }],
        protocol_preference: 'tcp',
      },
    });
    expect(config.remote).toEqual({ url: 'tcps://gw:8444' });
    expect(config.fallbacks).toEqual([{ url: 'wss://gw:8443', transport: 'websocket-envelope' }]);
  });

  it('names what it cannot carry: an unknown auth type, the password grant, verify: false', () => {
    const { dropped } = convertRouterConfig({
      gateway: { url: 'tcp://gw:1', auth: { type: 'kerberos' }, tls: { verify: false } },
    });
    expect(dropped.map((d) => d.key)).toEqual(['gateway.auth.type', 'gateway.tls.verify']);
    const password = convertRouterConfig({
      gateway: {
        url: 'tcp://gw:1',
        auth: { type: 'oauth2', grant_type: 'password', username: 'u', password_env: 'P' },
      },
    });
    expect(password.dropped.map((d) => d.key)).toEqual(['gateway.auth.grant_type']);
    expect(password.config.remote).toEqual({ url: 'tcp://gw:1' });
  });

  it('keeps a direct server beside a gateway out, saying how to run it', () => {
    const { config, dropped } = convertRouterConfig({
      gateway: { url: 'tcp://gw:1' },
      servers: [{ name: 'local', connection_mode: 'direct', candidates: ['node s.js'] }],
    });
    expect(config.direct).toBeUndefined();
    expect(dropped).toEqual([
      { key: 'servers[0]', reason: expect.stringContaining('mcp-bridge connect --direct') },
    ]);
  });

  it('reads a { file } secret relative to the config file, without its trailing newline', async () => {
    writeFileSync(join(dir, 'token'), 'from-a-file\n');
    const path = join(dir, 'c.yaml');
    writeFileSync(
      path,
      'remote:\n  url: tcp://gw:1\n  auth: { type: bearer, token: { file: token } }\n',
    );
    const settings = parseConnectArgs(['--config', path, '--log-level', 'silent'], {});
    if (settings === 'help') throw new Error('unexpected help');
    expect(await settings.credentials!.headers()).toMatchObject({
      Authorization: 'Bearer from-a-file',
    });
  });

  it('runs a direct-mode file with MCP_AUTH_TOKEN set in the shell (regression: "give remote or direct, not both")', () => {
    const path = join(dir, 'direct.yaml');
    writeFileSync(path, 'direct: { command: node, args: [server.js] }\n');
    const config = loadConnectorConfig({ file: path, env: { MCP_AUTH_TOKEN: 'for-a-gateway' } });
    expect(config.direct).toMatchObject({ command: 'node' });
    expect(config.remote).toBeUndefined();
    // A file that gives a remote of its own still has it checked.
    writeFileSync(path, 'direct: { command: node }\nremote: { url: "tcp://gw:1" }\n');
    expect(() => loadConnectorConfig({ file: path, env: {} })).toThrow(ConfigError);
  });
});
