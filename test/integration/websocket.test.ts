import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectClient, startGateway, waitFor } from '../helpers.js';
import { text } from '../cases.js';
import type { RunningGateway } from '../helpers.js';
import {
  RawClient,
  connectWsClient,
  initializeParams,
  within,
  wsUrl,
} from '../websocket-helpers.js';

/*
 * MCP over WebSocket, end to end against the real server-everything over stdio: the SDK client
 * on /ws, the seed systems' two envelope dialects on the wire, bad input, the backend dying, and
 * the WebSocket backend transport (a gateway serving another gateway's /ws).
 */

const initialize = (id: number | string) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: initializeParams,
});
const initialized = { jsonrpc: '2.0', method: 'notifications/initialized' };
const echo = (id: number | string, message: string) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'echo', arguments: { message } },
});

describe('WebSocket frontend → stdio server-everything', () => {
  let gw: RunningGateway;
  let url: string;

  beforeAll(async () => {
    gw = await startGateway();
    url = wsUrl(gw.url);
  });

  afterAll(async () => {
    await gw?.close();
  });

  it('speaks the envelope dialect: replies enveloped with source "gateway", a missing mcp_payload answered with -32600 in an envelope of its id', async () => {
    const ws = await RawClient.open(url);
    try {
      const envelope = (id: number, payload?: unknown) => ({
        id,
        timestamp: new Date().toISOString(),
        source: 'local-router',
        target_namespace: 'system',
        auth_token: 'not-checked-yet',
        ...(payload === undefined ? {} : { mcp_payload: payload }),
      });
      ws.send(envelope(1, initialize(1)));
      const reply = await ws.next();
      expect(reply).toMatchObject({
        id: 1,
        source: 'gateway',
        mcp_payload: { jsonrpc: '2.0', id: 1 },
      });
      expect(reply.mcp_payload.result.serverInfo).toBeDefined();
      expect(reply.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);

      ws.send(envelope(2));
      const missing = await ws.next();
      expect(missing).toMatchObject({ id: 2, source: 'gateway' });
      // No message, so no JSON-RPC id to answer (null); the envelope's id says what it answers.
      expect(missing.mcp_payload).toMatchObject({ id: null, error: { code: -32600 } });

      ws.send({ ...envelope(0, initialized), id: null });
      ws.send(envelope(3, echo(3, 'through an envelope')));
      const called = await ws.next((f) => f.id === 3);
      expect(called.mcp_payload.result.content[0].text).toContain('through an envelope');
    } finally {
      await ws.close();
    }
  });

  it('speaks the control dialect: create_session, a request, disconnect, attach_session within the grace period, the session still works', async () => {
    const first = await RawClient.open(url);
    let sessionId: string;
    try {
      first.send({ type: 'create_session', client_id: 'web-client', metadata: {} });
      const created = await first.next();
      expect(created).toMatchObject({ type: 'session_created', capabilities: {} });
      sessionId = created.session_id;
      expect(typeof sessionId).toBe('string');

      first.send(initialize('init'));
      expect(await first.next()).toMatchObject({ type: 'response', data: { id: 'init' } });
      first.send(initialized);
      first.send({ jsonrpc: '2.0', id: 'req-1', method: 'tools/list' });
      const listed = await first.next((f) => f.data?.id === 'req-1');
      expect(listed.type).toBe('response');
      expect(listed.data.result.tools.length).toBeGreaterThan(0);
    } finally {
      await first.close();
    }

    // The session outlives its connection.
    expect(gw.gateway.sessions().map((s) => s.id)).toContain(sessionId);

    const second = await RawClient.open(url);
    try {
      second.send({ type: 'attach_session', session_id: sessionId });
      expect(await second.next()).toEqual({
        type: 'session_created',
        session_id: sessionId,
        capabilities: {},
      });
      second.send(echo('req-2', 'after reattaching'));
      const called = await second.next((f) => f.data?.id === 'req-2');
      expect(called.type).toBe('response');
      expect(called.data.result.content[0].text).toContain('after reattaching');

      second.send({ type: 'attach_session', session_id: 'no-such-session' });
      expect(await second.next()).toMatchObject({ type: 'error', error: expect.any(String) });
    } finally {
      await second.close();
    }

    const stranger = await RawClient.open(url);
    try {
      stranger.send({ type: 'attach_session', session_id: 'no-such-session' });
      expect(await stranger.next()).toMatchObject({
        type: 'error',
        error: expect.stringContaining('not found'),
      });
    } finally {
      await stranger.close();
    }
  });

  it('answers invalid JSON with -32700 (id null) and stays usable', async () => {
    const ws = await RawClient.open(url);
    try {
      ws.socket.send('{"jsonrpc": "2.0", "id": 1, ');
      expect(await ws.next()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
      ws.send({ hello: 'world' });
      expect(await ws.next()).toMatchObject({ id: null, error: { code: -32600 } });

      ws.send(initialize(1));
      const reply = await ws.next();
      expect(reply).toMatchObject({ jsonrpc: '2.0', id: 1 });
      expect(reply.result.serverInfo).toBeDefined();

      ws.socket.send('not json either');
      expect(await ws.next()).toMatchObject({ id: null, error: { code: -32700 } });
      ws.send(initialized);
      ws.send(echo(2, 'still here'));
      expect((await ws.next((f) => f.id === 2)).result.content[0].text).toContain('still here');
    } finally {
      await ws.close();
    }
  });

  it('closes with 1003 on a binary frame', async () => {
    const ws = await RawClient.open(url);
    try {
      ws.socket.send(Buffer.from(JSON.stringify(initialize(1))), { binary: true });
      expect((await within(ws.closed, 5000, 'close after a binary frame')).code).toBe(1003);
    } finally {
      await ws.close();
    }
  });
});

describe('WebSocket frontend limits and ends', () => {
  it('closes with 1009 on a frame over maxMessageBytes and keeps serving others; closes with 1001 on shutdown', async () => {
    const gw = await startGateway(undefined, { limits: { maxMessageBytes: 1024 * 1024 } });
    const url = wsUrl(gw.url);
    let other: Client | undefined;
    let survivor: RawClient | undefined;
    try {
      const big = await RawClient.open(url);
      try {
        big.socket.send(JSON.stringify({ ...echo(1, 'x'.repeat(2 * 1024 * 1024)) }));
        expect((await within(big.closed, 5000, 'close after an oversized frame')).code).toBe(1009);
      } finally {
        await big.close();
      }

      other = await connectWsClient(url);
      expect((await other.listTools()).tools.length).toBeGreaterThan(0);

      survivor = await RawClient.open(url);
      survivor.send(initialize(1));
      await survivor.next();
      await gw.close();
      expect((await within(survivor.closed, 5000, 'close on shutdown')).code).toBe(1001);
    } finally {
      await other?.close();
      await survivor?.close();
      await gw.close();
    }
  });

  it('fails the call in flight promptly and closes with 1011 when the backend is killed', async () => {
    const gw = await startGateway();
    const ws = await RawClient.open(wsUrl(gw.url));
    try {
      ws.send(initialize(1));
      await ws.next();
      ws.send(initialized);
      ws.send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'trigger-long-running-operation', arguments: { duration: 60, steps: 60 } },
      });
      await waitFor(() => gw.gateway.sessions()[0]?.inFlight === 1, 5000, 'the call in flight');
      const pid = gw.gateway.sessions()[0]!.pid!;
      process.kill(pid, 'SIGKILL');

      const reply = await ws.next((f) => f.id === 2, 5000);
      expect(reply.error.data.code).toBe('GATEWAY_BACKEND_EXITED');
      expect(reply.error.message).toContain('SIGKILL');
      expect((await within(ws.closed, 5000, 'close after the backend died')).code).toBe(1011);
    } finally {
      await ws.close();
      await gw.close();
    }
  });
});

async function unusedPort(): Promise<number> {
  // Bound and released at once: only ever connected to, to see a refusal.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function postInitialize(url: URL) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(initialize(1)),
  });
  return {
    status: res.status,
    body: (await res.json()) as { error?: { message: string; data?: { code?: string } } },
  };
}

describe('WebSocket backend transport', () => {
  it('carries a Streamable HTTP client through gateway A to gateway B over WebSocket', async () => {
    const b = await startGateway();
    let a: RunningGateway | undefined;
    let client: Client | undefined;
    try {
      a = await startGateway({ url: wsUrl(b.url) });
      client = await connectClient(a.url);
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['echo', 'get-sum']));
      const result = await client.callTool({ name: 'echo', arguments: { message: 'A to B' } });
      expect(text(result)).toContain('A to B');
      expect(b.gateway.sessions().map((s) => s.transport)).toEqual(['websocket']);
    } finally {
      await client?.close();
      await a?.close();
      await b.close();
    }
  });

  it('answers initialize with 502 GATEWAY_BACKEND_UNAVAILABLE when nobody listens at the URL, over HTTP and over /ws', async () => {
    const port = await unusedPort();
    const gw = await startGateway({ url: `ws://127.0.0.1:${port}/ws` });
    try {
      const { status, body } = await postInitialize(gw.url);
      expect(status).toBe(502);
      expect(body.error?.data?.code).toBe('GATEWAY_BACKEND_UNAVAILABLE');

      const ws = await RawClient.open(wsUrl(gw.url));
      try {
        ws.send(initialize(7));
        const reply = await ws.next();
        expect(reply).toMatchObject({
          id: 7,
          error: { data: { code: 'GATEWAY_BACKEND_UNAVAILABLE' } },
        });
        const closed = await within(ws.closed, 5000, 'close after a failed open');
        expect(closed.code).toBe(1011);
        expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
      } finally {
        await ws.close();
      }
      expect(gw.gateway.sessions()).toEqual([]);
    } finally {
      await gw.close();
    }
  });

  it('names the HTTP status when the server refuses the upgrade', async () => {
    const b = await startGateway();
    const gw = await startGateway({ url: `ws://127.0.0.1:${b.url.port}/not-ws` });
    try {
      const { status, body } = await postInitialize(gw.url);
      expect(status).toBe(502);
      expect(body.error?.data?.code).toBe('GATEWAY_BACKEND_UNAVAILABLE');
      expect(body.error?.message).toContain('HTTP 404');
    } finally {
      await gw.close();
      await b.close();
    }
  });

  it('offers the mcp subprotocol with the configured headers, skips frames that are not JSON-RPC, and names the close code when the server goes', async () => {
    // A misbehaving server is the one thing the reference servers cannot play.
    const server = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      handleProtocols: (offered) => (offered.has('mcp') ? 'mcp' : false),
    });
    await once(server, 'listening');
    const seen: { protocol?: string; authorization?: string } = {};
    server.on('connection', (socket, req) => {
      seen.protocol = socket.protocol;
      seen.authorization = req.headers.authorization;
      socket.on('message', (data) => {
        const m = JSON.parse(data.toString());
        if (m.method === 'initialize') {
          socket.send('not json');
          socket.send(JSON.stringify({ hello: 'world' }));
          socket.send(
            JSON.stringify({
              jsonrpc: '2.0',
              id: m.id,
              result: {
                protocolVersion: m.params.protocolVersion,
                capabilities: { tools: {} },
                serverInfo: { name: 'flaky', version: '1' },
              },
            }),
          );
        } else if (m.method === 'tools/list') {
          socket.close(4000, 'going away');
        }
      });
    });
    const { port } = server.address() as AddressInfo;
    let gw: RunningGateway | undefined;
    let client: Client | undefined;
    try {
      gw = await startGateway({
        url: `ws://127.0.0.1:${port}/`,
        headers: { authorization: 'Bearer test-token' },
      });
      client = await connectClient(gw.url);
      expect(seen).toEqual({ protocol: 'mcp', authorization: 'Bearer test-token' });
      await expect(client.listTools()).rejects.toThrow(/code 4000: going away/);
    } finally {
      await client?.close();
      await gw?.close();
      for (const socket of server.clients) socket.terminate();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
