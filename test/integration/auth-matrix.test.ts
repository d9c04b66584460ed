import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from '../helpers.js';
import {
  CLI,
  INITIALIZE,
  MCP_HEADERS,
  echoBackend,
  itUnlessKnown,
  rpc,
  startCliGateway,
} from '../fuzz/cli-gateway.js';
import type { CliGateway } from '../fuzz/cli-gateway.js';

/*
 * Every credential a careless or hostile client may bring, on every authenticated surface of
 * the built gateway: each cell must be refused with 401 (403 for a foreign Origin) and a JSON
 * body, or, for a WebSocket upgrade, refused before the upgrade. Cells that are known defects
 * (fuzz/known-defects.json) are expected failures until the entry is deleted.
 */

const SECRET = 'auth-matrix-secret-0123456789abcdef';
const ISSUER = 'https://issuer.example';
const AUDIENCE = 'https://gateway.example/mcp';
const API_KEY = 'auth-matrix-key-0123456789';

let gw: CliGateway;
let alice = '';
let bob = '';
let aliceSseSession = '';
let keySseSession = '';
let aliceMcpSession = '';

const enc = new TextEncoder();
const now = () => Math.floor(Date.now() / 1000);

async function jwt(
  claims: Record<string, unknown>,
  { secret = SECRET, exp = now() + 600 }: { secret?: string; exp?: number | null } = {},
) {
  let token = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt();
  if (exp !== null) token = token.setExpirationTime(exp);
  return token.sign(enc.encode(secret));
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A credential as the headers (and query string) a request carries. */
interface Credential {
  name: string;
  /** A known defect that makes this credential pass today. */
  known?: string;
  /** The status a refusal must have. */
  status: 401 | 403;
  headers(): Promise<Record<string, string>> | Record<string, string>;
  query?: () => string;
  /** Whose SSE session its POST /messages cell uses: alice's, or the API key's own. */
  owner?: 'key';
}

const CREDENTIALS: Credential[] = [
  { name: 'no credential', status: 401, headers: () => ({}) },
  { name: 'a wrong API key', status: 401, headers: () => ({ 'x-api-key': 'not-the-key-0123456' }) },
  {
    name: 'a random bearer token',
    status: 401,
    headers: () => ({ authorization: 'Bearer abc.def.ghi' }),
  },
  {
    name: 'an alg:none JWT',
    status: 401,
    headers: () => ({
      authorization: `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: now() + 600 })}.`,
    }),
  },
  {
    name: 'an expired JWT',
    status: 401,
    headers: async () => ({
      authorization: `Bearer ${await jwt({ sub: 'alice', iss: ISSUER, aud: AUDIENCE }, { exp: now() - 3600 })}`,
    }),
  },
  {
    name: 'a JWT without exp',
    known: 'jwt-without-exp',
    status: 401,
    headers: async () => ({
      authorization: `Bearer ${await jwt({ sub: 'alice', iss: ISSUER, aud: AUDIENCE }, { exp: null })}`,
    }),
  },
  {
    name: 'a JWT without sub',
    known: 'jwt-without-sub',
    status: 401,
    headers: async () => ({ authorization: `Bearer ${await jwt({ iss: ISSUER, aud: AUDIENCE })}` }),
  },
  {
    name: 'a JWT signed with another key',
    status: 401,
    headers: async () => ({
      authorization: `Bearer ${await jwt({ sub: 'alice', iss: ISSUER, aud: AUDIENCE }, { secret: 'another-secret-0123456789abcdef' })}`,
    }),
  },
  {
    name: 'a JWT for another audience',
    status: 401,
    headers: async () => ({
      authorization: `Bearer ${await jwt({ sub: 'alice', iss: ISSUER, aud: 'https://other.example/mcp' })}`,
    }),
  },
  {
    name: 'a JWT from another issuer',
    status: 401,
    headers: async () => ({
      authorization: `Bearer ${await jwt({ sub: 'alice', iss: 'https://evil.example', aud: AUDIENCE })}`,
    }),
  },
  {
    name: 'a valid token in the query string only',
    status: 401,
    headers: () => ({}),
    query: () => `access_token=${encodeURIComponent(alice)}&api_key=${API_KEY}`,
  },
  {
    name: 'a valid key with Origin: null',
    known: 'origin-null',
    status: 403,
    headers: () => ({ 'x-api-key': API_KEY, origin: 'null' }),
    owner: 'key',
  },
  {
    name: 'a valid key from a foreign Origin',
    status: 403,
    headers: () => ({ 'x-api-key': API_KEY, origin: 'http://evil.example' }),
    owner: 'key',
  },
];

interface Surface {
  name: string;
  method: 'GET' | 'POST';
  path: (cred?: Credential) => string;
  body?: () => string;
}

const HTTP_SURFACES: Surface[] = [
  { name: 'POST /mcp', method: 'POST', path: () => '/mcp', body: () => JSON.stringify(INITIALIZE) },
  {
    name: 'POST /servers/echo/mcp',
    method: 'POST',
    path: () => '/servers/echo/mcp',
    body: () => JSON.stringify(INITIALIZE),
  },
  { name: 'GET /sse', method: 'GET', path: () => '/sse' },
  { name: 'GET /servers/echo/sse', method: 'GET', path: () => '/servers/echo/sse' },
  {
    // The sessions were opened on /servers/echo/sse: their messages go to that endpoint's path.
    name: 'POST /servers/echo/messages (a live SSE session)',
    method: 'POST',
    path: (cred) =>
      `/servers/echo/messages?sessionId=${cred?.owner === 'key' ? keySseSession : aliceSseSession}`,
    body: () => JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }),
  },
  { name: 'GET /stats', method: 'GET', path: () => '/stats' },
  { name: 'GET /api/v1/services', method: 'GET', path: () => '/api/v1/services' },
];

interface Answer {
  status: number;
  type: string;
  body: string;
}

/** One request; a stream (a served SSE GET) is cut after its head. */
async function send(
  surface: Surface,
  headers: Record<string, string>,
  query = '',
  cred?: Credential,
): Promise<Answer> {
  const path = surface.path(cred);
  const url = `${gw.base}${path}${query ? (path.includes('?') ? '&' : '?') + query : ''}`;
  const res = await fetch(url, {
    method: surface.method,
    headers: {
      ...(surface.method === 'POST'
        ? MCP_HEADERS
        : { accept: 'text/event-stream, application/json' }),
      ...headers,
    },
    body: surface.body?.(),
    signal: AbortSignal.timeout(30_000),
  });
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('text/event-stream')) {
    await res.body?.cancel();
    return { status: res.status, type, body: '' };
  }
  return { status: res.status, type, body: await res.text() };
}

function expectJsonRefusal(answer: Answer, status: number) {
  expect(answer.status).toBe(status);
  expect(answer.type).toMatch(/json/);
  expect(() => JSON.parse(answer.body) as unknown).not.toThrow();
  expect(answer.body).not.toMatch(/\n\s+at /);
}

/** Opens /ws with `headers`; resolves with the refusal status, or 0 if the upgrade was accepted. */
function upgrade(path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}${path}`, 'mcp', { headers });
    ws.once('open', () => {
      ws.close();
      resolve(0);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? -1);
    });
    ws.once('error', () => resolve(-1));
  });
}

beforeAll(async () => {
  gw = await startCliGateway({
    auth: {
      required: true,
      apiKeys: [API_KEY],
      jwt: { secret: SECRET, issuer: ISSUER, audience: AUDIENCE },
    },
    backends: { echo: echoBackend() },
  });
  // Valid tokens as an operator mints them: `mcp-bridge token create`.
  const file = join(gw.dir, 'token.json');
  writeFileSync(
    file,
    JSON.stringify({
      auth: { jwt: { secret: SECRET, issuer: ISSUER, audience: AUDIENCE } },
      backends: { echo: echoBackend() },
    }),
  );
  const mint = (sub: string) => {
    const r = spawnSync(
      process.execPath,
      [CLI, 'token', 'create', '--config', file, '--sub', sub, '--ttl', '10m'],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`token create: ${r.stderr}`);
    return r.stdout.trim();
  };
  alice = mint('alice');
  bob = mint('bob');
  // Alice's sessions, which the other principals' cells try to use.
  const init = await rpc(`${gw.base}/servers/echo/mcp`, INITIALIZE, undefined, {
    authorization: `Bearer ${alice}`,
  });
  if (!init.session) throw new Error(`alice cannot open a session: ${init.status} ${init.text}`);
  aliceMcpSession = init.session;
  aliceSseSession = await openSse({ authorization: `Bearer ${alice}` });
  keySseSession = await openSse({ 'x-api-key': API_KEY });
}, 60_000);

afterAll(async () => {
  for (const stream of streams) stream.abort();
  await gw?.close();
});

const streams: AbortController[] = [];

/** Opens a legacy SSE session with `headers`, kept open for the whole file; its session id. */
async function openSse(headers: Record<string, string>): Promise<string> {
  const abort = new AbortController();
  streams.push(abort);
  const stream = await fetch(`${gw.base}/servers/echo/sse`, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: abort.signal,
  });
  const reader = stream.body!.getReader();
  let text = '';
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += Buffer.from(value).toString('utf8');
    }
  })().catch(() => {});
  await waitFor(() => /sessionId=/.test(text), 10_000, 'the SSE endpoint event');
  const id = /sessionId=([^\s&]+)/.exec(text)![1]!;
  // A session is one once its handshake completes (one that never does is reaped in seconds).
  const posted = await fetch(`${gw.base}/servers/echo/messages?sessionId=${id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(INITIALIZE),
  });
  if (posted.status !== 202) throw new Error(`initialize on SSE: ${posted.status}`);
  await waitFor(() => text.includes('"protocolVersion"'), 10_000, 'the initialize reply');
  return id;
}

describe('the credentials that are good are served (so that a refusal means something)', () => {
  it('an API key and minted JWTs open sessions on /mcp and /servers/echo/mcp', async () => {
    const good: Array<Record<string, string>> = [
      { 'x-api-key': API_KEY },
      { authorization: `Bearer ${API_KEY}` },
      { authorization: `Bearer ${alice}` },
    ];
    for (const headers of good) {
      for (const path of ['/mcp', '/servers/echo/mcp']) {
        const r = await rpc(gw.base + path, INITIALIZE, undefined, headers);
        expect(r.status).toBe(200);
        expect(r.session).toBeTruthy();
      }
    }
    expect((await send(HTTP_SURFACES[5]!, { 'x-api-key': API_KEY })).status).toBe(200);
    expect(await upgrade('/ws', { authorization: `Bearer ${alice}` })).toBe(0);
  });
});

describe.each(CREDENTIALS)('$name', (cred) => {
  const cell = cred.known ? itUnlessKnown(cred.known) : it;
  const suffix = cred.known ? ` (known defect ${cred.known})` : '';
  for (const surface of HTTP_SURFACES) {
    cell(`${surface.name} is refused with ${cred.status} and a JSON body${suffix}`, async () => {
      const answer = await send(surface, await cred.headers(), cred.query?.() ?? '', cred);
      expectJsonRefusal(answer, cred.status);
    });
  }
  for (const path of ['/ws', '/servers/echo/ws']) {
    cell(`a WebSocket upgrade to ${path} is refused with ${cred.status}${suffix}`, async () => {
      const query = cred.query?.();
      expect(await upgrade(query ? `${path}?${query}` : path, await cred.headers())).toBe(
        cred.status,
      );
    });
  }
});

describe("another principal's session", () => {
  it("bob cannot use alice's Streamable HTTP session (403, JSON)", async () => {
    const r = await rpc(
      `${gw.base}/servers/echo/mcp`,
      { jsonrpc: '2.0', id: 3, method: 'tools/list' },
      aliceMcpSession,
      { authorization: `Bearer ${bob}` },
    );
    expect(r.status).toBe(403);
    expect(r.body.error).toBeDefined();
  });

  it("bob cannot post to alice's SSE session (403, JSON)", async () => {
    const answer = await send(HTTP_SURFACES[4]!, { authorization: `Bearer ${bob}` });
    expectJsonRefusal(answer, 403);
  });

  it("an API key cannot use alice's session either (403, JSON)", async () => {
    const r = await rpc(
      `${gw.base}/servers/echo/mcp`,
      { jsonrpc: '2.0', id: 4, method: 'tools/list' },
      aliceMcpSession,
      { 'x-api-key': API_KEY },
    );
    expect(r.status).toBe(403);
  });
});

describe('WebSocket envelope auth_token (per-message authentication)', () => {
  async function envelopeReplies(
    tokens: Array<string | undefined>,
  ): Promise<Array<{ error?: unknown; result?: unknown }>> {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/servers/echo/ws`, 'mcp', {
      headers: { authorization: `Bearer ${alice}` },
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const replies = new Map<string, { error?: unknown; result?: unknown }>();
    ws.on('message', (d) => {
      const frame = JSON.parse(String(d)) as {
        mcp_payload?: { id?: string; error?: unknown; result?: unknown };
      };
      if (frame.mcp_payload?.id) replies.set(frame.mcp_payload.id, frame.mcp_payload);
    });
    try {
      const send = (id: string, payload: unknown, token?: string) =>
        ws.send(
          JSON.stringify({
            id,
            timestamp: new Date().toISOString(),
            source: 'auth-matrix',
            ...(token !== undefined ? { auth_token: token } : {}),
            mcp_payload: payload,
          }),
        );
      send('init', { ...INITIALIZE, id: 'init' }, alice);
      await waitFor(() => replies.has('init'), 10_000, 'initialize');
      tokens.forEach((token, i) =>
        send(`m${i}`, { jsonrpc: '2.0', id: `m${i}`, method: 'ping' }, token),
      );
      await waitFor(() => tokens.every((_, i) => replies.has(`m${i}`)), 10_000, 'every reply');
      return tokens.map((_, i) => replies.get(`m${i}`)!);
    } finally {
      ws.close();
    }
  }

  it("a bad token, or another principal's, gets a JSON-RPC error; the connection's own is served", async () => {
    const [own, bad, other, none] = await envelopeReplies([
      alice,
      'bad.token.here',
      bob,
      'x'.repeat(10),
    ]);
    expect(own!.result).toBeDefined();
    expect(bad!.error).toBeDefined();
    expect(other!.error).toBeDefined();
    expect(none!.error).toBeDefined();
  });
});
