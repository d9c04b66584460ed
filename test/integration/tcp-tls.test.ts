import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ConfigError, createGateway, parseConfig } from '../../src/index.js';
import { TcpBackendTransport } from '../../src/backends/tcp-backend.js';
import { createLogger } from '../../src/core/logger.js';
import { FIXTURES, startGateway } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/* The framed TCP protocol over TLS (`server.tcp.tls` with `server.tls`), with an openssl-made certificate. */

const silent = createLogger({ level: 'silent' });
const probe = {
  transport: 'stdio' as const,
  command: process.execPath,
  args: [`${FIXTURES}probe-server.mjs`],
  killGraceMs: 500,
};
let dir: string;
let cert: string;
let key: string;
let gw: RunningGateway;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-tcps-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.pem',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  cert = readFileSync(join(dir, 'server.pem'), 'utf8');
  key = readFileSync(join(dir, 'server.key'), 'utf8');
  gw = await startGateway(probe, {
    server: {
      host: '127.0.0.1',
      port: 0,
      tls: { cert, key },
      tcp: { enabled: true, port: 0, tls: true },
    },
  });
});
afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('tcps://', () => {
  it('carries a session over TLS to a client that trusts the certificate', async () => {
    const url = `tcps://127.0.0.1:${gw.gateway.tcpAddress()!.port}`;
    const client = new Client({ name: 'tls', version: '1' });
    await client.connect(
      new TcpBackendTransport({ name: 't', url, log: silent, tls: { ca: cert } }),
    );
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('wait');
    } finally {
      await client.close();
    }
  });

  it('is refused by a client that does not trust it, with the reason', async () => {
    const url = `tcps://127.0.0.1:${gw.gateway.tcpAddress()!.port}`;
    const transport = new TcpBackendTransport({ name: 't', url, log: silent });
    await expect(transport.start()).rejects.toThrow(/cannot connect to tcps:.*self.signed/i);
  });

  it('needs server.tls to serve TLS, and says so', () => {
    const config = parseConfig({
      server: { port: 0, tcp: { enabled: true, tls: true } },
      backends: { probe },
    });
    expect(() => createGateway(config, { log: silent })).toThrow(ConfigError);
    expect(() => createGateway(config, { log: silent })).toThrow(
      /server\.tcp\.tls: expected server\.tls/,
    );
  });
});
