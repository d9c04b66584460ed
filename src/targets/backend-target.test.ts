import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { z } from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { RequestContext } from '../core/context.js';
import type { Policy } from '../core/policy.js';
import { inMemoryBackend } from '../../test/contexts.js';
import { parseConfig } from '../config/schema.js';
import { toolView } from '../policies/tool-view.js';
import { BackendTarget } from './backend-target.js';
import type { Upstream } from './link.js';

const log = pino({ level: 'silent' });

/** A backend target over an in-memory SDK server with two tools, `echo` and `secret`. */
async function target(policies: (config: BackendTarget['config']) => Policy[] = () => []) {
  const server = new McpServer({ name: 'unit', version: '1' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('secret', {}, async () => ({ content: [{ type: 'text', text: 's' }] }));
  const [ours, theirs] = InMemoryTransport.createLinkedPair();
  await server.connect(theirs);
  const backend = inMemoryBackend('unit', ours);
  const config = parseConfig({
    backends: {
      unit: {
        command: 'x',
        tools: { exclude: ['secret'], overrides: { echo: { name: 'say', description: 'Says' } } },
      },
    },
  }).backends.unit!;
  return new BackendTarget('unit', config, backend, policies(config));
}

const nobody: Upstream = {
  notification: () => {},
  request: () => ({ reply: new Promise(() => {}), cancel: () => {} }),
};

const request = (id: number, method: string, params?: Record<string, unknown>) =>
  new RequestContext({
    message: { jsonrpc: '2.0', id, method, ...(params && { params }) },
    transport: 'test',
    log,
  });

describe('BackendTarget', () => {
  it('dispatches a request with no session through its chain and records the route', async () => {
    const seen: string[] = [];
    const spy: Policy = async (ctx, next) => {
      seen.push(`${ctx.session?.id ?? 'no session'} ${ctx.route?.backend} ${ctx.message.method}`);
      return next();
    };
    const unit = await target(() => [spy]);
    const link = unit.link(nobody, log, undefined);
    await link.start();
    const run = unit.chain(link);
    const init = await run(
      request(1, 'initialize', {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 't', version: '1' },
      }),
    );
    expect(init && 'result' in init && init.result.serverInfo).toMatchObject({ name: 'unit' });
    const ctx = request(2, 'tools/list');
    const list = await run(ctx);
    expect(list && 'result' in list).toBe(true);
    expect(seen).toEqual(['no session unit initialize', 'no session unit tools/list']);
    expect(ctx.route).toEqual({ backend: 'unit' });
    await link.close();
  });

  it('offers the tools its configuration shapes, on any endpoint: filtered, renamed, described', async () => {
    const unit = await target((config) => [toolView(config.tools)!]);
    const link = unit.link(nobody, log, undefined);
    await link.start();
    const run = unit.chain(link);
    await run(
      request(1, 'initialize', {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 't', version: '1' },
      }),
    );
    const list = await run(request(2, 'tools/list'));
    const tools = list && 'result' in list ? (list.result.tools as Array<{ name: string }>) : [];
    expect(tools.map((t) => t.name)).toEqual(['say']);
    expect(tools[0]).toMatchObject({ description: 'Says' });

    const call = request(3, 'tools/call', { name: 'say', arguments: { text: 'hi' } });
    const reply = await run(call);
    expect(reply && 'result' in reply && reply.result.content).toEqual([
      { type: 'text', text: 'hi' },
    ]);
    expect(call.route).toEqual({ backend: 'unit', name: 'echo', offered: 'say' });

    for (const name of ['secret', 'echo']) {
      const refused = await run(request(4, 'tools/call', { name, arguments: {} }));
      expect(refused && 'error' in refused && refused.error).toMatchObject({
        code: -32602,
        message: `Unknown tool: ${name}`,
      });
    }
    await link.close();
  });

  it('cancelling a request ends it without a reply and tells the backend', async () => {
    const unit = await target();
    const link = unit.link(nobody, log, undefined);
    await link.start();
    const sent: unknown[] = [];
    const send = link.transport.send.bind(link.transport);
    link.transport.send = (message, options) => {
      sent.push(message);
      return send(message, options);
    };
    // A request the server never answers (the server has no such method handler pending).
    const ctx = request(9, 'tools/call', { name: 'echo', arguments: { text: 'x' } });
    const pending = unit.chain(link)(ctx);
    ctx.cancel('changed my mind');
    await expect(pending).resolves.toBeUndefined();
    expect(sent).toContainEqual({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 1, reason: 'changed my mind' },
    });
    await link.close();
  });
});
