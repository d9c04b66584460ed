import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  everythingStdio,
  fullCapabilities,
  isAlive,
  startGateway,
  waitFor,
  initializeRequest,
} from '../helpers.js';
import type { RunningGateway } from '../helpers.js';
import { text } from '../cases.js';
import { openRawSse } from '../frontend-helpers.js';
import type { JsonRpcReply, RawSse } from '../frontend-helpers.js';

/*
 * The legacy HTTP+SSE frontend (MCP 2024-11-05): the SDK's SSEClientTransport through GET /sse and
 * POST /messages to stdio server-everything; every bad POST with its status and JSON-RPC error;
 * the stream as the session's lifetime.
 */

async function connectSse(gw: RunningGateway): Promise<Client> {
  const client = new Client(
    { name: 'legacy-sse-test', version: '1' },
    { capabilities: fullCapabilities },
  );
  await client.connect(new SSEClientTransport(new URL('/sse', gw.url)));
  return client;
}

describe('legacy SSE: the SDK SSE client through /sse to stdio server-everything', () => {
  let gw: RunningGateway;
  let client: Client;

  beforeAll(async () => {
    gw = await startGateway(everythingStdio);
    client = await connectSse(gw);
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
  });

  it('opens an sse session on the gateway', () => {
    expect(gw.gateway.sessions().map((s) => s.transport)).toEqual(['sse']);
  });

  it('serves several clients at once, each with its own backend process', async () => {
    const second = await connectSse(gw);
    try {
      const sessions = gw.gateway.sessions();
      expect(sessions).toHaveLength(2);
      expect(new Set(sessions.map((s) => s.pid)).size).toBe(2);
      const [a, b] = await Promise.all([
        client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }),
        second.callTool({ name: 'get-sum', arguments: { a: 3, b: 4 } }),
      ]);
      expect(text(a)).toContain('3');
      expect(text(b)).toContain('7');
    } finally {
      await second.close();
    }
    await waitFor(() => gw.gateway.sessions().length === 1, 10_000, 'the second session to end');
  });
});

describe('legacy SSE: the stream is the session', () => {
  it('closing the stream ends the session and its backend process', async () => {
    const gw = await startGateway(everythingStdio);
    try {
      const client = await connectSse(gw);
      const [session] = gw.gateway.sessions();
      const pid = session!.pid!;
      expect(isAlive(pid)).toBe(true);
      await client.close();
      await waitFor(() => !isAlive(pid), 10_000, 'the backend process to exit');
      expect(gw.gateway.sessions()).toEqual([]);
    } finally {
      await gw.close();
    }
  });

  it('a gateway shutting down ends the open streams', async () => {
    const gw = await startGateway(everythingStdio);
    let stream: RawSse | undefined;
    try {
      stream = await openRawSse(new URL('/sse', gw.url));
      await stream.next((e) => e.event === 'endpoint', 'the endpoint event');
      const pid = gw.gateway.sessions()[0]!.pid!;
      await gw.close();
      await waitFor(() => stream!.ended, 5000, 'the stream to end');
      expect(isAlive(pid)).toBe(false);
    } finally {
      stream?.close();
      await gw.close();
    }
  });

  it('a backend that cannot start is a 502 with a JSON-RPC error, and no stream', async () => {
    const gw = await startGateway({ transport: 'stdio', command: '/nonexistent/mcp-server' });
    try {
      const stream = await openRawSse(new URL('/sse', gw.url));
      expect(stream.status).toBe(502);
      expect(stream.headers.get('content-type')).toBe('application/json');
      expect(JSON.parse(stream.body)).toMatchObject({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32010, data: { code: 'GATEWAY_BACKEND_UNAVAILABLE' } },
      });
      expect(gw.gateway.sessions()).toEqual([]);
    } finally {
      await gw.close();
    }
  });
});

describe('legacy SSE: bad input', () => {
  let gw: RunningGateway;
  let stream: RawSse;
  let endpoint: URL;

  beforeAll(async () => {
    gw = await startGateway(everythingStdio, {
      server: { host: '127.0.0.1', port: 0, path: '/mcp' },
      limits: { maxMessageBytes: 64 * 1024 },
    });
    stream = await openRawSse(new URL('/sse', gw.url));
    await waitFor(() => stream.events.length > 0, 10_000, 'the first event');
    expect(stream.events[0]!.event).toBe('endpoint');
    const event = await stream.next((e) => e.event === 'endpoint', 'the endpoint event');
    expect(event.data).toMatch(/^\/messages\?sessionId=[0-9a-f-]{36}$/);
    endpoint = new URL(event.data, gw.url);
  });
  afterAll(async () => {
    stream?.close();
    await gw?.close();
  });

  async function post(
    url: URL,
    body: string,
    type = 'application/json',
  ): Promise<{ status: number; body: string }> {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': type }, body });
    return { status: res.status, body: await res.text() };
  }

  /** The reply to request `id` as it arrives on the stream. */
  async function streamed(id: number): Promise<JsonRpcReply> {
    const event = await stream.next(
      (e) => e.event === 'message' && (JSON.parse(e.data) as { id?: unknown }).id === id,
      `the reply to ${id} on the stream`,
    );
    return JSON.parse(event.data) as JsonRpcReply;
  }

  it('sends the endpoint first and answers POSTs with 202 and no body; replies come on the stream', async () => {
    const init = await post(
      endpoint,
      JSON.stringify(initializeRequest({ id: 1, protocolVersion: '2025-06-18' })),
    );
    expect(init).toEqual({ status: 202, body: '' });
    expect((await streamed(1)).result).toMatchObject({ serverInfo: expect.anything() });

    const batch = await post(
      endpoint,
      JSON.stringify([
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
      ]),
    );
    expect(batch).toEqual({ status: 202, body: '' });
    expect((await streamed(2)).result?.tools).toEqual(expect.any(Array));
  });

  it('refuses a GET whose Accept does not admit text/event-stream with 406', async () => {
    const refused = await openRawSse(new URL('/sse', gw.url), 'application/json');
    expect(refused.status).toBe(406);
    expect(JSON.parse(refused.body)).toMatchObject({
      error: { code: -32600, data: { code: 'GATEWAY_NOT_ACCEPTABLE' } },
    });
  });

  const ping = JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'ping' });
  const big = JSON.stringify({
    jsonrpc: '2.0',
    id: 5,
    method: 'ping',
    params: { pad: 'x'.repeat(70_000) },
  });
  const unknown = '/messages?sessionId=00000000-0000-0000-0000-000000000000';
  const cases: Array<
    [string, number, number, string, () => Promise<{ status: number; body: string }>]
  > = [
    [
      'no sessionId',
      400,
      -32600,
      'GATEWAY_SESSION_REQUIRED',
      () => post(new URL('/messages', gw.url), ping),
    ],
    [
      'an unknown sessionId',
      404,
      -32001,
      'GATEWAY_SESSION_NOT_FOUND',
      () => post(new URL(unknown, gw.url), ping),
    ],
    [
      'a Content-Type other than application/json',
      415,
      -32600,
      'GATEWAY_UNSUPPORTED_MEDIA_TYPE',
      () => post(endpoint, ping, 'text/plain'),
    ],
    [
      'a body over maxMessageBytes',
      413,
      -32600,
      'GATEWAY_PAYLOAD_TOO_LARGE',
      () => post(endpoint, big),
    ],
    [
      'malformed JSON',
      400,
      -32700,
      'GATEWAY_PARSE_ERROR',
      () => post(endpoint, '{"jsonrpc": "2.0", "id": 1,'),
    ],
    [
      'JSON that is not JSON-RPC',
      400,
      -32600,
      'GATEWAY_INVALID_REQUEST',
      () => post(endpoint, '{"jsonrpc":"1.0","id":1,"method":"ping"}'),
    ],
    ['an empty batch', 400, -32600, 'GATEWAY_INVALID_REQUEST', () => post(endpoint, '[]')],
    [
      'a batch with one bad message',
      400,
      -32600,
      'GATEWAY_INVALID_REQUEST',
      () => post(endpoint, `[${ping}, {"jsonrpc":"2.0"}]`),
    ],
  ];

  it.each(cases)(
    'refuses %s with %i and JSON-RPC error %i (%s)',
    async (_name, status, rpc, code, send) => {
      const reply = await send();
      expect(reply.status).toBe(status);
      expect(JSON.parse(reply.body)).toMatchObject({
        jsonrpc: '2.0',
        // A message that is readable but wrong is answered under its id.
        id: _name === 'JSON that is not JSON-RPC' ? 1 : null,
        error: { code: rpc, data: { code } },
      });
    },
  );

  it('sends every progress notification of a call before its result, in order', async () => {
    const call = {
      jsonrpc: '2.0',
      id: 4,
      method: 'tools/call',
      params: {
        name: 'trigger-long-running-operation',
        arguments: { duration: 0.3, steps: 3 },
        _meta: { progressToken: 'p4' },
      },
    };
    expect(await post(endpoint, JSON.stringify(call))).toEqual({ status: 202, body: '' });
    const parsed = () =>
      stream.events.map(
        (e) =>
          JSON.parse(e.data) as {
            id?: unknown;
            params?: { progressToken?: string; progress?: number };
          },
      );
    await waitFor(() => parsed().some((m) => m.id === 4), 10_000, 'the result of the call');
    const upToResult = parsed().slice(
      0,
      parsed().findIndex((m) => m.id === 4),
    );
    const progress = upToResult
      .filter((m) => m.params?.progressToken === 'p4')
      .map((m) => m.params!.progress);
    expect(progress).toEqual([1, 2, 3]);
    await streamed(4);
  });

  it('keeps serving the session after all of that, and nothing refused reached the backend', async () => {
    expect(await post(endpoint, JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'ping' }))).toEqual(
      {
        status: 202,
        body: '',
      },
    );
    expect(await streamed(3)).toMatchObject({ id: 3, result: {} });
    expect(stream.events.filter((e) => e.data.includes('"id":99'))).toEqual([]);
  });

  it('answers 404 for the session once its stream has closed', async () => {
    const other = await openRawSse(new URL('/sse', gw.url));
    const event = await other.next((e) => e.event === 'endpoint', 'the endpoint event');
    other.close();
    await waitFor(() => gw.gateway.sessions().length === 1, 10_000, 'the session to end');
    const after = await post(new URL(event.data, gw.url), ping);
    expect(after.status).toBe(404);
    expect(JSON.parse(after.body)).toMatchObject({
      error: { data: { code: 'GATEWAY_SESSION_NOT_FOUND' } },
    });
  });
});
