import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage, JSONRPCRequest } from '../core/jsonrpc.js';
import { RestClientTransport } from './client-transport.js';
import { ReplyError, RestSession } from './rest-session.js';

/** A REST session over a transport whose "server" is `answer`. */
function sessionWith(answer: (request: JSONRPCRequest) => Record<string, unknown> | Error) {
  const transport = new RestClientTransport();
  const seen: JSONRPCRequest[] = [];
  transport.onmessage = (message: JSONRPCMessage) => {
    if (!('method' in message) || !('id' in message)) return;
    seen.push(message);
    const out = answer(message);
    void transport.send(
      out instanceof Error
        ? { jsonrpc: '2.0', id: message.id, error: { code: -32603, message: out.message } }
        : { jsonrpc: '2.0', id: message.id, result: out },
    );
  };
  const handle = { id: 's1', principal: undefined, inFlight: 0, close: async () => {} };
  return {
    session: new RestSession({
      handle,
      transport,
      endpoint: 'b',
      clientId: undefined,
      metadata: undefined,
    }),
    seen,
  };
}

const echo = {
  name: 'echo',
  inputSchema: {
    type: 'object',
    properties: { message: { type: 'string' } },
    required: ['message'],
  },
};

describe('RestSession', () => {
  it('follows list cursors to the end', async () => {
    const { session, seen } = sessionWith((r) =>
      r.params?.cursor === undefined
        ? { tools: [echo], nextCursor: 'p2' }
        : { tools: [{ name: 'two', inputSchema: { type: 'object' } }] },
    );
    const tools = await session.listTools();
    expect(tools.map((t) => t.name)).toEqual(['echo', 'two']);
    expect(seen.map((r) => r.params?.cursor)).toEqual([undefined, 'p2']);
  });

  it('checks arguments against the listed schema before sending the call', async () => {
    const { session, seen } = sessionWith((r) =>
      r.method === 'tools/list' ? { tools: [echo] } : { content: [{ type: 'text', text: 'ok' }] },
    );
    await expect(session.callTool('echo', {}, { field: 'params' })).rejects.toThrow(
      /params\.message is required/,
    );
    expect(seen.map((r) => r.method)).toEqual(['tools/list']);
    await expect(session.callTool('echo', { message: 'x' }, { field: 'params' })).resolves.toEqual({
      content: [{ type: 'text', text: 'ok' }],
    });
    expect(seen.at(-1)!.params).toMatchObject({
      name: 'echo',
      arguments: { message: 'x' },
      _meta: { progressToken: 's1:1' },
    });
  });

  it('sends the call unchecked when the list fails, and maps error replies to statuses', async () => {
    const { session } = sessionWith((r) =>
      r.method === 'tools/list' ? new Error('list broke') : new Error('call broke'),
    );
    const failure = await session
      .callTool('echo', {}, { field: 'params' })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ReplyError);
    expect((failure as ReplyError).status).toBe(502);
    expect((failure as ReplyError).message).toBe('call broke');
    expect(new ReplyError({ code: -32602, message: 'bad' }).status).toBe(400);
    expect(
      new ReplyError({ code: -32031, message: 'no', data: { code: 'GATEWAY_FORBIDDEN' } }).status,
    ).toBe(403);
  });
});
