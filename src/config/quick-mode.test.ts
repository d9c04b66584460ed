import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { FlagError, quickModeConfig, stdioName, urlName } from './quick-mode.js';
import { parseConfig } from './schema.js';

describe('quickModeConfig', () => {
  it('bridges a stdio command, named after the program', () => {
    const config = parseConfig(quickModeConfig({ stdio: '/usr/bin/my-server --flag "a b"' }));
    expect(config.backends).toEqual({
      'my-server': expect.objectContaining({
        transport: 'stdio',
        command: '/usr/bin/my-server',
        args: ['--flag', 'a b'],
      }),
    });
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080, path: '/mcp' });
  });

  it('bridges a URL, named after its host, the transport inferred from the scheme', () => {
    const http = parseConfig(quickModeConfig({ url: 'https://mcp.example.com:8443/mcp' }));
    expect(http.backends['mcp.example.com']).toMatchObject({
      transport: 'auto',
      url: 'https://mcp.example.com:8443/mcp',
    });
    const ws = parseConfig(quickModeConfig({ url: 'ws://127.0.0.1:9000/ws' }));
    expect(ws.backends['127.0.0.1-9000']).toMatchObject({ transport: 'websocket' });
    const v6 = parseConfig(quickModeConfig({ url: 'http://[::1]:3000/sse', transport: 'sse' }));
    expect(Object.values(v6.backends)[0]).toMatchObject({ transport: 'sse' });
  });

  it('sets the Unix socket, host and port', () => {
    const config = parseConfig(
      quickModeConfig({ stdio: 'server', unixSocket: '/run/mcp.sock', host: '0.0.0.0', port: 0 }),
    );
    expect(config.server).toMatchObject({
      host: '0.0.0.0',
      port: 0,
      path: '/mcp',
      unixSocket: '/run/mcp.sock',
    });
  });

  it.each([
    [{}, 'nothing to serve'],
    [{ stdio: 'x', url: 'http://h/' }, 'either --stdio or --url'],
    [{ stdio: 'x', transport: 'sse' }, '--transport: applies only to --url'],
    [{ url: 'http://h/', transport: 'pigeon' }, '--transport: expected one of'],
    [{ url: 'wss://h/', transport: 'streamable-http' }, 'needs an http:// or https:// URL'],
    [{ url: 'mailto:a@b' }, '--url: expected an http(s):// or ws(s):// URL'],
    [{ stdio: 'a && b' }, '--stdio: the command contains the shell operator "&&"'],
  ])('refuses %j, naming the flag', (flags, message) => {
    expect(() => quickModeConfig(flags)).toThrow(FlagError);
    expect(() => quickModeConfig(flags)).toThrow(message);
  });
});

// Quick mode named every npx backend `npx`, every script `node`, and a local URL `127.0.0.1`.
describe('the names quick mode gives a backend', () => {
  const memoryScript = fileURLToPath(
    new URL(
      '../../node_modules/@modelcontextprotocol/server-memory/dist/index.js',
      import.meta.url,
    ),
  );
  it.each([
    [
      'npx',
      ['-y', '@modelcontextprotocol/server-everything@2026.1.0', 'stdio'],
      'server-everything',
    ],
    ['npx', ['mcp-remote', 'https://x/'], 'mcp-remote'],
    ['uvx', ['mcp-server-fetch'], 'mcp-server-fetch'],
    ['pnpm', ['dlx', '@scope/tool'], 'tool'],
    [
      'docker',
      ['run', '-i', '--rm', 'ghcr.io/github/github-mcp-server:latest'],
      'github-mcp-server',
    ],
    ['node', ['./weather-server.mjs'], 'weather-server'],
    ['/usr/local/bin/node', [memoryScript], 'server-memory'],
    ['node', ['/srv/tools/notes/build/index.js'], 'notes'],
    ['python3', ['-m', 'mcp_server_time'], 'mcp_server_time'],
    ['uv', ['run', '/srv/weather/server.py'], 'weather'],
    ['/opt/bin/my-server', ['--flag'], 'my-server'],
  ])('%s %j → %s', (command, args, name) => {
    expect(stdioName(command, args)).toBe(name);
  });

  it.each([
    ['https://mcp.example.com/mcp', 'mcp.example.com'],
    ['https://www.example.com/tools/mcp', 'example.com-tools'],
    ['http://127.0.0.1:8081/servers/github/mcp', '127.0.0.1-8081-servers-github'],
    ['http://localhost:3001/sse', 'localhost-3001'],
    ['http://[::1]:3000/sse', 'localhost-3000'],
  ])('%s → %s', (url, name) => {
    expect(urlName(new URL(url))).toBe(name);
  });

  it('gives the schema a name it accepts', () => {
    const config = parseConfig(quickModeConfig({ stdio: 'npx -y @scope/odd+name@1' }));
    expect(Object.keys(config.backends)).toEqual(['odd-name']);
  });
});
