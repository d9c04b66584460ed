import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import type { ClientTransport } from '../session/session.js';
import { createLogger } from '../core/logger.js';
import { LegacySseHandler } from './legacy-sse.js';
import type { OpenSession } from './types.js';

/*
 * The handler on its own, with a stand-in for the gateway's openSession: what it writes on the
 * stream and when, without a backend behind it. The SDK client against real servers is in
 * test/integration/legacy-sse.test.ts.
 */

const log = createLogger({ level: 'silent' });
const running: Array<{ server: Server; handler: LegacySseHandler }> = [];

afterEach(async () => {
  for (const { server, handler } of running.splice(0)) {
    await handler.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(openSession: OpenSession, keepaliveMs?: number): Promise<string> {
  const handler = new LegacySseHandler({
    openSession,
    log,
    maxMessageBytes: 1024,
    maxDepth: 128,
    messagesPath: '/messages',
    keepaliveMs,
  });
  const server = createServer((req, res) => {
    if (req.method === 'GET') handler.handleStream(req, res);
    else void handler.handleMessage(req, res);
  });
  running.push({ server, handler });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Reads the stream's text until `until` holds for what has arrived; leaves the stream open. */
async function readUntil(res: Response, until: (text: string) => boolean): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (!until(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  return text;
}

const handle = { id: 's', inFlight: 0, principal: undefined, close: async () => {} };

describe('LegacySseHandler', () => {
  it('sends the endpoint first, then what the session said while the stream was starting', async () => {
    const base = await serve(async (client) => {
      await client.send({ jsonrpc: '2.0', method: 'notifications/early' });
      return handle;
    });
    const res = await fetch(`${base}/sse`, { headers: { accept: 'text/event-stream' } });
    const text = await readUntil(res, (t) => t.includes('notifications/early'));
    expect(text).toMatch(
      /^event: endpoint\ndata: \/messages\?sessionId=[0-9a-f-]{36}\n\nevent: message\ndata: \{"jsonrpc":"2.0","method":"notifications\/early"\}\n\n/,
    );
  });

  it('writes keepalive comments on open streams', async () => {
    const base = await serve(async () => handle, 20);
    const res = await fetch(`${base}/sse`, { headers: { accept: 'text/event-stream' } });
    expect(await readUntil(res, (t) => t.includes(': keepalive'))).toContain(': keepalive\n\n');
  });

  it('delivers a POSTed batch to the session in order, after answering 202', async () => {
    let client: ClientTransport | undefined;
    const received: JSONRPCMessage[] = [];
    const base = await serve(async (c) => {
      client = c;
      c.onmessage = (m) => received.push(m);
      return handle;
    });
    const res = await fetch(`${base}/sse`, { headers: { accept: 'text/event-stream' } });
    const text = await readUntil(res, (t) => t.includes('\n\n'));
    const endpoint = /data: (\S+)/.exec(text)![1]!;
    const batch = [
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 1, method: 'ping' },
    ];
    const post = await fetch(`${base}${endpoint}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(batch),
    });
    expect(post.status).toBe(202);
    expect(await post.text()).toBe('');
    expect(received).toEqual(batch);
    expect(client?.sessionId).toBe(endpoint.split('=')[1]);
  });

  it('ends the session when the client hangs up, and forgets it', async () => {
    let closed = 0;
    const base = await serve(async (c) => {
      c.onclose = () => closed++;
      return handle;
    });
    const handler = running[0]!.handler;
    const controller = new AbortController();
    const res = await fetch(`${base}/sse`, {
      headers: { accept: 'text/event-stream' },
      signal: controller.signal,
    });
    await readUntil(res, (t) => t.includes('\n\n'));
    expect(handler.sessionCount).toBe(1);
    controller.abort();
    await new Promise<void>((resolve) => {
      const poll = () => (closed === 1 ? resolve() : setTimeout(poll, 10));
      poll();
    });
    expect(handler.sessionCount).toBe(0);
  });
});
