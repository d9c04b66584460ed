import { connect } from 'node:net';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  everythingStdio,
  startGateway,
  initializeRequest,
  ACCEPT_JSON_AND_SSE as ACCEPT,
} from '../helpers.js';
import type { RunningGateway } from '../helpers.js';
import { openRawSse } from '../frontend-helpers.js';

/*
 * Bad input on the Streamable HTTP surface: each case gets its precise HTTP status and a JSON-RPC
 * error body naming the problem, and the gateway keeps serving everyone else.
 */

const initialize = initializeRequest({ name: 'raw' });

interface Reply {
  status: number;
  headers: Headers;
  body: {
    jsonrpc?: string;
    id?: unknown;
    error?: { code: number; message: string; data?: { code?: string } };
  };
}

async function call(url: URL, init: RequestInit): Promise<Reply> {
  const res = await fetch(url, init);
  const raw = await res.text();
  if (res.headers.get('content-type') === 'text/event-stream') {
    // A POST may be answered with a stream; its replies are the events that carry an id.
    const events = raw
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)) as { id?: unknown; method?: string });
    const replies = events.filter((e) => e.method === undefined);
    return { status: res.status, headers: res.headers, body: replies as Reply['body'] };
  }
  return { status: res.status, headers: res.headers, body: raw ? JSON.parse(raw) : {} };
}

function post(
  url: URL,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return call(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT, ...headers },
    body,
  });
}

/**
 * A client that writes a whole body before it reads (as curl or Python's requests do) over a
 * raw socket: what it read, and the socket errors it met while writing.
 */
function sendWholeBody(
  url: URL,
  head: string,
  size: number,
  chunked: boolean,
): Promise<{ received: string; errors: string[] }> {
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), '127.0.0.1');
    let received = '';
    const errors: string[] = [];
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
    socket.on('close', () => resolve({ received, errors }));
    socket.write(
      head + (chunked ? 'transfer-encoding: chunked\r\n\r\n' : `content-length: ${size}\r\n\r\n`),
    );
    const piece = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += piece.length;
        const data = chunked
          ? Buffer.concat([
              Buffer.from(`${piece.length.toString(16)}\r\n`),
              piece,
              Buffer.from('\r\n'),
            ])
          : piece;
        if (!socket.write(data)) return void socket.once('drain', pump);
      }
      if (chunked) socket.write('0\r\n\r\n');
    };
    pump();
  });
}

async function openSession(url: URL): Promise<string> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT },
    body: JSON.stringify(initialize),
  });
  await res.text();
  expect(res.status).toBe(200);
  return res.headers.get('mcp-session-id')!;
}

describe('Streamable HTTP: bad input', () => {
  let gw: RunningGateway;
  let session: string;

  beforeAll(async () => {
    gw = await startGateway(everythingStdio, { limits: { maxMessageBytes: 64 * 1024 } });
    session = await openSession(gw.url);
  });
  afterAll(() => gw?.close());

  const cases: Array<[string, () => Promise<Reply>, number, number, string]> = [
    [
      'malformed JSON',
      () => post(gw.url, '{"jsonrpc": "2.0", "id": 1,'),
      400,
      -32700,
      'GATEWAY_PARSE_ERROR',
    ],
    [
      'a JSON value that is not JSON-RPC',
      () => post(gw.url, '{"hello":"world"}', { 'mcp-session-id': session }),
      400,
      -32600,
      'GATEWAY_INVALID_REQUEST',
    ],
    [
      'a wrong jsonrpc version',
      () => post(gw.url, '{"jsonrpc":"1.0","id":1,"method":"ping"}', { 'mcp-session-id': session }),
      400,
      -32600,
      'GATEWAY_INVALID_REQUEST',
    ],
    [
      'an empty batch',
      () => post(gw.url, '[]', { 'mcp-session-id': session }),
      400,
      -32600,
      'GATEWAY_INVALID_REQUEST',
    ],
    [
      'initialize inside a batch',
      () => post(gw.url, JSON.stringify([initialize, initialize])),
      400,
      -32600,
      'GATEWAY_INVALID_REQUEST',
    ],
    [
      'a text/plain body',
      () =>
        call(gw.url, {
          method: 'POST',
          headers: { 'content-type': 'text/plain', accept: ACCEPT },
          body: JSON.stringify(initialize),
        }),
      415,
      -32600,
      'GATEWAY_UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'an Accept header without text/event-stream',
      () => post(gw.url, JSON.stringify(initialize), { accept: 'application/json' }),
      406,
      -32600,
      'GATEWAY_NOT_ACCEPTABLE',
    ],
    [
      'a GET that does not accept SSE',
      () =>
        call(gw.url, {
          method: 'GET',
          headers: { accept: 'application/json', 'mcp-session-id': session },
        }),
      406,
      -32600,
      'GATEWAY_NOT_ACCEPTABLE',
    ],
    [
      'a request without a session id',
      () => post(gw.url, '{"jsonrpc":"2.0","id":5,"method":"ping"}'),
      400,
      -32600,
      'GATEWAY_SESSION_REQUIRED',
    ],
    [
      'an unknown session id',
      () =>
        post(gw.url, '{"jsonrpc":"2.0","id":5,"method":"ping"}', {
          'mcp-session-id': 'no-such-session',
        }),
      404,
      -32001,
      'GATEWAY_SESSION_NOT_FOUND',
    ],
    [
      'a DELETE of an unknown session',
      () => call(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': 'no-such-session' } }),
      404,
      -32001,
      'GATEWAY_SESSION_NOT_FOUND',
    ],
    [
      'an unsupported MCP-Protocol-Version',
      () =>
        post(gw.url, '{"jsonrpc":"2.0","id":5,"method":"ping"}', {
          'mcp-session-id': session,
          'mcp-protocol-version': '1999-01-01',
        }),
      400,
      -32600,
      'GATEWAY_UNSUPPORTED_PROTOCOL_VERSION',
    ],
    [
      'a body over the size limit',
      () => post(gw.url, JSON.stringify({ ...initialize, pad: 'x'.repeat(100_000) })),
      413,
      -32600,
      'GATEWAY_PAYLOAD_TOO_LARGE',
    ],
    [
      'a gzip Content-Encoding, which was ignored',
      () =>
        post(gw.url, gzipSync(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'ping' })), {
          'mcp-session-id': session,
          'content-encoding': 'gzip',
        }),
      415,
      -32600,
      'GATEWAY_UNSUPPORTED_MEDIA_TYPE',
    ],
    ['a PUT', () => call(gw.url, { method: 'PUT' }), 405, -32600, 'GATEWAY_METHOD_NOT_ALLOWED'],
    [
      'an unknown path',
      () => call(new URL('/nope', gw.url), { method: 'GET' }),
      404,
      -32601,
      'GATEWAY_NOT_FOUND',
    ],
  ];

  it.each(cases)('%s', async (_name, send, status, rpc, code) => {
    const reply = await send();
    expect(reply.status).toBe(status);
    expect(reply.headers.get('content-type')).toBe('application/json');
    expect(reply.body.jsonrpc).toBe('2.0');
    expect(reply.body.error?.code).toBe(rpc);
    expect(reply.body.error?.data?.code).toBe(code);
    expect(reply.body.error?.message.length).toBeGreaterThan(10);
  });

  it.each([false, true])(
    'a 20 MiB body on an existing session gets 413 with a JSON body, not a broken pipe (chunked: %s)',
    async (chunked) => {
      const head = `POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\naccept: ${ACCEPT}\r\nmcp-session-id: ${session}\r\n`;
      const { received, errors } = await sendWholeBody(gw.url, head, 20 * 1024 * 1024, chunked);
      expect(errors).toEqual([]);
      expect(received).toMatch(/^HTTP\/1\.1 413 /);
      const body = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)) as Reply['body'];
      expect(body.error?.data?.code).toBe('GATEWAY_PAYLOAD_TOO_LARGE');
    },
  );

  it('a Content-Encoding on /mcp and on legacy /messages gets 415 naming it, not ignored', async () => {
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'ping' });
    const mcp = await post(gw.url, deflateSync(ping), {
      'mcp-session-id': session,
      'content-encoding': 'deflate',
    });
    expect(mcp.status).toBe(415);
    expect(mcp.body.error?.message).toContain('Content-Encoding "deflate"');
    const sse = await openRawSse(new URL('/sse', gw.url));
    try {
      const endpoint = new URL(
        (await sse.next((e) => e.event === 'endpoint', 'the endpoint event')).data,
        gw.url,
      );
      const legacy = await post(endpoint, gzipSync(ping), { 'content-encoding': 'gzip' });
      expect(legacy.status).toBe(415);
      expect(legacy.body.error?.message).toContain('Content-Encoding "gzip"');
      // identity is no encoding at all.
      const plain = await post(endpoint, ping, { 'content-encoding': 'identity' });
      expect(plain.status).toBe(202);
    } finally {
      sse.close();
    }
  });

  it('answers a request id already in flight with 400', async () => {
    const slow = post(
      gw.url,
      JSON.stringify({
        jsonrpc: '2.0',
        id: 'dup',
        method: 'tools/call',
        params: { name: 'trigger-long-running-operation', arguments: { duration: 0.5, steps: 1 } },
      }),
      { 'mcp-session-id': session },
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await post(
      gw.url,
      JSON.stringify({ jsonrpc: '2.0', id: 'dup', method: 'ping' }),
      { 'mcp-session-id': session },
    );
    expect(again.status).toBe(400);
    expect(again.body.error?.message).toContain('already in use');
    expect((await slow).status).toBe(200);
  });

  it('accepts notifications with 202 and no body', async () => {
    const res = await fetch(gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': session },
      body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
    });
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('');
  });

  it('answers a batch of requests with an array of replies', async () => {
    const reply = await post(
      gw.url,
      JSON.stringify([
        { jsonrpc: '2.0', id: 'p1', method: 'ping' },
        {
          jsonrpc: '2.0',
          id: 'p2',
          method: 'tools/call',
          params: { name: 'echo', arguments: { message: 'batched' } },
        },
      ]),
      { 'mcp-session-id': session },
    );
    expect(reply.status).toBe(200);
    const replies = reply.body as unknown as Array<{ id: string }>;
    expect(replies.map((r) => r.id).sort()).toEqual(['p1', 'p2']);
  });

  it('still serves a well-behaved client after all of that', async () => {
    const client = await connectClient(gw.url);
    try {
      const { tools } = await client.listTools();
      expect(tools.length).toBeGreaterThan(5);
    } finally {
      await client.close();
    }
  });
});

describe('Streamable HTTP: backends that cannot serve', () => {
  it('answers initialize with 502 when the backend command does not exist', async () => {
    const gw = await startGateway({
      transport: 'stdio',
      command: '/nonexistent/mcp-server',
      args: [],
    });
    try {
      const reply = await post(gw.url, JSON.stringify(initialize));
      expect(reply.status).toBe(502);
      expect(reply.headers.get('mcp-session-id')).toBeNull();
      expect(reply.body.id).toBe(1);
      expect(reply.body.error?.data?.code).toBe('GATEWAY_BACKEND_UNAVAILABLE');
      expect(reply.body.error?.message).toContain('ENOENT');
      expect(gw.gateway.sessions()).toHaveLength(0);
    } finally {
      await gw.close();
    }
  });

  it('backend stderr does not reach the client when the backend dies on start', async () => {
    const gw = await startGateway({
      transport: 'stdio',
      command: process.execPath,
      args: ['-e', 'console.error("missing API_TOKEN=s3cr3t-value"); process.exit(3)'],
    });
    try {
      const reply = await post(gw.url, JSON.stringify(initialize));
      expect(reply.status).toBe(502);
      expect(reply.headers.get('mcp-session-id')).toBeNull();
      expect(reply.body.error?.data?.code).toBe('GATEWAY_BACKEND_EXITED');
      expect(reply.body.error?.message).toContain('code 3');
      expect(JSON.stringify(reply.body)).not.toContain('API_TOKEN');
      expect(JSON.stringify(reply.body)).not.toContain('s3cr3t-value');
      // The session died with its backend: the id it was given is gone.
      expect(gw.gateway.sessions()).toHaveLength(0);
    } finally {
      await gw.close();
    }
  });
});
