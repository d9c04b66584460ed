import { createServer, request } from 'node:http';
import type { Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { WebSocket } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, parseConfig } from '../../src/index.js';
import type { Gateway, GatewayConfigInput } from '../../src/index.js';
import { createLogger } from '../../src/core/logger.js';
import { FIXTURES, initializeRequest, waitFor, ACCEPT_JSON_AND_SSE as ACCEPT } from '../helpers.js';
import { startObservedGateway } from '../observability-helpers.js';
import { openRawSse } from '../frontend-helpers.js';

/*
 * Authentication on every HTTP surface (Streamable HTTP, SSE, WebSocket): each kind of
 * credential gets its expected status, nothing unauthenticated reaches a backend, tokens and
 * keys never reach the log, and Host/Origin checks keep foreign pages out.
 */

const probe = {
  command: process.execPath,
  args: [join(FIXTURES, 'probe-server.mjs')],
  killGraceMs: 300,
};
const KEY = 'test-api-key-0123456789';
const SECRET = 'a-shared-secret-of-32-characters!!';
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'http://127.0.0.1/mcp';

let dir: string;
let logFile: string;
const cleanup: Array<() => Promise<unknown> | unknown> = [];
const secrets: string[] = [KEY, SECRET];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-auth-'));
  logFile = join(dir, 'gateway.log');
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await Promise.resolve(step()).catch(() => {});
});
afterAll(() => {
  // No token or key used in this file may appear in any log line the gateways wrote.
  const log = readFileSync(logFile, 'utf8');
  expect(log.length).toBeGreaterThan(0);
  for (const secret of secrets) expect(log).not.toContain(secret);
  rmSync(dir, { recursive: true, force: true });
});

async function start(auth: GatewayConfigInput['auth'], extra: Partial<GatewayConfigInput> = {}) {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    auth,
    backends: { probe },
    ...extra,
  });
  const gateway: Gateway = createGateway(config, {
    log: createLogger({ level: 'debug', destination: logFile }),
  });
  const address = await gateway.listen();
  cleanup.push(() => gateway.close());
  return { gateway, port: address.port };
}

async function token(
  claims: Record<string, unknown>,
  options: { exp?: string | number; iss?: string; aud?: string } = {},
) {
  const jwt = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('alice')
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.exp ?? '5m')
    .sign(new TextEncoder().encode(SECRET));
  secrets.push(jwt);
  return jwt;
}

const initialize = JSON.stringify(initializeRequest({ name: 'auth' }));

interface JsonRpcErrorBody {
  error: { code: number; message: string; data: { code: string } };
}

/** The status each surface gives a credential: Streamable HTTP initialize, SSE stream, WebSocket upgrade. */
async function statuses(port: number, headers: Record<string, string>) {
  const mcp = await fetch(`http://127.0.0.1:${port}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT, ...headers },
    body: initialize,
  });
  await mcp.text();
  const controller = new AbortController();
  const sse = await fetch(`http://127.0.0.1:${port}/sse`, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  controller.abort();
  const ws = await new Promise<number>((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, 'mcp', { headers });
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    socket.once('error', () => {});
  });
  return { mcp: mcp.status, sse: sse.status, ws, challenge: mcp.headers.get('www-authenticate') };
}

describe('authentication matrix (Streamable HTTP, SSE, WebSocket)', () => {
  it('refuses missing and wrong credentials everywhere and lets good ones in', async () => {
    const { port } = await start({
      required: true,
      apiKeys: [KEY],
      jwt: { secret: SECRET, issuer: ISSUER, audience: AUDIENCE },
      requiredScopes: ['mcp:call'],
    });
    const cells: Array<[string, Record<string, string>, number]> = [
      ['no credentials', {}, 401],
      ['a bad key', { 'x-api-key': 'not-the-key-0000' }, 401],
      ['a good key', { 'x-api-key': KEY }, 200],
      ['a good key as bearer', { authorization: `Bearer ${KEY}` }, 200],
      [
        'an expired JWT',
        {
          authorization: `Bearer ${await token({ scope: 'mcp:call' }, { exp: Math.floor(Date.now() / 1000) - 3600 })}`,
        },
        401,
      ],
      [
        'a JWT for another audience',
        {
          authorization: `Bearer ${await token({ scope: 'mcp:call' }, { aud: 'https://elsewhere' })}`,
        },
        401,
      ],
      [
        'a JWT from another issuer',
        {
          authorization: `Bearer ${await token({ scope: 'mcp:call' }, { iss: 'https://evil.test' })}`,
        },
        401,
      ],
      [
        'a JWT without the needed scope',
        { authorization: `Bearer ${await token({ scope: 'mcp:read' })}` },
        403,
      ],
      [
        'a JWT with the scope',
        { authorization: `Bearer ${await token({ scope: 'mcp:read mcp:call' })}` },
        200,
      ],
    ];
    for (const [name, headers, expected] of cells) {
      const got = await statuses(port, headers);
      const ws = expected === 200 ? 101 : expected;
      expect({ name, ...got, challenge: undefined }).toEqual({
        name,
        mcp: expected,
        sse: expected,
        ws,
        challenge: undefined,
      });
      if (expected === 401)
        expect(got.challenge).toMatch(
          /^Bearer .*resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/,
        );
      if (expected === 403)
        expect(got.challenge).toContain('error="insufficient_scope", scope="mcp:call"');
    }
    // Only the 3 good credentials reached the backend: a session each on Streamable HTTP and SSE
    // (a WebSocket opens its session with its first message, and these sent none): 6 in all.
    const stats = (await (
      await fetch(`http://127.0.0.1:${port}/stats`, { headers: { 'x-api-key': KEY } })
    ).json()) as {
      sessions: { opened: number };
      authFailures: Record<string, number>;
    };
    expect(stats.sessions.opened).toBe(6);
    expect(stats.authFailures).toMatchObject({
      missing: 3,
      invalid_key: 3,
      expired: 3,
      wrong_audience: 3,
      wrong_issuer: 3,
      insufficient_scope: 3,
    });
  });

  it('binds a session to the caller that opened it', async () => {
    const other = 'another-api-key-987654';
    secrets.push(other);
    const { port } = await start({ required: true, apiKeys: [KEY, other] });
    const res = await fetch(`http://127.0.0.1:${port}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT, 'x-api-key': KEY },
      body: initialize,
    });
    await res.text();
    const session = res.headers.get('mcp-session-id')!;
    const hijack = await fetch(`http://127.0.0.1:${port}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: ACCEPT,
        'x-api-key': other,
        'mcp-session-id': session,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
    });
    expect(hijack.status).toBe(403);
  });

  // attach_session took any session whose id it was given; only Mcp-Session-Id was checked.
  it("refuses a WebSocket attach_session onto another caller's session", async () => {
    const other = 'third-api-key-77777777';
    secrets.push(other);
    const { port } = await start({ required: true, apiKeys: [KEY, other] });
    const frames = (socket: WebSocket) => {
      const got: Array<Record<string, unknown>> = [];
      socket.on('message', (data) => got.push(JSON.parse(String(data))));
      return got;
    };
    const connect = async (key: string) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { 'x-api-key': key } });
      cleanup.push(() => socket.close());
      const got = frames(socket);
      await new Promise((resolve) => socket.once('open', resolve));
      return { socket, got };
    };
    const owner = await connect(KEY);
    owner.socket.send(JSON.stringify({ type: 'create_session', client_id: 'owner' }));
    await waitFor(() => owner.got.length > 0, 5000, 'session_created');
    const sessionId = owner.got[0]!.session_id as string;
    expect(typeof sessionId).toBe('string');

    const thief = await connect(other);
    thief.socket.send(JSON.stringify({ type: 'attach_session', session_id: sessionId }));
    await waitFor(() => thief.got.length > 0, 5000, 'an answer to attach_session');
    expect(thief.got[0]).toMatchObject({
      type: 'error',
      error: expect.stringContaining('belongs to another caller'),
    });
    const same = await connect(KEY);
    same.socket.send(JSON.stringify({ type: 'attach_session', session_id: sessionId }));
    await waitFor(() => same.got.length > 0, 5000, 'an answer to attach_session');
    expect(same.got[0]).toMatchObject({ type: 'session_created', session_id: sessionId });
  });

  it("SSE /messages with another caller's sessionId gets 403, whatever Mcp-Session-Id says", async () => {
    const other = 'sse-other-api-key-24680';
    secrets.push(other);
    const { port } = await start({ required: true, apiKeys: [KEY, other] });
    const base = new URL(`http://127.0.0.1:${port}/`);
    const stream = await openRawSse(new URL('/sse', base), 'text/event-stream', {
      'x-api-key': KEY,
    });
    cleanup.push(() => stream.close());
    const endpoint = new URL(
      (await stream.next((e) => e.event === 'endpoint', 'endpoint')).data,
      base,
    );
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const post = async (key: string, headers: Record<string, string> = {}) => {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key, ...headers },
        body: ping,
      });
      const text = await res.text();
      return {
        status: res.status,
        body: text ? (JSON.parse(text) as JsonRpcErrorBody) : undefined,
      };
    };
    const hijack = await post(other);
    expect(hijack.status).toBe(403);
    expect(hijack.body?.error.data.code).toBe('GATEWAY_FORBIDDEN');
    // The caller's own Streamable HTTP session in the header must not hide the query's session.
    const own = await fetch(`http://127.0.0.1:${port}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT, 'x-api-key': other },
      body: initialize,
    });
    await own.text();
    const ownSession = own.headers.get('mcp-session-id')!;
    expect(ownSession).toBeTruthy();
    expect((await post(other, { 'mcp-session-id': ownSession })).status).toBe(403);
    // The owner still gets in.
    expect((await post(KEY)).status).toBe(202);
  });

  it('checks the auth_token of each WebSocket envelope message', async () => {});

  it('checks the auth_token of each WebSocket envelope message; a non-string one, which was ignored, is refused', async () => {
    const other = 'second-api-key-55555555';
    secrets.push(other);
    const { port } = await start({ required: true, apiKeys: [KEY, other] });
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { 'x-api-key': KEY } });
    cleanup.push(() => socket.close());
    const replies: Array<{
      mcp_payload: { id: unknown; error?: { code: number; message: string } };
    }> = [];
    socket.on('message', (data) => replies.push(JSON.parse(String(data))));
    await new Promise((resolve) => socket.once('open', resolve));
    const send = (id: number, token: unknown, method = 'ping') =>
      socket.send(
        JSON.stringify({
          id,
          timestamp: new Date().toISOString(),
          source: 'local-router',
          auth_token: token,
          mcp_payload: id === 1 ? JSON.parse(initialize) : { jsonrpc: '2.0', id, method },
        }),
      );
    send(1, KEY);
    send(2, 'not-a-valid-token-000');
    send(3, other);
    send(4, KEY);
    // A token that is not a string was dropped, and the message went on as if it had none.
    send(5, 12345);
    send(6, { token: KEY });
    send(7, null);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${replies.length} replies`)), 10_000);
      const check = setInterval(() => {
        if (replies.filter((r) => r.mcp_payload.id !== undefined).length >= 7) {
          clearInterval(check);
          clearTimeout(timer);
          resolve();
        }
      }, 20);
    });
    const byId = new Map(replies.map((r) => [r.mcp_payload.id, r.mcp_payload]));
    expect(byId.get(1)?.error).toBeUndefined();
    expect(byId.get(2)?.error?.code).toBe(-32030);
    expect(byId.get(3)?.error?.message).toContain('names another caller');
    expect(byId.get(4)?.error).toBeUndefined();
    for (const [id, type] of [
      [5, 'number'],
      [6, 'object'],
      [7, 'null'],
    ] as const) {
      expect(byId.get(id)?.error?.code).toBe(-32600);
      expect(byId.get(id)?.error?.message).toContain(`"auth_token" must be a string, not ${type}`);
    }
  });

  it('follows a JWKS through a key rotation', async () => {
    const first = await generateKeyPair('RS256');
    const second = await generateKeyPair('RS256');
    let current = { ...(await exportJWK(first.publicKey)), kid: 'one', alg: 'RS256' };
    let fetches = 0;
    const jwks: Server = createServer((_req, res) => {
      fetches++;
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: [current] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise<void>((resolve) => jwks.close(() => resolve())));
    const { port } = await start({
      required: true,
      jwt: {
        jwksUrl: `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks.json`,
        issuer: ISSUER,
        audience: AUDIENCE,
      },
    });
    const sign = async (key: typeof first.privateKey, kid: string) => {
      const jwt = await new SignJWT({ scope: 'mcp:call' })
        .setProtectedHeader({ alg: 'RS256', kid })
        .setSubject('bob')
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime('5m')
        .sign(key);
      secrets.push(jwt);
      return jwt;
    };
    const oldToken = await sign(first.privateKey, 'one');
    expect((await statuses(port, { authorization: `Bearer ${oldToken}` })).mcp).toBe(200);
    const before = fetches;

    current = { ...(await exportJWK(second.publicKey)), kid: 'two', alg: 'RS256' };
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the JWKS refetch cool-down
    const newToken = await sign(second.privateKey, 'two');
    expect((await statuses(port, { authorization: `Bearer ${newToken}` })).mcp).toBe(200);
    expect(fetches).toBeGreaterThan(before); // the unknown kid made it fetch the keys again
  });
});

describe('audit of auth decisions', () => {
  it('writes one record per decision, let in or refused, without the credential', async () => {
    const audit = join(dir, 'audit.jsonl');
    const running = await startObservedGateway(
      {
        backends: { probe },
        admin: { enabled: false },
        auth: { required: true, apiKeys: [KEY] },
        audit: { enabled: true, destination: audit },
      },
      createLogger({ level: 'debug', destination: logFile }),
    );
    try {
      for (const key of [KEY, 'wrong-key-000000000']) {
        const res = await fetch(running.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: ACCEPT, 'x-api-key': key },
          body: initialize,
        });
        await res.text();
      }
    } finally {
      await running.close();
    }
    const text = readFileSync(audit, 'utf8');
    expect(text).not.toContain(KEY);
    const records = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.filter((r) => String(r.event).startsWith('auth.'))).toEqual([
      expect.objectContaining({
        event: 'auth.success',
        reason: 'api-key',
        outcome: 'ok',
        principal: expect.stringMatching(/^key-/),
      }),
      expect.objectContaining({ event: 'auth.failure', reason: 'invalid_key', outcome: 'error' }),
    ]);
  });
});

describe('hardening', () => {
  it('refuses a foreign Host or Origin on a loopback gateway', async () => {
    const { port } = await start({});
    // fetch() will not send another Host header; node:http will.
    const evilHost = await new Promise<{ status: number }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/mcp',
          method: 'POST',
          headers: { host: 'evil.example.com', 'content-type': 'application/json', accept: ACCEPT },
        },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0 });
        },
      );
      req.on('error', reject);
      req.end(initialize);
    });
    expect(evilHost.status).toBe(403);
    const evilOrigin = await fetch(`http://127.0.0.1:${port}/mcp`, {
      method: 'POST',
      headers: {
        origin: 'http://evil.example.com',
        'content-type': 'application/json',
        accept: ACCEPT,
      },
      body: initialize,
    });
    expect(evilOrigin.status).toBe(403);
    const ok = await fetch(`http://127.0.0.1:${port}/mcp`, {
      method: 'POST',
      headers: {
        origin: `http://127.0.0.1:${port}`,
        'content-type': 'application/json',
        accept: ACCEPT,
      },
      body: initialize,
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('Origin: null is a foreign origin on /mcp, /sse, /messages and /ws unless listed', async () => {
    const { port } = await start({});
    const refused = await statuses(port, { origin: 'null' });
    expect({ mcp: refused.mcp, sse: refused.sse, ws: refused.ws }).toEqual({
      mcp: 403,
      sse: 403,
      ws: 403,
    });
    const messages = await fetch(`http://127.0.0.1:${port}/messages?sessionId=x`, {
      method: 'POST',
      headers: { origin: 'null', 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    expect(messages.status).toBe(403);
    expect(((await messages.json()) as { error: { message: string } }).error.message).toContain(
      'Origin "null"',
    );

    // `*` does not let `null` in; naming it does.
    const { port: anyPort } = await start(
      {},
      { server: { host: '127.0.0.1', port: 0, allowedOrigins: ['*'] } },
    );
    expect((await statuses(anyPort, { origin: 'null' })).mcp).toBe(403);
    const { port: listedPort } = await start(
      {},
      { server: { host: '127.0.0.1', port: 0, allowedOrigins: ['null'] } },
    );
    const listed = await statuses(listedPort, { origin: 'null' });
    expect({ mcp: listed.mcp, sse: listed.sse, ws: listed.ws }).toEqual({
      mcp: 200,
      sse: 200,
      ws: 101,
    });
  });

  it('answers CORS preflights for allowed origins only, and serves the well-known documents', async () => {
    const { port } = await start(
      {
        required: true,
        apiKeys: [KEY],
        oauth: { authorizationServers: ['https://auth.example.com'] },
      },
      {
        server: { host: '127.0.0.1', port: 0, allowedOrigins: ['https://app.example.com'] },
      },
    );
    const preflight = await fetch(`http://127.0.0.1:${port}/mcp`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('mcp-session-id');
    const foreign = await fetch(`http://127.0.0.1:${port}/mcp`, {
      method: 'OPTIONS',
      headers: { origin: 'https://other.example.com' },
    });
    expect(foreign.status).toBe(403);

    const metadata = (await (
      await fetch(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`)
    ).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      resource: `http://127.0.0.1:${port}/mcp`,
      authorization_servers: ['https://auth.example.com'],
      bearer_methods_supported: ['header'],
    });
    const securityTxt = await (
      await fetch(`http://127.0.0.1:${port}/.well-known/security.txt`)
    ).text();
    expect(securityTxt).toMatch(/^Contact: /);
  });

  it('refuses a JWT without exp or without sub on /mcp, which used to let them in', async () => {
    const { port } = await start({
      required: true,
      jwt: { secret: SECRET, issuer: ISSUER, audience: AUDIENCE },
    });
    const key = new TextEncoder().encode(SECRET);
    const base = () =>
      new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setAudience(AUDIENCE);
    const noExp = await base().setSubject('alice').setIssuedAt().sign(key);
    const noSub = await base().setIssuedAt().setExpirationTime('5m').sign(key);
    const good = await base().setSubject('alice').setIssuedAt().setExpirationTime('5m').sign(key);
    secrets.push(noExp, noSub, good);
    for (const [jwt, status] of [
      [noExp, 401],
      [noSub, 401],
      [good, 200],
    ] as const) {
      const res = await fetch(`http://127.0.0.1:${port}/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: ACCEPT,
          authorization: `Bearer ${jwt}`,
        },
        body: initialize,
      });
      await res.text();
      expect(res.status).toBe(status);
      if (status === 401) expect(res.headers.get('www-authenticate')).toContain('invalid_token');
    }
  });

  it('warns once at startup when bound beyond loopback without auth, which used to start silently', async () => {
    const read = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    const before = read().length;
    const warnings = () =>
      read()
        .slice(before)
        .split('\n')
        .filter((line) => line.includes('without authentication'));
    const { gateway } = await start({}, { server: { host: '0.0.0.0', port: 0 } });
    // Logged before listen() resolves; flushed to the file on the logger's schedule.
    await waitFor(() => warnings().length > 0, 10_000, 'the warning in the log');
    await gateway.close();
    const lines = warnings();
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, host: '0.0.0.0' });
  });

  it('the protected-resource metadata no longer reflects unnormalized paths (/../../): 404', async () => {
    const { port } = await start({ required: true, apiKeys: [KEY] });
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        // node:http sends the path as given; fetch() would normalize it first.
        const req = request({ host: '127.0.0.1', port, path }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    for (const path of [
      '/.well-known/oauth-protected-resource/../../etc/passwd',
      '/.well-known/oauth-protected-resource/mcp/..',
      '/.well-known/oauth-protected-resource//evil',
      '/.well-known/oauth-protected-resource/%2e%2e/x',
      '/.well-known/oauth-protected-resource/<script>',
    ]) {
      const reply = await get(path);
      expect(reply.status, path).toBe(404);
      expect(reply.body).not.toContain('"resource"');
    }
    const ok = await get('/.well-known/oauth-protected-resource/servers/probe/mcp');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({
      resource: `http://127.0.0.1:${port}/servers/probe/mcp`,
    });
  });

  it('refuses to start with auth required and nothing to check credentials against', () => {
    expect(() =>
      createGateway(
        parseConfig({ server: { port: 0 }, auth: { required: true }, backends: { probe } }),
      ),
    ).toThrow(/auth\.required: expected auth\.apiKeys, auth\.jwt or auth\.introspection/);
  });
});
