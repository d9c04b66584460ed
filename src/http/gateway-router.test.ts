import { createServer, request } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/schema.js';
import type { GatewayConfigInput } from '../config/schema.js';
import { createLogger } from '../core/logger.js';
import type { PeerInfo } from '../frontends/types.js';
import { Authenticator } from '../auth/authenticator.js';
import { HttpGuard } from '../auth/http-guard.js';
import type { Endpoint } from './endpoints.js';
import { createGatewayRouter } from './gateway-router.js';

/*
 * The gateway listener's routing over a real socket, with stand-in endpoints: what each path
 * and method gets, and that every refusal, upgrades included, is a valid HTTP response with the
 * JSON error body.
 */

const KEY = 'unit-test-api-key-0123456789';
const accepted = new WebSocketServer({ noServer: true });

/** An endpoint whose handlers say who answered, and for which caller when there is one. */
function endpoint(name: string, fail?: Error): Endpoint {
  type Handler = (req: IncomingMessage, res: ServerResponse, peer?: PeerInfo) => void;
  const answer =
    (what: string): Handler =>
    (_req, res, peer) => {
      if (fail) throw fail;
      res.end(`${name} ${what}${peer?.principal ? ` for ${peer.principal.id}` : ''}`);
    };
  const later =
    (handler: Handler) =>
    async (req: IncomingMessage, res: ServerResponse, peer?: PeerInfo): Promise<void> =>
      handler(req, res, peer);
  return {
    mcp: { handle: later(answer('mcp')) },
    sse: {
      handleStream: answer('sse'),
      handleMessage: later(answer('messages')),
    },
    ws: {
      handleUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) =>
        accepted.handleUpgrade(req, socket, head, (ws) => ws.close(1000, name)),
    },
  } as unknown as Endpoint;
}

interface Options {
  server?: GatewayConfigInput['server'];
  auth?: boolean;
  fail?: Error;
}

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function start(options: Options = {}): Promise<string> {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0, ...options.server },
    backends: { one: { command: 'true' } },
  });
  const router = createGatewayRouter({
    config,
    log: createLogger({ level: 'silent' }),
    guard: new HttpGuard({
      authenticator: options.auth ? new Authenticator({ apiKeys: [KEY] }) : undefined,
      required: options.auth ?? false,
      requiredScopes: [],
      allowedHosts: ['127.0.0.1', 'localhost'],
      allowedOrigins: [],
      authorizationServers: [],
      scopesSupported: [],
      securityContact: 'mailto:security@example.com',
    }),
    root: endpoint('root', options.fail),
    endpointOf: (name) => (name === 'one' ? endpoint('one') : undefined),
    ops: {
      ready: () => ({ ready: true, reasons: [] }),
      backends: () => [],
      stats: () => ({ sessions: 0 }),
    },
  });
  const server = createServer(router.request);
  server.on('upgrade', router.upgrade);
  server.on('clientError', router.clientError);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stops.push(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface ErrorBody {
  jsonrpc: string;
  id: null;
  error: { code: number; message: string; data: { code: string } };
}

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

function errorOf(text: string): ErrorBody {
  return JSON.parse(text) as ErrorBody;
}

/** A WebSocket client's upgrade: 101, or the refusal's status, headers and body as `ws` saw them. */
function upgrade(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingMessage['headers']; text: string; reason?: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url.replace('http', 'ws'), { headers });
    socket.once('close', (_code, reason) =>
      resolve({ status: 101, headers: {}, text: '', reason: String(reason) }),
    );
    socket.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    socket.once('error', (error) => {
      if (!String(error.message).startsWith('Unexpected server response')) reject(error);
    });
  });
}

describe('the gateway route table', () => {
  it('answers an unknown path with 404 and the JSON-RPC error body', async () => {
    const base = await start();
    const reply = await call(`${base}/nope`);
    expect(reply.status).toBe(404);
    expect(reply.headers.get('content-type')).toBe('application/json');
    expect(errorOf(reply.text)).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: {
        code: -32601,
        message: 'Not found: no endpoint at GET /nope',
        data: { code: 'GATEWAY_NOT_FOUND' },
      },
    });
  });

  it('answers a known path with another method with 405, Allow and the JSON body', async () => {
    const base = await start();
    for (const [method, path, allow] of [
      ['PUT', '/mcp', 'GET, POST, DELETE'],
      ['OPTIONS', '/mcp', 'GET, POST, DELETE'],
      ['POST', '/healthz', 'GET, HEAD'],
      ['DELETE', '/sse', 'GET'],
      ['GET', '/messages', 'POST'],
      ['PUT', '/servers/one/mcp', 'GET, POST, DELETE'],
    ] as const) {
      const reply = await call(`${base}${path}`, { method });
      expect(reply.status, `${method} ${path}`).toBe(405);
      expect(reply.headers.get('allow')).toBe(allow);
      expect(errorOf(reply.text).error.data.code).toBe('GATEWAY_METHOD_NOT_ALLOWED');
    }
    expect((await call(`${base}/healthz`, { method: 'HEAD' })).status).toBe(200);
  });

  it('serves each endpoint path, and answers an unknown backend with GATEWAY_BACKEND_DISABLED', async () => {
    const base = await start();
    expect((await call(`${base}/mcp`, { method: 'POST' })).text).toBe('root mcp');
    expect((await call(`${base}/sse`)).text).toBe('root sse');
    expect((await call(`${base}/messages?sessionId=x`, { method: 'POST' })).text).toBe(
      'root messages',
    );
    expect((await call(`${base}/servers/one/sse`)).text).toBe('one sse');
    const unknown = await call(`${base}/servers/nope/mcp`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown.text).error).toMatchObject({
      code: -32016,
      message: 'Backend not served: no enabled backend named nope',
      data: { code: 'GATEWAY_BACKEND_DISABLED' },
    });
    expect(JSON.parse((await call(`${base}/healthz`)).text)).toEqual({ status: 'ok' });
  });

  it('has no route for a transport that is off, and serves the configured path', async () => {
    const base = await start({ server: { path: '/rpc', sse: false, websocket: false } });
    expect((await call(`${base}/rpc`, { method: 'POST' })).text).toBe('root mcp');
    expect((await call(`${base}/mcp`, { method: 'POST' })).status).toBe(404);
    expect((await call(`${base}/sse`)).status).toBe(404);
    expect((await call(`${base}/servers/one/messages`, { method: 'POST' })).status).toBe(404);
    expect((await upgrade(`${base}/ws`)).status).toBe(404);
  });

  it("answers an error that is not the gateway's with 500 and a message that says nothing of it", async () => {
    const base = await start({ fail: new Error('secret detail at /srv/app.js:12') });
    const reply = await call(`${base}/sse`);
    expect(reply.status).toBe(500);
    expect(errorOf(reply.text).error).toMatchObject({
      message: 'Internal error',
      data: { code: 'GATEWAY_INTERNAL' },
    });
    expect(reply.text).not.toContain('secret');
  });
});

describe('upgrades', () => {
  it('accepts an upgrade on the WebSocket paths', async () => {
    const base = await start();
    expect(await upgrade(`${base}/ws`)).toMatchObject({ status: 101, reason: 'root' });
    expect(await upgrade(`${base}/servers/one/ws`)).toMatchObject({ status: 101, reason: 'one' });
  });

  it('refuses an unknown path or backend with a valid HTTP response and the JSON body', async () => {
    const base = await start();
    for (const [path, code] of [
      ['/nope', 'GATEWAY_NOT_FOUND'],
      ['/mcp', 'GATEWAY_NOT_FOUND'],
      ['/servers/nope/ws', 'GATEWAY_BACKEND_DISABLED'],
    ] as const) {
      const reply = await upgrade(`${base}${path}`);
      expect(reply.status, path).toBe(404);
      expect(reply.headers['content-type']).toBe('application/json');
      expect(reply.headers['connection']).toBe('close');
      expect(Number(reply.headers['content-length'])).toBe(Buffer.byteLength(reply.text));
      expect(errorOf(reply.text).error.data.code).toBe(code);
    }
  });

  it('refuses a foreign Host with 403 and the JSON body (node:http client)', async () => {
    const base = await start();
    const reply = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${base}/ws`, {
        headers: {
          host: 'evil.example',
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
      });
      req.once('upgrade', () => reject(new Error('upgraded')));
      req.once('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += String(chunk)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.once('error', reject);
      req.end();
    });
    expect(reply.status).toBe(403);
    expect(errorOf(reply.text).error).toMatchObject({
      message: 'Forbidden: Host "evil.example" is not served here',
      data: { code: 'GATEWAY_FORBIDDEN' },
    });
  });

  it('refuses a missing credential with 401, the challenge and the JSON body', async () => {
    const base = await start({ auth: true });
    const reply = await upgrade(`${base}/ws`);
    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toMatch(/^Bearer resource_metadata=".*\/ws"$/);
    expect(errorOf(reply.text).error.data.code).toBe('GATEWAY_UNAUTHORIZED');
    expect(await upgrade(`${base}/ws`, { 'x-api-key': KEY })).toMatchObject({ status: 101 });
  });
});

describe('the caller', () => {
  // The principal reached the frontends through a WeakMap keyed on the request.
  it('hands the authenticated caller to the endpoint with the request', async () => {
    const base = await start({ auth: true });
    const reply = await call(`${base}/mcp`, { method: 'POST', headers: { 'x-api-key': KEY } });
    expect(reply.text).toMatch(/^root mcp for key-[0-9a-f]{8}$/);
    const open = await call(`${base}/healthz`);
    expect(open.status).toBe(200);
  });
});

describe('malformed requests', () => {
  it('answers bytes that are not HTTP with 400 and the JSON body', async () => {
    const base = await start();
    const { port } = new URL(base);
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('NOT HTTP\r\n\r\n'));
      let data = '';
      socket.on('data', (chunk) => (data += String(chunk)));
      socket.once('end', () => resolve(data));
      socket.once('error', reject);
    });
    const [head, body] = text.split('\r\n\r\n') as [string, string];
    const lines = head.split('\r\n');
    expect(lines[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(lines).toContain('content-type: application/json');
    expect(lines).toContain(`content-length: ${Buffer.byteLength(body)}`);
    expect(errorOf(body).error.data.code).toBe('GATEWAY_INVALID_REQUEST');
  });
});
