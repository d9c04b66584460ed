import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startGateway, probeStdio } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/*
 * `mcp-bridge connect` as a process: misuse is one line and exit 2, never a stack trace; a
 * bearer token from the environment reaches a gateway that requires it (as a header over HTTP,
 * as the request frames' auth_token over TCP) and appears in no log, even at debug level.
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const TOKEN = 'sekrit-token-7f3a9c';

function run(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.once('exit', (code) => resolve({ code, stderr, stdout }));
    child.stdin.end();
  });
}

describe('mcp-bridge connect: bad input', () => {
  const misuses: Array<[string[], RegExp]> = [
    [
      ['connect'],
      /^mcp-bridge connect: give the remote URL: connect <URL> \(or connect --config <file>\)$/m,
    ],
    [['connect', 'ftp://files.example'], /ftp is not a transport the connector speaks/],
    [
      ['connect', 'http://x/mcp', '--transport', 'tcp'],
      /--transport: tcp cannot reach a http:\/\/ URL/,
    ],
    [['connect', 'http://x/mcp', '--header', 'broken'], /--header: expected "Name: value"/],
    [['connect', 'http://x/mcp', '--bearer-token-env', 'NOT_SET_HERE'], /NOT_SET_HERE is not set/],
    [['--url', 'gopher://x', '--serve', 'stdio'], /gopher is not a transport the connector speaks/],
    [
      ['--stdio', 'true', '--tcp-port', 'eighty'],
      /--tcp-port: expected an integer from 0 to 65535/,
    ],
  ];

  it.each(misuses)('%j exits 2 with one line that says why', async (args, why) => {
    const { code, stderr } = await run(args);
    // Code and stderr in one assertion: a wrong exit code shows what the process printed.
    expect({ code, stderr }).toEqual({ code: 2, stderr: expect.stringMatching(why) });
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('prints its help', async () => {
    const { code, stdout } = await run(['connect', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: mcp-bridge connect <URL>');
  });
});

describe('mcp-bridge connect: credentials', () => {
  let gw: RunningGateway;

  beforeAll(async () => {
    gw = await startGateway(probeStdio, {
      server: { host: '127.0.0.1', port: 0, tcp: { enabled: true, port: 0 } },
      auth: { required: true, apiKeys: [TOKEN] },
    });
  });
  afterAll(() => gw?.close());

  const remotes: Array<[string, () => string]> = [
    ['Streamable HTTP', () => gw.url.toString()],
    ['TCP', () => `tcp://127.0.0.1:${gw.gateway.tcpAddress()!.port}`],
  ];

  it.each(remotes)('sends the bearer token over %s and never logs it', async (_name, url) => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'connect', url(), '--bearer-token-env', 'MY_TOKEN', '--log-level', 'trace'],
      env: { PATH: process.env.PATH ?? '', MY_TOKEN: TOKEN },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr!.on('data', (d: Buffer) => (stderr += d));
    const client = new Client({ name: 'desktop', version: '1' });
    try {
      await client.connect(transport);
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('wait');
    } finally {
      await client.close();
    }
    expect(stderr).toContain('a bearer token from $MY_TOKEN');
    expect(stderr).not.toContain(TOKEN);
  });

  // Over WebSocket the 401 comes at the upgrade, before any request: it used to be taken for an
  // outage, and the initialize waited out --queue-wait-ms (60 s) for a -32021.
  const refusing: Array<[string, () => string]> = [
    ['Streamable HTTP', () => gw.url.toString()],
    ['WebSocket', () => `ws://127.0.0.1:${gw.url.port}/ws`],
  ];
  it.each(refusing)(
    'without the token, the client gets the remote refusal over %s as an error, not a hang',
    async (_name, url) => {
      const client = new Client({ name: 'desktop', version: '1' });
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [CLI, 'connect', url(), '--log-level', 'silent'],
        stderr: 'ignore',
      });
      try {
        await expect(client.connect(transport, { timeout: 15_000 })).rejects.toThrow(
          /Remote refused the request: .*HTTP 401/,
        );
      } finally {
        await client.close();
      }
    },
  );
});
