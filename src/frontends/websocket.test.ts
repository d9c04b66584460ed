import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { WebSocket } from 'ws';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import { isRequest } from '../core/jsonrpc.js';
import { GatewayError } from '../core/errors.js';
import type { ClientTransport } from '../session/session.js';
import type { OpenSession } from './types.js';
import { WebSocketFrontend } from './websocket.js';
import type { WebSocketFrontendOptions } from './websocket.js';
import { decode, detectDialect, encode, encodeError } from './websocket-dialects.js';
import { closeReason } from './websocket-session.js';
import type { WebSocketSessionTransport } from './websocket-session.js';
import { waitFor } from '../../test/helpers.js';

describe('WebSocket dialects', () => {
  const request = { jsonrpc: '2.0', id: 1, method: 'tools/list' } as const;

  it('tells the dialect from the first message, and nothing from one that fits none', () => {
    expect(detectDialect(request)).toBe('jsonrpc');
    expect(detectDialect({ type: 'create_session', client_id: 'c' })).toBe('control');
    expect(detectDialect({ type: 'attach_session', session_id: 's' })).toBe('control');
    expect(detectDialect({ id: 1, timestamp: 't', source: 's', mcp_payload: request })).toBe(
      'envelope',
    );
    expect(detectDialect({ id: 1, timestamp: 't', source: 's' })).toBe('envelope');
    expect(detectDialect({ hello: 'world' })).toBeUndefined();
    expect(detectDialect([request])).toBeUndefined();
    expect(detectDialect('text')).toBeUndefined();
  });

  it('reads envelopes, keeping the auth token apart; a refusal answers the JSON-RPC id it can read, in an envelope of the same id', () => {
    expect(decode('envelope', { id: 1, auth_token: 'secret', mcp_payload: request })).toEqual({
      kind: 'message',
      message: request,
      authToken: 'secret',
    });
    expect(decode('envelope', { id: 'e-1', source: 'r' })).toMatchObject({
      kind: 'invalid',
      id: null,
      envelopeId: 'e-1',
    });
    expect(decode('envelope', { id: 'e-2', mcp_payload: { id: 2 } })).toMatchObject({
      kind: 'invalid',
      id: 2,
      envelopeId: 'e-2',
    });
    // An id JSON-RPC does not allow (fuzz run, 1,000,000 inputs): null, not the envelope's.
    const fractional = { jsonrpc: '2.0', id: 1108336.5, method: 'tools/list' };
    expect(decode('envelope', { id: 1, mcp_payload: fractional })).toMatchObject({
      kind: 'invalid',
      id: null,
      envelopeId: 1,
    });
    expect(decode('envelope', { id: 'e-3', mcp_payload: [] })).toMatchObject({
      kind: 'invalid',
      id: null,
      envelopeId: 'e-3',
    });
  });

  it('reads control messages and bare JSON-RPC in the control dialect', () => {
    expect(decode('control', { type: 'create_session' })).toEqual({ kind: 'create' });
    expect(decode('control', { type: 'attach_session', session_id: 'abc' })).toEqual({
      kind: 'attach',
      sessionId: 'abc',
    });
    expect(decode('control', { type: 'attach_session' })).toEqual({
      kind: 'attach',
      sessionId: undefined,
    });
    expect(decode('control', { type: 'dance' })).toMatchObject({ kind: 'invalid', id: null });
    expect(decode('control', request)).toEqual({ kind: 'message', message: request });
  });

  it('writes each dialect', () => {
    const reply = { jsonrpc: '2.0' as const, id: 1, result: {} };
    expect(JSON.parse(encode('jsonrpc', reply))).toEqual(reply);
    expect(JSON.parse(encode('control', reply))).toEqual({ type: 'response', data: reply });
    const note = { jsonrpc: '2.0' as const, method: 'notifications/progress' };
    expect(JSON.parse(encode('control', note))).toEqual({ type: 'notification', data: note });
    expect(JSON.parse(encode('control', request))).toEqual({ type: 'request', data: request });
    const wrapped = JSON.parse(encode('envelope', reply));
    expect(wrapped).toMatchObject({ id: 1, source: 'gateway', mcp_payload: reply });
    expect(new Date(wrapped.timestamp).toISOString()).toBe(wrapped.timestamp);
    const parseError = {
      jsonrpc: '2.0' as const,
      id: null as never,
      error: { code: -32700, message: 'Parse error: x' },
    };
    expect(JSON.parse(encodeError('control', parseError))).toEqual({
      type: 'error',
      error: 'Parse error: x',
      code: -32700,
    });
    expect(JSON.parse(encodeError('jsonrpc', parseError))).toEqual(parseError);
  });

  it('cuts close reasons to 123 bytes on a character boundary', () => {
    expect(closeReason('short')).toBe('short');
    const cut = closeReason('é'.repeat(100));
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(123);
    expect(cut).toBe('é'.repeat(61));
  });
});

// ── the frontend, with a stand-in for the gateway's openSession ───────────────────────────

interface Opened {
  transport: WebSocketSessionTransport;
  received: JSONRPCMessage[];
  closedWith: string | undefined;
  tokenAtOpen: string | undefined;
}

interface Harness {
  url: string;
  frontend: WebSocketFrontend;
  opened: Opened[];
  logs: string[];
}

let cleanup: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/** A frontend on a real HTTP server; each session answers requests with `{ method }`. */
async function harness(
  extra: Partial<WebSocketFrontendOptions> & { gate?: Promise<void>; fail?: Error } = {},
): Promise<Harness> {
  const opened: Opened[] = [];
  const logs: string[] = [];
  const openSession: OpenSession = async (client: ClientTransport) => {
    const transport = client as WebSocketSessionTransport;
    const record: Opened = {
      transport,
      received: [],
      closedWith: undefined,
      tokenAtOpen: transport.lastAuthToken,
    };
    opened.push(record);
    await extra.gate;
    if (extra.fail) throw extra.fail;
    client.onmessage = (message) => {
      record.received.push(message);
      if (isRequest(message))
        void client.send({ jsonrpc: '2.0', id: message.id, result: { method: message.method } });
    };
    await client.start();
    return {
      id: transport.sessionId,
      inFlight: 0,
      principal: undefined,
      close: async (reason) => {
        record.closedWith ??= reason;
        await client.close();
      },
    };
  };
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  const frontend = new WebSocketFrontend({
    openSession,
    log,
    maxMessageBytes: 64 * 1024,
    maxDepth: 128,
    ...extra,
  });
  const server: Server = createServer();
  server.on('upgrade', (req, socket, head) => frontend.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(async () => {
    await frontend.close();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}/ws`, frontend, opened, logs };
}

interface Peer {
  socket: WebSocket;
  frames: unknown[];
  closed: Promise<{ code: number; reason: string }>;
}

async function connect(url: string, options: { autoPong?: boolean; protocols?: string[] } = {}) {
  const socket = new WebSocket(url, options.protocols ?? ['mcp'], {
    autoPong: options.autoPong ?? true,
  });
  const peer: Peer = {
    socket,
    frames: [],
    closed: new Promise((resolve) =>
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    ),
  };
  socket.on('message', (data) => peer.frames.push(JSON.parse(data.toString())));
  socket.on('error', () => {});
  cleanup.push(async () => {
    if (socket.readyState !== WebSocket.CLOSED) socket.terminate();
    await peer.closed;
  });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  return peer;
}

const call = (id: number, method = 'tools/list') => JSON.stringify({ jsonrpc: '2.0', id, method });

describe('WebSocketFrontend', () => {
  it('selects the mcp subprotocol when offered, and accepts clients that offer none', async () => {
    const h = await harness();
    expect((await connect(h.url)).socket.protocol).toBe('mcp');
    expect((await connect(h.url, { protocols: [] })).socket.protocol).toBe('');
    await waitFor(() => h.frontend.connectionCount === 2, 5000, 'two connections');
  });

  it('queues, in order, what arrives while the session is opening', async () => {
    let open!: () => void;
    const h = await harness({ gate: new Promise<void>((resolve) => (open = resolve)) });
    const peer = await connect(h.url);
    for (let id = 1; id <= 5; id++) peer.socket.send(call(id));
    await waitFor(() => h.opened.length === 1, 5000, 'the open to start');
    open();
    await waitFor(() => peer.frames.length === 5, 5000, 'five replies');
    expect(h.opened).toHaveLength(1);
    expect(h.opened[0]!.received.map((m) => (m as { id: number }).id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('answers the waiting requests and closes with 1011 when the session cannot open', async () => {
    const h = await harness({
      fail: new GatewayError(
        'GATEWAY_BACKEND_UNAVAILABLE',
        `x: ${'a very long reason '.repeat(20)}`,
      ),
    });
    const peer = await connect(h.url);
    peer.socket.send(call(1, 'initialize'));
    const closed = await peer.closed;
    expect(peer.frames).toEqual([
      expect.objectContaining({
        id: 1,
        error: expect.objectContaining({ data: { code: 'GATEWAY_BACKEND_UNAVAILABLE' } }),
      }),
    ]);
    expect(closed.code).toBe(1011);
    expect(closed.reason).toMatch(/^Backend unavailable/);
    expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
  });

  it('keeps the envelope auth token on the transport before the session opens, and out of the log', async () => {
    const h = await harness();
    const peer = await connect(h.url);
    const mcp_payload = JSON.parse(call(1));
    peer.socket.send(
      JSON.stringify({ id: 1, timestamp: 't', source: 'r', auth_token: 'tok-123', mcp_payload }),
    );
    await waitFor(() => peer.frames.length === 1, 5000, 'the reply');
    expect(h.opened[0]!.tokenAtOpen).toBe('tok-123');
    expect(h.opened[0]!.transport.lastAuthToken).toBe('tok-123');
    expect(h.logs.join('')).not.toContain('tok-123');
  });

  it('takes an envelope batch (a JSON array) item by item, each answered in its own envelope', async () => {
    const h = await harness();
    const peer = await connect(h.url);
    const envelope = (id: number) => ({
      id: `e-${id}`,
      timestamp: 't',
      source: 'r',
      mcp_payload: JSON.parse(call(id)),
    });
    peer.socket.send(JSON.stringify([envelope(1), envelope(2)]));
    await waitFor(() => peer.frames.length === 2, 5000, 'two replies');
    expect(peer.frames).toEqual([
      expect.objectContaining({
        source: 'gateway',
        mcp_payload: expect.objectContaining({ id: 1 }),
      }),
      expect.objectContaining({
        source: 'gateway',
        mcp_payload: expect.objectContaining({ id: 2 }),
      }),
    ]);
    expect(h.opened).toHaveLength(1);
  });

  it('ends a session whose connection closed while it was opening', async () => {
    let open!: () => void;
    const h = await harness({ gate: new Promise<void>((resolve) => (open = resolve)) });
    const peer = await connect(h.url);
    peer.socket.send(call(1));
    await waitFor(() => h.opened.length === 1, 5000, 'the open to start');
    peer.socket.close();
    await peer.closed;
    await waitFor(() => h.frontend.connectionCount === 0, 5000, 'the server to see the close');
    open();
    await waitFor(() => h.opened[0]!.closedWith !== undefined, 5000, 'the session to close');
    expect(h.opened[0]!.closedWith).toBe('client closed the connection');
  });

  it('leaves ws to close with 1007 on invalid UTF-8 in a text frame', async () => {
    const h = await harness();
    const peer = await connect(h.url);
    peer.socket.send(Buffer.from([0x22, 0xff, 0xfe, 0x22]), { binary: false });
    expect((await peer.closed).code).toBe(1007);
    expect(h.opened).toHaveLength(0);
  });

  it('ends a session when its connection closes', async () => {
    const h = await harness();
    const peer = await connect(h.url);
    peer.socket.send(call(1));
    await waitFor(() => peer.frames.length === 1, 5000, 'the reply');
    peer.socket.close(1000);
    await waitFor(() => h.opened[0]!.closedWith !== undefined, 5000, 'the session to close');
    expect(h.opened[0]!.closedWith).toBe('client closed the connection');
    expect(h.frontend.connectionCount).toBe(0);
  });

  it('closes a control session no connection reattached within the grace period', async () => {
    const h = await harness({ reattachGraceMs: 100 });
    const peer = await connect(h.url);
    peer.socket.send(JSON.stringify({ type: 'create_session' }));
    await waitFor(() => peer.frames.length === 1, 5000, 'session_created');
    const { session_id } = peer.frames[0] as { session_id: string };
    peer.socket.close();
    await waitFor(() => h.opened[0]!.closedWith !== undefined, 5000, 'the grace period to end');
    expect(h.opened[0]!.closedWith).toBe('no attach_session in time');

    const late = await connect(h.url);
    late.socket.send(JSON.stringify({ type: 'attach_session', session_id }));
    await waitFor(() => late.frames.length === 1, 5000, 'the answer');
    expect(late.frames[0]).toMatchObject({
      type: 'error',
      error: expect.stringContaining('not found'),
    });
  });

  it('keeps what a detached control session sends and delivers it, in order, on attach_session', async () => {
    const h = await harness();
    const first = await connect(h.url);
    first.socket.send(JSON.stringify({ type: 'create_session' }));
    await waitFor(() => first.frames.length === 1, 5000, 'session_created');
    const { session_id } = first.frames[0] as { session_id: string };
    first.socket.close();
    await first.closed;
    await waitFor(() => !h.opened[0]!.transport.isAttached, 5000, 'the detach');

    const { transport } = h.opened[0]!;
    for (let i = 1; i <= 3; i++)
      await transport.send({ jsonrpc: '2.0', method: 'notifications/message', params: { i } });

    const second = await connect(h.url);
    second.socket.send(JSON.stringify({ type: 'attach_session', session_id }));
    await waitFor(() => second.frames.length === 4, 5000, 'session_created and the backlog');
    expect(second.frames[0]).toEqual({ type: 'session_created', session_id, capabilities: {} });
    expect(
      second.frames.slice(1).map((f) => (f as { data: { params: { i: number } } }).data.params.i),
    ).toEqual([1, 2, 3]);
    expect(h.opened[0]!.closedWith).toBeUndefined();
  });

  it('moves a control session to the connection that attaches it, closing the old one', async () => {
    const h = await harness();
    const first = await connect(h.url);
    first.socket.send(JSON.stringify({ type: 'create_session' }));
    await waitFor(() => first.frames.length === 1, 5000, 'session_created');
    const { session_id } = first.frames[0] as { session_id: string };

    const second = await connect(h.url);
    second.socket.send(JSON.stringify({ type: 'attach_session', session_id }));
    expect((await first.closed).code).toBe(1000);
    second.socket.send(call(9));
    await waitFor(() => second.frames.length === 2, 5000, 'the reply on the new connection');
    expect(second.frames[1]).toMatchObject({ type: 'response', data: { id: 9 } });
    expect(h.opened).toHaveLength(1);
    expect(h.opened[0]!.closedWith).toBeUndefined();
  });

  it('drops a connection that stops answering pings, and keeps one that answers', async () => {
    const h = await harness({ pingIntervalMs: 50 });
    const deaf = await connect(h.url, { autoPong: false });
    const lively = await connect(h.url);
    const closed = await deaf.closed;
    expect(closed.code).toBe(1006);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lively.socket.readyState).toBe(WebSocket.OPEN);
    expect(h.frontend.connectionCount).toBe(1);
  });

  it('closes every connection with 1001 on shutdown and refuses new ones', async () => {
    const h = await harness();
    const idle = await connect(h.url);
    const busy = await connect(h.url);
    busy.socket.send(call(1));
    await waitFor(() => busy.frames.length === 1, 5000, 'the reply');
    await h.frontend.close();
    expect((await idle.closed).code).toBe(1001);
    expect((await busy.closed).code).toBe(1001);
    expect(h.opened[0]!.closedWith).toBe('gateway shutting down');
    expect(h.frontend.connectionCount).toBe(0);
    await expect(connect(h.url)).rejects.toThrow(/503/);
  });
});

describe('WebSocket batches', () => {
  const call = (id: number | string, method: string) => ({ jsonrpc: '2.0', id, method });

  it('reads a batch in every dialect and refuses an empty one, a bad member or an initialize whole', () => {
    const batch = [call(1, 'ping'), { jsonrpc: '2.0', method: 'notifications/x' }];
    expect(decode('jsonrpc', batch)).toEqual({ kind: 'batch', messages: batch, envelopeId: null });
    expect(decode('control', batch)).toMatchObject({ kind: 'batch', messages: batch });
    expect(decode('envelope', { id: 'e', auth_token: 't', mcp_payload: batch })).toEqual({
      kind: 'batch',
      messages: batch,
      envelopeId: 'e',
      authToken: 't',
    });
    expect(decode('jsonrpc', [])).toMatchObject({ kind: 'invalid', id: null, problem: /empty/ });
    expect(decode('jsonrpc', [call(1, 'ping'), { id: 2 }])).toMatchObject({
      kind: 'invalid',
      problem: /^batch\[1\]: /,
    });
    expect(decode('jsonrpc', [call(1, 'initialize')])).toMatchObject({
      kind: 'invalid',
      problem: 'initialize must be sent alone, not in a batch',
    });
    expect(decode('jsonrpc', [call(1, 'a'), call(1, 'b')])).toMatchObject({
      kind: 'invalid',
      problem: /two requests of the batch have the id 1/,
    });
  });

  it('answers a plain batch with one array of replies, in the order of the requests', async () => {
    const h = await harness();
    const peer = await connect(h.url);
    peer.socket.send(JSON.stringify([call(1, 'tools/list'), call('b', 'ping')]));
    await waitFor(() => peer.frames.length === 1, 5000, 'the batch reply');
    expect(peer.frames[0]).toEqual([
      { jsonrpc: '2.0', id: 1, result: { method: 'tools/list' } },
      { jsonrpc: '2.0', id: 'b', result: { method: 'ping' } },
    ]);
    // A lone message afterwards is answered alone, as before.
    peer.socket.send(JSON.stringify(call(3, 'ping')));
    await waitFor(() => peer.frames.length === 2, 5000, 'the single reply');
    expect(peer.frames[1]).toEqual({ jsonrpc: '2.0', id: 3, result: { method: 'ping' } });
  });

  it('answers an envelope batch in one envelope, and a control batch in one response', async () => {
    const h = await harness();
    const enveloped = await connect(h.url);
    enveloped.socket.send(
      JSON.stringify({
        id: 'env-7',
        timestamp: new Date().toISOString(),
        source: 'router',
        mcp_payload: [call(1, 'tools/list'), call(2, 'ping')],
      }),
    );
    await waitFor(() => enveloped.frames.length === 1, 5000, 'the envelope reply');
    expect(enveloped.frames[0]).toMatchObject({
      id: 'env-7',
      source: 'gateway',
      mcp_payload: [
        { id: 1, result: { method: 'tools/list' } },
        { id: 2, result: { method: 'ping' } },
      ],
    });

    const control = await connect(h.url);
    control.socket.send(JSON.stringify({ type: 'create_session' }));
    await waitFor(() => control.frames.length === 1, 5000, 'session_created');
    control.socket.send(JSON.stringify([call(1, 'ping'), call(2, 'tools/list')]));
    await waitFor(() => control.frames.length === 2, 5000, 'the control reply');
    expect(control.frames[1]).toEqual({
      type: 'response',
      data: [
        { jsonrpc: '2.0', id: 1, result: { method: 'ping' } },
        { jsonrpc: '2.0', id: 2, result: { method: 'tools/list' } },
      ],
    });
  });

  it('answers the requests of a batch whose session cannot start with one array of errors', async () => {
    const h = await harness({ fail: new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', 'down') });
    const peer = await connect(h.url);
    peer.socket.send(JSON.stringify([call(1, 'ping'), call(2, 'tools/list')]));
    await waitFor(() => peer.frames.length === 1, 5000, 'the errors');
    expect(peer.frames[0]).toMatchObject([
      { id: 1, error: { data: { code: 'GATEWAY_BACKEND_UNAVAILABLE' } } },
      { id: 2, error: { data: { code: 'GATEWAY_BACKEND_UNAVAILABLE' } } },
    ]);
    expect((await peer.closed).code).toBe(1011);
  });

  it('refuses a batch before create_session in the control dialect, and a bad batch whole', async () => {
    const h = await harness();
    const peer = await connect(h.url);
    peer.socket.send(JSON.stringify({ type: 'attach_session', session_id: 'nope' }));
    await waitFor(() => peer.frames.length === 1, 5000, 'the attach refusal');
    peer.socket.send(JSON.stringify([call(1, 'ping')]));
    await waitFor(() => peer.frames.length === 2, 5000, 'the batch refusal');
    expect(peer.frames[1]).toEqual({
      type: 'response',
      data: [
        {
          jsonrpc: '2.0',
          id: 1,
          error: expect.objectContaining({ data: { code: 'GATEWAY_SESSION_REQUIRED' } }),
        },
      ],
    });
    const plain = await connect(h.url);
    plain.socket.send('[]');
    await waitFor(() => plain.frames.length === 1, 5000, 'the empty-batch error');
    expect(plain.frames[0]).toMatchObject({ id: null, error: { code: -32600 } });
    expect(h.opened).toHaveLength(0);
  });
});
