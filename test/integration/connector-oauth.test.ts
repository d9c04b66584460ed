import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  initializeRequest,
  startGateway,
  waitFor,
  ACCEPT_JSON_AND_SSE,
  probeStdio,
} from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/*
 * OAuth 2.0 client credentials through `mcp-bridge connect`: a token endpoint written here (port
 * 0) checks the client's HTTP Basic credentials and issues HS256 JWTs that live two to three
 * seconds; the gateway accepts them with no clock tolerance. The same client session outlives the first
 * token: the connector fetched a new one before it lapsed (the old one is refused by then, as
 * the test checks), over Streamable HTTP and over TCP (where the token rides in every frame).
 * Neither the client secret nor any token appears in the connector's trace-level log or its
 * status file.
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const JWT_SECRET = 'connector-oauth-test-signing-key-1';
const CLIENT_ID = 'desktop-connector';
const CLIENT_SECRET = 'client-secret-9b7c3f1e';
/*
 * A token's `exp` is in whole seconds, from the second it was issued in: it lives between
 * LIFETIME_S - 1 and LIFETIME_S seconds. The token endpoint says the shorter (`expires_in`), as
 * a real one rounds down, so a refresh planned from it never comes after the true expiry.
 */
const LIFETIME_S = 3;

let dir: string;
let gw: RunningGateway;
let tokenServer: ReturnType<typeof createServer>;
let tokenUrl: string;
const issued: string[] = [];
const refusedClients: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'connector-oauth-'));
  tokenServer = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', (): void => {
      const form = new URLSearchParams(body);
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const [id, secret] = Buffer.from(basic ?? '', 'base64')
        .toString()
        .split(':');
      res.setHeader('Content-Type', 'application/json');
      if (
        form.get('grant_type') !== 'client_credentials' ||
        id !== CLIENT_ID ||
        secret !== CLIENT_SECRET
      ) {
        refusedClients.push(id ?? '');
        res.statusCode = 401;
        res.end(JSON.stringify({ error: 'invalid_client', error_description: 'unknown client' }));
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      void new SignJWT({ scope: 'mcp' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(CLIENT_ID)
        .setIssuedAt(now)
        .setExpirationTime(now + LIFETIME_S)
        .setJti(`t${issued.length}`)
        .sign(new TextEncoder().encode(JWT_SECRET))
        .then((token) => {
          issued.push(token);
          res.end(
            JSON.stringify({
              access_token: token,
              token_type: 'Bearer',
              expires_in: LIFETIME_S - 1,
            }),
          );
        });
    });
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
  tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
  gw = await startGateway(probeStdio, {
    server: { host: '127.0.0.1', port: 0, tcp: { enabled: true, port: 0 } },
    // Per-message tokens checked every time, not from a cache: an expired one is refused.
    auth: {
      required: true,
      jwt: { secret: JWT_SECRET, clockToleranceSec: 0 },
      perMessageCacheMs: 0,
    },
  });
});
afterAll(async () => {
  await gw?.close();
  await new Promise((resolve) => tokenServer?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** Whether the gateway still takes `token` for a new session. */
async function accepted(token: string): Promise<boolean> {
  const response = await fetch(gw.url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: ACCEPT_JSON_AND_SSE,
      Authorization: `Bearer ${token}`,
    },
    body: JSON.stringify(initializeRequest({ name: 'probe' })),
  });
  await response.body?.cancel();
  return response.status === 200;
}

const remotes: Array<[string, () => string, string?]> = [
  ['Streamable HTTP', () => gw.url.toString()],
  ['TCP', () => `tcp://127.0.0.1:${gw.gateway.tcpAddress()!.port}`],
  // The seed's envelope dialect: the token rides in every message (per-message auth).
  ['the WebSocket envelope', () => `ws://127.0.0.1:${gw.url.port}/ws`, 'websocket-envelope'],
];

describe('mcp-bridge connect with OAuth client credentials', () => {
  it.each(remotes)('refreshes the token before it expires, over %s', async (name, url, kind) => {
    const statusFile = join(dir, `${name}.status.json`);
    const config = join(dir, `${name}.yaml`);
    writeFileSync(
      config,
      [
        'remote:',
        `  url: ${url()}`,
        ...(kind ? [`  transport: ${kind}`] : []),
        '  auth:',
        '    type: oauth-client-credentials',
        `    tokenUrl: ${tokenUrl}`,
        `    clientId: ${CLIENT_ID}`,
        '    clientSecret: { env: CONNECTOR_CLIENT_SECRET }',
        '    refreshBeforeMs: 1000',
        `statusFile: ${JSON.stringify(statusFile)}`,
        'logLevel: trace',
      ].join('\n'),
    );
    const before = issued.length;
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'connect', '--config', config],
      env: { PATH: process.env.PATH ?? '', CONNECTOR_CLIENT_SECRET: CLIENT_SECRET },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr!.on('data', (d: Buffer) => (stderr += d));
    const client = new Client({ name: 'desktop', version: '1' });
    try {
      await client.connect(transport);
      expect((await client.callTool({ name: 'big', arguments: { bytes: 3 } })).isError).toBeFalsy();
      const first = issued[before]!;
      const expiresAt = decodeJwt(first).exp! * 1000;
      // Past the first token's life, with one more token issued meanwhile.
      await waitFor(
        () => Date.now() > expiresAt + 200 && issued.length > before + 1,
        10_000,
        'a second token',
      );
      expect(await accepted(first)).toBe(false);
      const again = await client.callTool({ name: 'big', arguments: { bytes: 5 } });
      expect(again.isError).toBeFalsy();
      expect(JSON.stringify(again.content)).toContain('xxxxx');
    } finally {
      await client.close();
    }
    const logged = stderr + readFileSync(statusFile, 'utf8');
    expect(stderr).toContain(`OAuth client credentials of client ${CLIENT_ID}`);
    expect(logged).not.toContain(CLIENT_SECRET);
    expect(logged).not.toContain(Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'));
    for (const token of issued.slice(before)) {
      expect(logged).not.toContain(token);
      // Not even the signature part of one.
      expect(logged).not.toContain(token.split('.')[2]!);
    }
  });

  it('a wrong client secret is a clear error for the client, and is not logged', async () => {
    const config = join(dir, 'wrong.yaml');
    writeFileSync(
      config,
      [
        'remote:',
        `  url: ${gw.url}`,
        '  auth: { type: oauth-client-credentials, tokenUrl: "' +
          tokenUrl +
          '", clientId: ' +
          CLIENT_ID +
          ', clientSecret: wrong-secret-4411 }',
        'queue: { waitMs: 1500 }',
        'logLevel: trace',
      ].join('\n'),
    );
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'connect', '--config', config],
      env: { PATH: process.env.PATH ?? '' },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr!.on('data', (d: Buffer) => (stderr += d));
    const client = new Client({ name: 'desktop', version: '1' });
    try {
      await expect(client.connect(transport)).rejects.toThrow(
        /the token endpoint .* answered HTTP 401: invalid_client: unknown client/,
      );
    } finally {
      await client.close();
    }
    expect(refusedClients).toContain(CLIENT_ID);
    expect(stderr).not.toContain('wrong-secret-4411');
  });
});
