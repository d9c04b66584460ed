import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startGateway, waitFor, probeStdio } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/*
 * The MCP authorization flow through `mcp-bridge connect --oauth`, against a small authorization
 * server written here (RFC 8414 metadata, RFC 7591 registration, an authorize endpoint that
 * approves at once, a token endpoint that checks PKCE and issues 3-second HS256 JWTs with
 * refresh tokens) and a gateway that requires its tokens and answers 401 with
 * `resource_metadata` (RFC 9728). The test plays the person: it reads the sign-in URL from the
 * connector's log and opens it, as a browser would, following the redirect to the connector's
 * loopback callback. Then: the token is refreshed with the refresh token (no second sign-in),
 * the tokens are kept in the 0600 secrets file and appear in no log, and a second connector
 * process signs in with what was kept.
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const JWT_SECRET = 'connector-mcp-auth-signing-key-7';

let dir: string;
let secretsFile: string;
let gw: RunningGateway;
let as: ReturnType<typeof createServer>;
let issuer: string;
const seen = {
  registrations: 0,
  authorizations: 0,
  codeGrants: 0,
  refreshGrants: 0,
  pkceFailures: 0,
};
const issued: string[] = [];
const codes = new Map<string, { challenge: string; redirectUri: string; clientId: string }>();

async function accessToken(): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ scope: 'mcp' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('person@example.com')
    .setIssuedAt(now)
    .setExpirationTime(now + 3)
    .setJti(randomBytes(6).toString('hex'))
    .sign(new TextEncoder().encode(JWT_SECRET));
  issued.push(token);
  return token;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'connector-mcp-auth-'));
  secretsFile = join(dir, 'secrets.json');
  as = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      if (url.pathname === '/.well-known/oauth-authorization-server') {
        return json(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          registration_endpoint: `${issuer}/register`,
          response_types_supported: ['code'],
          grant_types_supported: ['authorization_code', 'refresh_token'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['none'],
        });
      }
      if (url.pathname === '/register' && req.method === 'POST') {
        seen.registrations++;
        const metadata = JSON.parse(body) as Record<string, unknown>;
        return json(res, 201, { ...metadata, client_id: `client-${seen.registrations}` });
      }
      if (url.pathname === '/authorize') {
        seen.authorizations++;
        const q = url.searchParams;
        if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
          res.writeHead(400).end('PKCE required');
          return;
        }
        const code = randomBytes(8).toString('hex');
        codes.set(code, {
          challenge: q.get('code_challenge')!,
          redirectUri: q.get('redirect_uri')!,
          clientId: q.get('client_id')!,
        });
        const back = new URL(q.get('redirect_uri')!);
        back.searchParams.set('code', code);
        back.searchParams.set('state', q.get('state') ?? '');
        res.writeHead(302, { Location: back.toString() }).end();
        return;
      }
      if (url.pathname === '/token' && req.method === 'POST') {
        const form = new URLSearchParams(body);
        if (form.get('grant_type') === 'authorization_code') {
          const grant = codes.get(form.get('code') ?? '');
          codes.delete(form.get('code') ?? '');
          const verifier = form.get('code_verifier') ?? '';
          const challenge = createHash('sha256').update(verifier).digest('base64url');
          if (
            !grant ||
            grant.challenge !== challenge ||
            grant.redirectUri !== form.get('redirect_uri')
          ) {
            seen.pkceFailures++;
            return json(res, 400, { error: 'invalid_grant' });
          }
          seen.codeGrants++;
          void accessToken().then((token) =>
            json(res, 200, {
              access_token: token,
              token_type: 'Bearer',
              expires_in: 3,
              refresh_token: `rt-${randomBytes(6).toString('hex')}`,
            }),
          );
          return;
        }
        if (
          form.get('grant_type') === 'refresh_token' &&
          form.get('refresh_token')?.startsWith('rt-')
        ) {
          seen.refreshGrants++;
          void accessToken().then((token) =>
            json(res, 200, {
              access_token: token,
              token_type: 'Bearer',
              expires_in: 3,
              refresh_token: form.get('refresh_token'),
            }),
          );
          return;
        }
        return json(res, 400, { error: 'unsupported_grant_type' });
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => as.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(as.address() as AddressInfo).port}`;
  gw = await startGateway(probeStdio, {
    server: { host: '127.0.0.1', port: 0 },
    auth: {
      required: true,
      jwt: { secret: JWT_SECRET, clockToleranceSec: 0 },
      oauth: { authorizationServers: [issuer] },
    },
  });
});
afterAll(async () => {
  await gw?.close();
  await new Promise((resolve) => as?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function connector(): { transport: StdioClientTransport; stderr: () => string } {
  // No browser here: the test opens the URL itself.
  const config = join(dir, 'connector.yaml');
  writeFileSync(
    config,
    `remote:\n  url: ${gw.url}\n  auth: { type: oauth, openBrowser: false }\nlogLevel: trace\n`,
  );
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'connect', '--config', config],
    env: {
      PATH: process.env.PATH ?? '',
      MCP_BRIDGE_SECRETS_FILE: secretsFile,
      MCP_BRIDGE_KEYCHAIN: 'off',
    },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr!.on('data', (d: Buffer) => (stderr += d));
  return { transport, stderr: () => stderr };
}

describe('mcp-bridge connect --oauth', () => {
  it('signs in through the browser on a 401, refreshes, keeps the tokens, logs none', async () => {
    const { transport, stderr } = connector();
    const client = new Client({ name: 'desktop', version: '1' });
    const connected = client.connect(transport);
    // The person: opens the URL the connector logged, and the browser follows the redirects.
    await waitFor(() => /open this URL in a browser/.test(stderr()), 15_000, 'the sign-in URL');
    const line = stderr()
      .split('\n')
      .find((l) => l.includes('open this URL in a browser'))!;
    const signIn = (JSON.parse(line) as { url: string }).url;
    expect(new URL(signIn).origin).toBe(issuer);
    const page = await fetch(signIn);
    expect(await page.text()).toBe('mcp-bridge is authorized. You can close this window.');
    try {
      await connected;
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('wait');
      expect(seen).toMatchObject({
        registrations: 1,
        authorizations: 1,
        codeGrants: 1,
        pkceFailures: 0,
      });
      // Past the first token's life: a refresh, not a second sign-in.
      const first = issued.length;
      const expiresAt = decodeJwt(issued.at(-1)!).exp! * 1000;
      await waitFor(() => Date.now() > expiresAt + 200, 10_000, 'the first token to expire');
      const result = await client.callTool({ name: 'big', arguments: { bytes: 2 } });
      expect(JSON.stringify(result.content)).toContain('xx');
      expect(issued.length).toBeGreaterThan(first);
      expect(seen.refreshGrants).toBeGreaterThan(0);
      expect(seen.authorizations).toBe(1);
    } finally {
      await client.close();
    }
    expect(statSync(secretsFile).mode & 0o777).toBe(0o600);
    const kept = readFileSync(secretsFile, 'utf8');
    expect(kept).toContain('client-1');
    for (const token of issued) expect(stderr()).not.toContain(token.split('.')[2]!);
    expect(stderr()).not.toMatch(/rt-[0-9a-f]{12}/);
  });

  it('a second run signs in with the kept registration and tokens, no browser', async () => {
    const before = { ...seen };
    const { transport, stderr } = connector();
    const client = new Client({ name: 'desktop', version: '1' });
    try {
      await client.connect(transport);
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
    expect(seen.registrations).toBe(before.registrations);
    expect(seen.authorizations).toBe(before.authorizations);
    expect(stderr()).not.toContain('open this URL in a browser');
  });
});
