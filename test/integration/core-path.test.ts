import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Notification } from '@modelcontextprotocol/sdk/types.js';
import { connectClient, startGateway, waitFor } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/*
 * The core path, end to end: the official SDK client over Streamable HTTP, through the gateway,
 * to @modelcontextprotocol/server-everything over stdio, one process per session.
 */

function text(result: unknown): string {
  const content = (result as { content: Array<{ type: string; text?: string }> }).content;
  return content.map((c) => c.text ?? '').join('\n');
}

describe('core path: SDK client → Streamable HTTP → gateway → stdio server-everything', () => {
  let gw: RunningGateway;
  let client: Client;
  const sampled: unknown[] = [];
  const elicited: unknown[] = [];

  beforeAll(async () => {
    gw = await startGateway();
    client = await connectClient(gw.url, undefined, (c) => {
      c.setRequestHandler(CreateMessageRequestSchema, async (request) => {
        sampled.push(request.params);
        return {
          model: 'test-model',
          role: 'assistant',
          content: { type: 'text', text: 'sampled by the test client' },
        };
      });
      c.setRequestHandler(ElicitRequestSchema, async (request) => {
        elicited.push(request.params);
        return { action: 'accept', content: { name: 'Ada Lovelace', check: true, integer: 7 } };
      });
    });
  });

  afterAll(async () => {
    await client?.close();
    await gw?.close();
  });

  it('lists tools, including the ones the server only offers to clients that can sample and elicit', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining(['echo', 'get-sum', 'trigger-long-running-operation']),
    );
    expect(names).toEqual(
      expect.arrayContaining(['trigger-sampling-request', 'trigger-elicitation-request']),
    );
  });

  it('calls a tool and returns its result unchanged', async () => {
    const result = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } });
    expect(text(result)).toContain('42');
  });

  it('streams progress notifications of a long-running call to the caller', async () => {
    const progress: number[] = [];
    const result = await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 4 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(text(result)).toContain('Long running operation completed');
    expect(progress).toEqual([1, 2, 3, 4]);
  });

  it('carries a sampling request to the client and its answer back to the server', async () => {
    const result = await client.callTool({
      name: 'trigger-sampling-request',
      arguments: { prompt: 'hello', maxTokens: 5 },
    });
    expect(sampled).toHaveLength(1);
    expect(JSON.stringify(sampled[0])).toContain('hello');
    expect(text(result)).toContain('sampled by the test client');
  });

  it('carries an elicitation request to the client and its answer back to the server', async () => {
    const result = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
    expect(elicited).toHaveLength(1);
    expect(text(result)).toContain('Ada Lovelace');
  });

  it('lists and reads resources, and delivers updates to a subscribed resource', async () => {
    const { resources } = await client.listResources();
    expect(resources.length).toBeGreaterThan(0);
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toContain(
      'demo://resource/dynamic/text/{resourceId}',
    );
    const read = await client.readResource({ uri: 'demo://resource/dynamic/text/1' });
    expect(read.contents[0]?.uri).toBe('demo://resource/dynamic/text/1');

    const updates: string[] = [];
    client.setNotificationHandler(
      ResourceUpdatedNotificationSchema,
      (n) => void updates.push(n.params.uri),
    );
    await client.subscribeResource({ uri: 'demo://resource/dynamic/text/1' });
    await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
    try {
      await waitFor(() => updates.length > 0, 12_000, 'a resources/updated notification');
    } finally {
      await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
    }
    expect(updates[0]).toBe('demo://resource/dynamic/text/1');
    await client.unsubscribeResource({ uri: 'demo://resource/dynamic/text/1' });
  });

  it('lists and gets prompts', async () => {
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(
      expect.arrayContaining(['simple-prompt', 'args-prompt']),
    );
    const prompt = await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Lyon' } });
    expect(JSON.stringify(prompt.messages)).toContain('Lyon');
  });

  it('completes a prompt argument', async () => {
    const result = await client.complete({
      ref: { type: 'ref/prompt', name: 'completable-prompt' },
      argument: { name: 'department', value: 'Eng' },
    });
    expect(result.completion.values).toEqual(['Engineering']);
  });

  it('sets the log level and delivers log notifications', async () => {
    const messages: Notification[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void messages.push(n));
    await client.setLoggingLevel('debug');
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    try {
      await waitFor(() => messages.length > 0, 12_000, 'a notifications/message');
    } finally {
      await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    }
    expect(messages[0]?.method).toBe('notifications/message');
  });

  it('answers ping', async () => {
    await expect(client.ping()).resolves.toBeDefined();
  });
});
