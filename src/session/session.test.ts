import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import type { Policy } from '../core/policy.js';
import { inMemoryBackend } from '../../test/contexts.js';
import { BackendTarget } from '../targets/backend-target.js';
import { parseConfig } from '../config/schema.js';
import { Session } from './session.js';

/**
 * SDK client ⇄ Session ⇄ backend target ⇄ SDK server, all in memory; `seen` records what crossed
 * to the server. `policies` run gateway-wide, `toClient` on the server's requests.
 */
async function wire(policies: Policy[] = [], toClient: Policy[] = []) {
  const [clientEnd, sessionClientSide] = InMemoryTransport.createLinkedPair();
  const [sessionTargetSide, serverEnd] = InMemoryTransport.createLinkedPair();
  const seen: JSONRPCMessage[] = [];
  const originalSend = sessionTargetSide.send.bind(sessionTargetSide);
  sessionTargetSide.send = (message, options) => {
    seen.push(message);
    return originalSend(message, options);
  };

  const server = new McpServer({ name: 'unit', version: '1' });
  const aborted: unknown[] = [];
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool(
    'hang',
    {},
    async (extra) =>
      new Promise((resolve) => {
        extra.signal.addEventListener('abort', () => {
          aborted.push(extra.requestId);
          resolve({ content: [] });
        });
      }),
  );
  server.registerTool('ask', {}, async () => {
    const answer = await server.server.createMessage({
      messages: [{ role: 'user', content: { type: 'text', text: 'q' } }],
      maxTokens: 1,
    });
    return { content: [{ type: 'text', text: JSON.stringify(answer.content) }] };
  });
  await server.connect(serverEnd);

  const backend = inMemoryBackend('unit', sessionTargetSide);
  const config = parseConfig({ backends: { unit: { command: 'x' } } }).backends.unit!;
  const target = new BackendTarget('unit', config, backend, []);
  const log = pino({ level: 'silent' });
  const session = new Session({
    id: 'unit',
    transport: 'memory',
    endpoint: 'unit',
    client: sessionClientSide,
    target: (upstream) => target.bind(upstream, log, undefined),
    policies,
    toClientPolicies: toClient,
    log,
  });
  await session.start();
  const client = new Client({ name: 'c', version: '1' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    model: 'm',
    role: 'assistant',
    content: { type: 'text', text: 'answer' },
  }));
  await client.connect(clientEnd);
  return { client, server, session, seen, aborted };
}

describe('Session', () => {
  it('rewrites request ids toward the target and restores them for the client', async () => {
    const { client, seen, session } = await wire();
    const result = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(result.content).toEqual([{ type: 'text', text: 'hi' }]);
    const ids = seen
      .filter((m) => 'method' in m && 'id' in m)
      .map((m) => (m as { id: unknown }).id);
    // Our own ids, not the client's: 1 for initialize, 2 for tools/call.
    expect(ids).toEqual([1, 2]);
    await session.close('done');
  });

  it('routes a server request to the client and its answer back', async () => {
    const { client, session } = await wire();
    const result = await client.callTool({ name: 'ask', arguments: {} });
    expect(JSON.stringify(result.content)).toContain('answer');
    await session.close('done');
  });

  it('maps a cancellation to the id the target knows', async () => {
    const { client, session, aborted, seen } = await wire();
    const controller = new AbortController();
    const call = client.callTool({ name: 'hang', arguments: {} }, undefined, {
      signal: controller.signal,
    });
    await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    await expect(call).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 20));
    const cancel = seen.find(
      (m) => 'method' in m && m.method === 'notifications/cancelled',
    ) as unknown as {
      params: { requestId: unknown };
    };
    const callId = (seen.find((m) => 'method' in m && m.method === 'tools/call') as { id: unknown })
      .id;
    expect(cancel.params.requestId).toBe(callId);
    expect(aborted).toEqual([callId]);
    expect(session.inFlight).toBe(0);
    await session.close('done');
  });

  it('fails requests in flight when the target closes, then closes itself', async () => {
    const { client, server, session } = await wire();
    const call = client.callTool({ name: 'hang', arguments: {} });
    await new Promise((r) => setTimeout(r, 20));
    await server.close();
    await expect(call).rejects.toThrow(/Backend exited/);
    expect(session.isClosed).toBe(true);
  });

  it("runs each direction's requests through that direction's own chain", async () => {
    const methods: string[] = [];
    const record =
      (direction: string): Policy =>
      async (ctx, next) => {
        methods.push(`${direction} ${ctx.message.method} via ${ctx.route?.backend ?? '-'}`);
        return next();
      };
    const { client, session } = await wire([record('to-server')], [record('to-client')]);
    await client.callTool({ name: 'ask', arguments: {} });
    expect(methods).toEqual([
      'to-server initialize via -',
      'to-server tools/call via -',
      'to-client sampling/createMessage via unit',
    ]);
    await session.close('done');
  });
});
