import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, parseConfig } from '../../src/index.js';
import type { GatewayConfigInput } from '../../src/index.js';
import { ConfigError } from '../../src/config/schema.js';
import { createLogger } from '../../src/core/logger.js';
import { WebSocket } from 'ws';
import { ACCEPT_JSON_AND_SSE, initializeRequest, probeStdio, waitFor } from '../helpers.js';

/*
 * Opaque tokens checked at an introspection endpoint (RFC 7662, auth.introspection). The
 * authorization server is a small node:http server in this file: a real one (Keycloak, Hydra)
 * cannot run here, and this one answers exactly as section 2.2 says, checks the gateway's client
 * authentication (basic or post), and counts the questions, so the cache can be seen working.
 */

const CLIENT_ID = 'gateway client';
const CLIENT_SECRET = 'introspection-client-secret-42';
const now = () => Math.floor(Date.now() / 1000);

interface Answer {
  active: boolean;
  [field: string]: unknown;
}

interface AuthorizationServer {
  url: string;
  /** Introspection requests received, by token. */
  asked: Map<string, number>;
  tokens: Map<string, Answer>;
  /** How the last request authenticated the gateway. */
  lastClientAuth: 'basic' | 'post' | undefined;
  close(): Promise<void>;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function startAuthorizationServer(
  options: { hang?: boolean } = {},
): Promise<AuthorizationServer> {
  const asked = new Map<string, number>();
  const tokens = new Map<string, Answer>();
  const state: AuthorizationServer = {
    url: '',
    asked,
    tokens,
    lastClientAuth: undefined,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const form = await readForm(req);
      if (options.hang) return; // never answers: the gateway's timeout must end the wait
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const [id, secret] = basic
        ? Buffer.from(basic, 'base64')
            .toString()
            .split(':')
            .map((p) => decodeURIComponent(p))
        : [form.get('client_id'), form.get('client_secret')];
      state.lastClientAuth = basic ? 'basic' : 'post';
      if (id !== CLIENT_ID || secret !== CLIENT_SECRET || req.url !== '/introspect') {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_client' }));
        return;
      }
      const token = form.get('token') ?? '';
      asked.set(token, (asked.get(token) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(tokens.get(token) ?? { active: false }));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`;
  return state;
}

let dir: string;
let logFile: string;
const cleanup: Array<() => Promise<unknown>> = [];
const secrets: string[] = [CLIENT_SECRET];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-introspection-'));
  logFile = join(dir, 'gateway.log');
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});
afterAll(() => {
  // No token (nor the gateway's client secret) may appear in a log line.
  const log = readFileSync(logFile, 'utf8');
  expect(log).toContain('token introspection endpoint unavailable');
  for (const secret of secrets) expect(log).not.toContain(secret);
  rmSync(dir, { recursive: true, force: true });
});

function token(name: string): string {
  const value = `opaque-${name}-${Math.random().toString(36).slice(2)}`;
  secrets.push(value);
  return value;
}

async function startGateway(
  introspection: Partial<NonNullable<NonNullable<GatewayConfigInput['auth']>['introspection']>>,
  extra: Partial<GatewayConfigInput> = {},
) {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    auth: {
      required: true,
      introspection: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, ...introspection },
    },
    backends: { probe: probeStdio },
    ...extra,
  });
  const gateway = createGateway(config, {
    log: createLogger({ level: 'debug', destination: logFile }),
  });
  const { port } = await gateway.listen();
  cleanup.push(() => gateway.close());
  return { gateway, url: `http://127.0.0.1:${port}/mcp` };
}

/** An initialize with `bearer`: the status, the challenge and the JSON body. */
async function initializeWith(url: string, bearer: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: ACCEPT_JSON_AND_SSE,
      authorization: `Bearer ${bearer}`,
    },
    body: JSON.stringify(initializeRequest({ name: 'introspection' })),
  });
  const text = await res.text();
  const session = res.headers.get('mcp-session-id');
  if (session) {
    await fetch(url, {
      method: 'DELETE',
      headers: { 'mcp-session-id': session, authorization: `Bearer ${bearer}` },
    });
  }
  return {
    status: res.status,
    challenge: res.headers.get('www-authenticate'),
    retryAfter: res.headers.get('retry-after'),
    body: res.headers.get('content-type')?.includes('application/json')
      ? (JSON.parse(text) as { reason?: string; error?: { data?: { code?: string } } })
      : undefined,
  };
}

async function sdkClient(url: string, bearer: string): Promise<Client> {
  const client = new Client({ name: 'introspection-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${bearer}` } },
    }),
  );
  cleanup.push(() => client.close());
  return client;
}

describe('auth.introspection (RFC 7662)', () => {
  it('lets active tokens in, refuses inactive, expired and foreign ones, and keeps answers', async () => {
    const as = await startAuthorizationServer();
    cleanup.push(() => as.close());
    const { gateway, url } = await startGateway({
      url: as.url,
      audience: 'https://gw.test/mcp',
      clockToleranceSec: 0,
    });
    const good = token('good');
    const inactive = token('inactive');
    const expired = token('expired');
    const foreign = token('foreign');
    const service = token('service');
    as.tokens.set(good, {
      active: true,
      sub: 'alice',
      scope: 'mcp',
      aud: ['https://gw.test/mcp', 'other'],
      exp: now() + 600,
    });
    as.tokens.set(inactive, { active: false });
    as.tokens.set(expired, {
      active: true,
      sub: 'bob',
      aud: 'https://gw.test/mcp',
      exp: now() - 5,
    });
    as.tokens.set(foreign, {
      active: true,
      sub: 'carol',
      aud: 'https://elsewhere',
      exp: now() + 600,
    });
    // A client-credentials token names no user: client_id is the caller.
    as.tokens.set(service, { active: true, client_id: 'ci-bot', aud: 'https://gw.test/mcp' });

    expect((await initializeWith(url, good)).status).toBe(200);
    const client = await sdkClient(url, good);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('pid');
    expect(gateway.sessions().map((s) => s.caller.principal)).toContain('alice');
    // Three requests and an SDK session with the same token: the endpoint was asked once.
    expect(as.asked.get(good)).toBe(1);
    expect(as.lastClientAuth).toBe('basic');

    const refused = await initializeWith(url, inactive);
    expect(refused.status).toBe(401);
    expect(refused.body?.reason).toBe('invalid_token');
    expect(refused.challenge).toContain('error="invalid_token"');
    expect(refused.challenge).toContain('the token is not active');
    await initializeWith(url, inactive);
    expect(as.asked.get(inactive)).toBe(1); // the refusal is kept too

    expect((await initializeWith(url, expired)).body?.reason).toBe('expired');
    expect((await initializeWith(url, foreign)).body?.reason).toBe('wrong_audience');
    const bot = await sdkClient(url, service);
    await bot.ping();
    expect(gateway.sessions().map((s) => s.caller.principal)).toContain('ci-bot');
  });

  it('keeps an active answer no longer than the token lives, and sends the secret in the form with clientAuth post', async () => {
    const as = await startAuthorizationServer();
    cleanup.push(() => as.close());
    const { url } = await startGateway({
      url: as.url,
      clientAuth: 'post',
      cacheTtlMs: 60_000,
      clockToleranceSec: 0,
    });
    const brief = token('brief');
    const exp = now() + 4;
    as.tokens.set(brief, { active: true, sub: 'dave', exp });
    expect((await initializeWith(url, brief)).status).toBe(200);
    expect(as.lastClientAuth).toBe('post');
    await initializeWith(url, brief);
    expect(as.asked.get(brief)).toBe(1);
    // Past its exp the kept answer is gone: the endpoint is asked again, and the token refused.
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 + 200 - Date.now()));
    const after = await initializeWith(url, brief);
    expect(after.status).toBe(401);
    expect(after.body?.reason).toBe('expired');
    expect(as.asked.get(brief)).toBe(2);
  });

  it('checks per-tool scopes of introspected tokens against the authorization rules', async () => {
    const as = await startAuthorizationServer();
    cleanup.push(() => as.close());
    const { url } = await startGateway(
      { url: as.url },
      {
        authorization: {
          default: 'allow',
          rules: [
            { effect: 'allow', scopes: ['tools:pid'], tools: ['pid'] },
            { effect: 'deny', tools: ['pid'] },
          ],
        },
      },
    );
    const plain = token('plain');
    const scoped = token('scoped');
    as.tokens.set(plain, { active: true, sub: 'erin', scope: 'mcp' });
    as.tokens.set(scoped, { active: true, sub: 'frank', scope: 'mcp tools:pid' });
    const erin = await sdkClient(url, plain);
    expect((await erin.listTools()).tools.map((t) => t.name)).not.toContain('pid');
    await expect(erin.callTool({ name: 'pid', arguments: {} })).rejects.toThrow(/pid/);
    const frank = await sdkClient(url, scoped);
    const result = await frank.callTool({ name: 'pid', arguments: {} });
    expect((result.content as Array<{ text: string }>)[0]!.text).toMatch(/^\d+$/);
  });

  it('fails closed with 503 when the endpoint is down, refuses its client, or does not answer in time', async () => {
    const as = await startAuthorizationServer();
    const { url } = await startGateway({ url: as.url, timeoutMs: 300 });
    const good = token('down');
    as.tokens.set(good, { active: true, sub: 'gina' });
    await as.close();
    const down = await initializeWith(url, good);
    expect(down.status).toBe(503);
    expect(down.retryAfter).toBe('5');
    expect(down.challenge).toBeNull();
    expect(down.body).toMatchObject({
      reason: 'unavailable',
      error: { data: { code: 'GATEWAY_AUTH_UNAVAILABLE' } },
    });

    // The gateway's own client credentials refused: still 503 (the caller did nothing wrong).
    const strict = await startAuthorizationServer();
    cleanup.push(() => strict.close());
    const wrongClient = await startGateway({ url: strict.url, clientSecret: 'not-the-secret-1' });
    strict.tokens.set(good, { active: true, sub: 'gina' });
    expect((await initializeWith(wrongClient.url, good)).status).toBe(503);

    const hung = await startAuthorizationServer({ hang: true });
    cleanup.push(() => hung.close());
    const slow = await startGateway({ url: hung.url, timeoutMs: 300 });
    const timedOut = await initializeWith(slow.url, good);
    expect(timedOut.status).toBe(503);
    expect(timedOut.body?.error?.data?.code).toBe('GATEWAY_AUTH_UNAVAILABLE');
  });

  it('checks per-message tokens (WebSocket envelope auth_token) the same way, 503 included', async () => {
    const as = await startAuthorizationServer();
    const { url } = await startGateway({ url: as.url, negativeCacheMs: 0 });
    const good = token('ws-good');
    const dead = token('ws-dead');
    const late = token('ws-late');
    as.tokens.set(good, { active: true, sub: 'hana' });
    const socket = new WebSocket(url.replace('http', 'ws').replace('/mcp', '/ws'), {
      headers: { authorization: `Bearer ${good}` },
    });
    cleanup.push(async () => socket.close());
    type Payload = { id?: unknown; error?: { code: number; data?: { code?: string } } };
    const replies = new Map<unknown, Payload>();
    socket.on('message', (data) => {
      const payload = (JSON.parse(String(data)) as { mcp_payload?: Payload }).mcp_payload;
      if (payload?.id !== undefined) replies.set(payload.id, payload);
    });
    await new Promise((resolve) => socket.once('open', resolve));
    const send = (id: number, bearer: string) =>
      socket.send(
        JSON.stringify({
          id,
          timestamp: new Date().toISOString(),
          source: 'local-router',
          auth_token: bearer,
          mcp_payload:
            id === 1
              ? initializeRequest({ name: 'introspection-ws' })
              : { jsonrpc: '2.0', id, method: 'ping' },
        }),
      );
    const reply = async (id: number, bearer: string) => {
      send(id, bearer);
      await waitFor(() => replies.has(id), 5000, `the reply to ${id}`);
      return replies.get(id)!;
    };
    expect((await reply(1, good)).error).toBeUndefined();
    expect((await reply(2, good)).error).toBeUndefined();
    expect((await reply(3, dead)).error?.code).toBe(-32030);
    await as.close();
    const unavailable = await reply(4, late);
    expect(unavailable.error?.code).toBe(-32032);
    expect(unavailable.error?.data?.code).toBe('GATEWAY_AUTH_UNAVAILABLE');
  });

  it('names the exact path of a bad setting', () => {
    const parse = (introspection: Record<string, unknown>) => () =>
      parseConfig({
        auth: { introspection },
        backends: { probe: probeStdio },
      });
    expect(parse({ url: 'ftp://as', clientId: 'a', clientSecret: 'b' })).toThrow(
      /auth\.introspection\.url: expected a URL starting with http:\/\/ or https:\/\//,
    );
    expect(parse({ url: 'http://as', clientId: 'a' })).toThrow(
      /auth\.introspection\.clientSecret: /,
    );
    expect(
      parse({ url: 'http://as', clientId: 'a', clientSecret: 'b', clientAuth: 'jwt' }),
    ).toThrow(/auth\.introspection\.clientAuth: /);
    expect(parse({ url: 'http://as', clientId: 'a', clientSecret: 'b', timeoutMs: 10 })).toThrow(
      ConfigError,
    );
  });
});
