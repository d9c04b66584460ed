import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startGateway, probeStdio } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';
import { certificates } from '../tls-helpers.js';

/*
 * `mcp-bridge connect` presenting a client certificate (mTLS) to a gateway that requires one,
 * over HTTPS (Streamable HTTP), WSS and TCP over TLS. openssl makes a throwaway CA that signs
 * the gateway's certificate (SAN 127.0.0.1) and the connector's; without its certificate the
 * connector never gets through the handshake, and the client hears so when its wait runs out.
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

let dir: string;
let gw: RunningGateway;
let port: number;
let tcpPort: number;

const path = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'connector-mtls-'));
  const { ca, issue } = certificates(dir);
  ca('ca', '/CN=connector-test-ca');
  issue(
    'gateway',
    '/CN=127.0.0.1',
    'ca',
    'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth',
  );
  issue('laptop', '/O=Example/CN=laptop', 'ca', 'extendedKeyUsage=clientAuth');
  gw = await startGateway(probeStdio, {
    server: {
      host: '127.0.0.1',
      port: 0,
      tls: {
        cert: path('gateway.pem'),
        key: path('gateway.key'),
        ca: path('ca.pem'),
        requireClientCert: true,
      },
      tcp: { enabled: true, port: 0, tls: true },
    },
  });
  port = Number(gw.url.port);
  tcpPort = gw.gateway.tcpAddress()!.port;
});
afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function connectThrough(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'connect', ...args],
    env: { PATH: process.env.PATH ?? '', ...env },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr!.on('data', (d: Buffer) => (stderr += d));
  const client = new Client({ name: 'desktop', version: '1' });
  try {
    await client.connect(transport);
  } catch (error) {
    await client.close();
    throw error;
  }
  return { client, stderr: () => stderr };
}

const remotes: Array<[string, () => string]> = [
  ['HTTPS', () => `https://127.0.0.1:${port}/mcp`],
  ['WSS', () => `wss://127.0.0.1:${port}/ws`],
  ['TCP over TLS', () => `tcps://127.0.0.1:${tcpPort}`],
];

describe('mcp-bridge connect with a client certificate', () => {
  it.each(remotes)('gets through a gateway that requires one, over %s', async (_name, url) => {
    const { client } = await connectThrough([
      url(),
      '--client-cert',
      path('laptop.pem'),
      '--client-key',
      path('laptop.key'),
      '--ca',
      path('ca.pem'),
      '--log-level',
      'silent',
    ]);
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('wait');
      const result = await client.callTool({ name: 'big', arguments: { bytes: 4 } });
      expect(JSON.stringify(result.content)).toContain('xxxx');
    } finally {
      await client.close();
    }
  });

  it('takes the certificate from the config file, its key as a secret from the environment', async () => {
    const config = path('connector.yaml');
    writeFileSync(
      config,
      [
        'remote:',
        `  url: https://127.0.0.1:${port}/mcp`,
        '  tls:',
        `    cert: ${path('laptop.pem')}`,
        '    key: { env: LAPTOP_KEY_PEM }',
        `    ca: ${path('ca.pem')}`,
        'logLevel: silent',
      ].join('\n'),
    );
    const { client } = await connectThrough(['--config', config], {
      LAPTOP_KEY_PEM: readFileSync(path('laptop.key'), 'utf8'),
    });
    try {
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });

  it.each(remotes)(
    'without one, never gets through over %s, and the client is told why',
    async (_name, url) => {
      await expect(
        connectThrough([
          url(),
          '--ca',
          path('ca.pem'),
          '--queue-wait-ms',
          '1500',
          '--log-level',
          'silent',
        ]),
      ).rejects.toThrow(/was not back within 1500 ms \(--queue-wait-ms\); last error: /);
    },
  );

  it('refuses a certificate without its key, and a PEM file that is not there, before starting', () => {
    const half = spawnSync(
      process.execPath,
      [CLI, 'connect', 'https://127.0.0.1:1/mcp', '--client-cert', path('laptop.pem')],
      { input: '' },
    );
    expect(half.status).toBe(2);
    expect(half.stderr.toString()).toMatch(
      /^mcp-bridge connect: remote\.tls: expected both cert and key/m,
    );
    const missing = spawnSync(
      process.execPath,
      [CLI, 'connect', 'https://127.0.0.1:1/mcp', '--ca', path('nope.pem')],
      { input: '' },
    );
    expect(missing.status).toBe(2);
    expect(missing.stderr.toString()).toMatch(
      /^mcp-bridge connect: remote\.tls\.ca: cannot read .*nope\.pem/m,
    );
  });
});
