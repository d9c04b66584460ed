import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { connect as tlsConnect } from 'node:tls';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { WebSocket } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createGateway, parseConfig } from '../../src/index.js';
import type { Gateway, GatewayConfigInput, Policy, Principal } from '../../src/index.js';
import { createLogger } from '../../src/core/logger.js';
import { FIXTURES, initializeRequest, ACCEPT_JSON_AND_SSE as ACCEPT } from '../helpers.js';
import { certificates } from '../tls-helpers.js';
import type { Identity } from '../tls-helpers.js';

/*
 * HTTPS, WSS and mutual TLS with real certificates: a throwaway CA made with openssl signs the
 * server's certificate (SAN 127.0.0.1) and the clients'; a second CA signs an impostor. Clients
 * are the SDK's Streamable HTTP client (over a node:https fetch carrying the client
 * certificate), raw node:https and node:tls, and `ws`.
 */

const probe = {
  command: process.execPath,
  args: [join(FIXTURES, 'probe-server.mjs')],
  killGraceMs: 300,
};
const KEY = 'tls-test-api-key-0123';

let dir: string;
let ca: string;
let server: Identity;
let alice: Identity;
let bob: Identity;
let impostor: Identity;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-tls-'));
  const { ca: makeCa, issue } = certificates(dir);
  makeCa('ca');
  makeCa('rogue-ca');
  ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
  server = issue(
    'server',
    '/CN=127.0.0.1',
    'ca',
    'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth',
  );
  alice = issue('alice', '/O=Example/CN=alice', 'ca', 'extendedKeyUsage=clientAuth');
  bob = issue('bob', '/O=Example/CN=bob', 'ca', 'extendedKeyUsage=clientAuth');
  impostor = issue('impostor', '/O=Example/CN=alice', 'rogue-ca', 'extendedKeyUsage=clientAuth');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await Promise.resolve(step()).catch(() => {});
});

type Tls = NonNullable<NonNullable<GatewayConfigInput['server']>['tls']>;

/** A gateway over TLS (files given by path) whose policy records each request's principal. */
async function start(tls: Partial<Tls>, auth: GatewayConfigInput['auth'] = {}) {
  const seen: Array<{ method: string; principal: Principal | undefined }> = [];
  const record: Policy = async (ctx, next) => {
    seen.push({ method: ctx.message.method, principal: ctx.principal });
    return next();
  };
  const config = parseConfig({
    server: {
      host: '127.0.0.1',
      port: 0,
      tls: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), ...tls },
    },
    auth,
    backends: { probe },
  });
  const gateway: Gateway = createGateway(config, {
    log: createLogger({ level: (process.env.MCP_BRIDGE_TEST_LOG as 'debug') ?? 'silent' }),
    policies: [record],
  });
  const { port } = await gateway.listen();
  cleanup.push(() => gateway.close());
  return { gateway, port, seen };
}

/** fetch over node:https, so that the SDK client can present a client certificate. */
function httpsFetch(agent: Agent): FetchLike {
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const req = httpsRequest(
        new URL(url),
        {
          method: init?.method ?? 'GET',
          headers: Object.fromEntries(new Headers(init?.headers)),
          agent,
          signal: init?.signal ?? undefined,
        },
        (res) => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers))
            for (const v of [value ?? []].flat()) headers.append(name, v);
          const status = res.statusCode ?? 0;
          const body = [204, 205, 304].includes(status)
            ? null
            : (Readable.toWeb(res) as WebReadableStream<Uint8Array> as ReadableStream<Uint8Array>);
          resolve(new Response(body, { status, headers }));
        },
      );
      req.on('error', reject);
      req.end(typeof init?.body === 'string' ? init.body : undefined);
    });
}

/** The SDK client over HTTPS, presenting `identity` if given. */
async function sdkClient(port: number, identity?: Identity): Promise<Client> {
  const agent = new Agent({ ca, ...identity, keepAlive: true });
  const client = new Client({ name: 'tls-test', version: '1.0.0' }, { capabilities: {} });
  cleanup.push(() => agent.destroy());
  cleanup.push(() => client.close());
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`https://127.0.0.1:${port}/mcp`), {
      fetch: httpsFetch(agent),
    }),
  );
  return client;
}

const initialize = JSON.stringify(initializeRequest({ name: 'tls-raw' }));

/** One POST on a fresh connection: the status, the session id and the body, or the TLS error. */
function post(
  port: number,
  identity: Identity | undefined,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; session: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/mcp',
        method: 'POST',
        ca,
        ...identity,
        agent: false,
        headers: { 'content-type': 'application/json', accept: ACCEPT, ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            session: res.headers['mcp-session-id'] as string | undefined,
            text,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A WSS handshake and an initialize: the reply's id, or the error that stopped it. */
function wss(port: number, identity?: Identity): Promise<{ id?: unknown; error?: string }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`wss://127.0.0.1:${port}/ws`, 'mcp', { ca, ...identity });
    cleanup.push(() => socket.terminate());
    socket.once('open', () => socket.send(initialize));
    socket.once('message', (data) => {
      resolve({ id: (JSON.parse(data.toString()) as { id: unknown }).id });
      socket.close();
    });
    socket.once('unexpected-response', (_req, res) => resolve({ error: `HTTP ${res.statusCode}` }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      resolve({ error: error.code ?? error.message }),
    );
  });
}

/**
 * A bare TLS connection that sends nothing: whether the client's side of the handshake finished,
 * and the error that ended it (`closed` for a close without one; none when the server kept
 * it open for a second).
 */
function handshake(
  port: number,
  identity: Identity | undefined,
  maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3',
): Promise<{ secured: boolean; error?: string }> {
  return new Promise((resolve) => {
    let secured = false;
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, ...identity, maxVersion });
    cleanup.push(() => socket.destroy());
    const timer = setTimeout(() => resolve({ secured }), 1000);
    cleanup.push(() => clearTimeout(timer));
    socket.once('secureConnect', () => {
      secured = true;
      socket.resume(); // read, so that an alert after the handshake is seen
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ secured, error: 'closed' });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ secured, error: error.code ?? error.message });
    });
  });
}

const ping = (id: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' });

const toolNames = async (client: Client) =>
  (await client.listTools()).tools.map((t) => t.name).sort();

describe('HTTPS and WSS', () => {
  it('serves the SDK client and WSS with the certificate and key read from files', async () => {
    const { port, seen } = await start({});
    const client = await sdkClient(port);
    expect(await toolNames(client)).toContain('pid');
    // No CA configured: no client certificate is asked for, and there is no principal.
    expect(seen.find((s) => s.method === 'tools/list')?.principal).toBeUndefined();
    expect(await wss(port)).toEqual({ id: 1 });
  });

  it('takes the certificate and key as PEM text too', async () => {
    const { port } = await start({ cert: server.cert, key: server.key });
    expect((await post(port, undefined, initialize)).status).toBe(200);
  });

  it('refuses a client that offers only TLS 1.2 when minVersion is TLSv1.3', async () => {
    const { port } = await start({ minVersion: 'TLSv1.3' });
    const attempt = (maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
      new Promise<string>((resolve) => {
        const socket = tlsConnect({ host: '127.0.0.1', port, ca, maxVersion });
        cleanup.push(() => socket.destroy());
        socket.once('secureConnect', () => {
          resolve(socket.getProtocol() ?? 'none');
          socket.end();
        });
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? ''));
      });
    expect(await attempt('TLSv1.2')).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    expect(await attempt('TLSv1.3')).toBe('TLSv1.3');
  });

  it('names the setting whose file cannot be read, before listening', () => {
    const make = (tls: Partial<Tls>) => () =>
      createGateway(
        parseConfig({
          server: {
            port: 0,
            tls: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), ...tls },
          },
          backends: { probe },
        }),
        { log: createLogger({ level: 'silent' }) },
      );
    const problems = (tls: Partial<Tls>) => {
      try {
        make(tls)();
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).problems;
      }
      return [];
    };
    const missing = join(dir, 'missing.pem');
    expect(problems({ cert: missing })).toEqual([
      expect.stringMatching(new RegExp(`^server\\.tls\\.cert: cannot read ${missing}: ENOENT`)),
    ]);
    expect(problems({ key: missing })[0]).toMatch(/^server\.tls\.key: cannot read /);
    expect(problems({ ca: missing })[0]).toMatch(/^server\.tls\.ca: cannot read /);
    expect(problems({ requireClientCert: true })).toEqual([
      'server.tls.ca: expected the CA that client certificates must chain to (requireClientCert is set)',
    ]);
    // A key that is not the certificate's.
    expect(problems({ key: join(dir, 'alice.key') })[0]).toMatch(
      /^server\.tls: .*key values mismatch/,
    );
  });
  it('makes the CLI exit 1 naming the setting, before listening', () => {
    const file = join(dir, 'bad-tls.json');
    const missing = join(dir, 'missing.pem');
    writeFileSync(
      file,
      JSON.stringify({
        server: { port: 0, tls: { cert: missing, key: join(dir, 'server.key') } },
        admin: { enabled: false },
        backends: { probe },
      }),
    );
    const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
    const run = spawnSync(process.execPath, [cli, '--config', file], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(`^mcp-bridge: server\\.tls\\.cert: cannot read ${missing}: ENOENT`),
    );
  });
});

describe('mutual TLS (requireClientCert)', () => {
  const required = () => ({ ca: join(dir, 'ca.pem'), requireClientCert: true });

  it('refuses a client without a certificate, or with one from another CA, at the TLS level', async () => {
    const { gateway, port, seen } = await start(required());
    // No certificate: under TLS 1.2 the handshake itself fails; TLS 1.3 lets the client finish
    // its side first, then the server's alert ends the connection. A certificate from another CA:
    // Node's server ends the connection as soon as the handshake is over, before reading anything.
    expect(await handshake(port, undefined, 'TLSv1.2')).toEqual({
      secured: false,
      error: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
    });
    expect(await handshake(port, undefined)).toEqual({
      secured: true,
      error: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    });
    expect(await handshake(port, impostor)).toEqual({ secured: true, error: 'closed' });
    // Real clients: the request fails (the alert, or a reset when the request was already sent).
    const refused = /^(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET)$/;
    await expect(post(port, undefined, initialize)).rejects.toMatchObject({ code: refused });
    await expect(post(port, impostor, initialize)).rejects.toMatchObject({ code: refused });
    await expect(sdkClient(port)).rejects.toThrow();
    expect((await wss(port)).error).toMatch(refused);
    expect((await wss(port, impostor)).error).toMatch(refused);
    // Nothing reached the gateway's handlers, let alone a backend.
    expect(gateway.sessions()).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('makes the certificate subject the principal: tools/list over the SDK client and WSS', async () => {
    const { port, seen } = await start(required());
    const client = await sdkClient(port, alice);
    expect(await toolNames(client)).toContain('pid');
    const principal = seen.find((s) => s.method === 'tools/list')?.principal;
    expect(principal).toEqual({
      id: 'CN=alice',
      scopes: ['*'],
      claims: {
        subject: 'O=Example, CN=alice',
        issuer: 'CN=ca',
        fingerprint256: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
      },
    });
    expect(await wss(port, bob)).toEqual({ id: 1 });
    expect(seen.at(-1)).toMatchObject({ method: 'initialize', principal: { id: 'CN=bob' } });
  });

  it('binds a session to its certificate: another certificate cannot use it', async () => {
    const { port } = await start(required());
    const opened = await post(port, alice, initialize);
    expect(opened.status).toBe(200);
    const session = { 'mcp-session-id': opened.session! };
    const hijack = await post(port, bob, ping(2), session);
    expect(hijack.status).toBe(403);
    expect(hijack.text).toContain('this session belongs to another caller');
    expect((await post(port, alice, ping(3), session)).status).toBe(200);
  });

  it('counts a certificate as credentials when auth is required; a key sent with it is checked instead', async () => {
    const { port, seen } = await start(required(), { required: true, apiKeys: [KEY] });
    expect((await post(port, alice, initialize)).status).toBe(200);
    expect(seen.at(-1)?.principal?.id).toBe('CN=alice');
    expect((await post(port, alice, initialize, { 'x-api-key': 'wrong-key-000000' })).status).toBe(
      401,
    );
    expect((await post(port, alice, initialize, { 'x-api-key': KEY })).status).toBe(200);
    expect(seen.at(-1)?.principal?.id).toMatch(/^key-/);
  });
});

describe('optional client certificates (a CA without requireClientCert)', () => {
  it('uses a valid certificate, and treats none or a foreign one as no certificate', async () => {
    const { port, seen } = await start({ ca: join(dir, 'ca.pem') });
    const opened = await post(port, alice, initialize);
    expect(seen.at(-1)?.principal?.id).toBe('CN=alice');
    const session = { 'mcp-session-id': opened.session! };
    // Without a certificate the caller is anonymous, so alice's session is not theirs.
    expect((await post(port, undefined, ping(2), session)).status).toBe(403);
    expect((await post(port, impostor, ping(3), session)).status).toBe(403);
    expect((await post(port, undefined, initialize)).status).toBe(200);
    expect(seen.at(-1)?.principal).toBeUndefined();
  });
});
