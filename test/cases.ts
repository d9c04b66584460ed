import { expect } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { waitFor } from './helpers.js';

/*
 * The shared case list: what a client must be able to do with @modelcontextprotocol/server-everything
 * through the gateway, whatever transports sit on either side. Each case gets a connected client
 * whose sampling and elicitation handlers were installed by `answerServerRequests`.
 */

export function text(result: unknown): string {
  return (result as { content: Array<{ text?: string }> }).content
    .map((c) => c.text ?? '')
    .join('\n');
}

export interface Answered {
  sampled: unknown[];
  elicited: unknown[];
}

/** Installs the handlers the cases rely on; call before `connect`. */
export function answerServerRequests(client: Client): Answered {
  const answered: Answered = { sampled: [], elicited: [] };
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    answered.sampled.push(request.params);
    return {
      model: 'test-model',
      role: 'assistant',
      content: { type: 'text', text: 'sampled by the test client' },
    };
  });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    answered.elicited.push(request.params);
    return { action: 'accept', content: { name: 'Ada Lovelace', check: true, integer: 7 } };
  });
  return answered;
}

/** Progress values as they arrived on the client's transport, by token; the last token asked for. */
type ProgressTap = Map<string | number, number[]> & { lastToken?: string | number };
const taps = new WeakMap<Client, ProgressTap>();

/**
 * Records progress notifications where they enter the client, before the SDK's protocol layer
 * handles them, so that a test sees exactly what the gateway delivered.
 */
export function tapProgress(client: Client): ProgressTap {
  const existing = taps.get(client);
  if (existing) return existing;
  const tap: ProgressTap = new Map();
  const transport = client.transport!;
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    const token = (message as { params?: { _meta?: { progressToken?: string | number } } }).params
      ?._meta?.progressToken;
    if (token !== undefined) {
      tap.lastToken = token;
      tap.set(token, []);
    }
    return send(message, options);
  };
  const onmessage = transport.onmessage;
  transport.onmessage = (message, extra) => {
    if ('method' in message && message.method === 'notifications/progress') {
      const params = message.params as { progressToken: string | number; progress: number };
      tap.get(params.progressToken)?.push(params.progress);
    }
    onmessage?.(message, extra);
  };
  taps.set(client, tap);
  return tap;
}

export type Case = [name: string, run: (client: Client, answered: Answered) => Promise<void>];

export const cases: Case[] = [
  [
    'lists tools, including those offered only to clients that sample and elicit',
    async (client) => {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(
        expect.arrayContaining([
          'echo',
          'get-sum',
          'trigger-long-running-operation',
          'trigger-sampling-request',
          'trigger-elicitation-request',
        ]),
      );
    },
  ],
  [
    'calls a tool',
    async (client) => {
      expect(
        text(await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } })),
      ).toContain('42');
    },
  ],
  [
    'streams progress of a long-running call',
    async (client) => {
      const wire = tapProgress(client);
      const progress: number[] = [];
      const result = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.4, steps: 4 } },
        undefined,
        { onprogress: (p) => progress.push(p.progress) },
      );
      expect(text(result)).toContain('Long running operation completed');
      // Everything reached the client, in order, once...
      expect(wire.get(wire.lastToken!)).toEqual([1, 2, 3, 4]);
      // ...but the SDK client may drop the last one when it is read together with the reply
      // (modelcontextprotocol/typescript-sdk#2580), so its callback sees a prefix.
      expect([
        [1, 2, 3],
        [1, 2, 3, 4],
      ]).toContainEqual(progress);
    },
  ],
  [
    'carries a sampling request to the client and the answer back',
    async (client, answered) => {
      const before = answered.sampled.length;
      const result = await client.callTool({
        name: 'trigger-sampling-request',
        arguments: { prompt: 'hello', maxTokens: 5 },
      });
      expect(answered.sampled.length).toBe(before + 1);
      expect(text(result)).toContain('sampled by the test client');
    },
  ],
  [
    'carries an elicitation request to the client and the answer back',
    async (client, answered) => {
      const before = answered.elicited.length;
      const result = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      expect(answered.elicited.length).toBe(before + 1);
      expect(text(result)).toContain('Ada Lovelace');
    },
  ],
  [
    'lists and reads resources, and delivers updates to a subscription',
    async (client) => {
      expect((await client.listResources()).resources.length).toBeGreaterThan(0);
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
    },
  ],
  [
    'lists and gets prompts',
    async (client) => {
      expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(
        expect.arrayContaining(['simple-prompt', 'args-prompt']),
      );
      const prompt = await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Lyon' } });
      expect(JSON.stringify(prompt.messages)).toContain('Lyon');
    },
  ],
  [
    'completes a prompt argument',
    async (client) => {
      const result = await client.complete({
        ref: { type: 'ref/prompt', name: 'completable-prompt' },
        argument: { name: 'department', value: 'Eng' },
      });
      expect(result.completion.values).toEqual(['Engineering']);
    },
  ],
  [
    'sets the log level and delivers log notifications',
    async (client) => {
      const levels: string[] = [];
      client.setNotificationHandler(
        LoggingMessageNotificationSchema,
        (n) => void levels.push(n.params.level),
      );
      await client.setLoggingLevel('debug');
      await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
      try {
        await waitFor(() => levels.length > 0, 12_000, 'a notifications/message');
      } finally {
        await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
      }
    },
  ],
  [
    'cancels a long-running call, and the session goes on',
    async (client) => {
      const controller = new AbortController();
      let progressed = false;
      const call = client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 3, steps: 30 } },
        undefined,
        {
          signal: controller.signal,
          onprogress: () => (progressed = true),
        },
      );
      await waitFor(() => progressed, 5000, 'the call to make progress');
      controller.abort('the user gave up');
      await expect(call).rejects.toThrow();
      expect(
        text(await client.callTool({ name: 'echo', arguments: { message: 'after cancel' } })),
      ).toContain('after cancel');
    },
  ],
  [
    'answers ping',
    async (client) => {
      await expect(client.ping()).resolves.toBeDefined();
    },
  ],
];
