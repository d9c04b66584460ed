import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { startGateway } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';
import {
  MODERN_SERVER,
  connectModernClient,
  firstText,
  startModernHttp,
} from '../modern-helpers.js';
import type { RunningServer } from '../helpers.js';
import { callModern } from '../era-helpers.js';

/*
 * A 2025 client in front of a 2026-07-28 server: the v1 SDK client over Streamable HTTP,
 * through the gateway, to the modern fixture (test/fixtures/modern-server.mjs, on
 * @modelcontextprotocol/server 2.4.0) over stdio, started modern-only so that nothing but
 * translation can make it work. Its input_required results reach the legacy client's handlers
 * as real server requests; the final result comes back under the original id.
 */

interface Seen {
  sampling: number;
  elicitation: number;
  roots: number;
}

async function legacyClient(url: URL): Promise<{ client: Client; seen: Seen }> {
  const client = new Client(
    { name: 'legacy-test', version: '1' },
    { capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } } },
  );
  const seen: Seen = { sampling: 0, elicitation: 0, roots: 0 };
  client.setRequestHandler(CreateMessageRequestSchema, async () => {
    seen.sampling++;
    return {
      role: 'assistant',
      model: 'legacy-model',
      content: { type: 'text', text: 'from legacy' },
    };
  });
  client.setRequestHandler(ElicitRequestSchema, async () => {
    seen.elicitation++;
    return { action: 'accept', content: { answer: `legacy-${seen.elicitation}` } };
  });
  client.setRequestHandler(ListRootsRequestSchema, async () => {
    seen.roots++;
    return { roots: [{ uri: 'file:///legacy-root', name: 'legacy' }] };
  });
  await client.connect(new StreamableHTTPClientTransport(url));
  return { client, seen };
}

describe.each(['modern', 'auto'] as const)(
  'legacy client → gateway → modern-only fixture over stdio (protocol: %s)',
  (protocol) => {
    let gw: RunningGateway;

    beforeAll(async () => {
      gw = await startGateway({
        transport: 'stdio',
        command: process.execPath,
        args: [MODERN_SERVER, '--modern-only'],
        killGraceMs: 500,
        protocol,
      });
    });
    afterAll(async () => {
      await gw?.close();
    });

    it('initialize is answered from server/discover; ping is answered; tools list and call', async () => {
      const { client } = await legacyClient(gw.url);
      try {
        expect(client.getServerVersion()).toMatchObject({ name: expect.any(String) });
        await client.ping();
        const names = (await client.listTools()).tools.map((t) => t.name);
        expect(names).toEqual(expect.arrayContaining(['echo', 'ask_sampling', 'ask_rounds']));
        const echo = await client.callTool({ name: 'echo', arguments: { text: 'old' } });
        expect(firstText(echo as { content?: unknown })).toBe('echo: old');
        await client.setLoggingLevel('info');
      } finally {
        await client.close();
      }
    });

    it('input_required for sampling, elicitation and roots reaches the legacy handlers; the final result arrives', async () => {
      const { client, seen } = await legacyClient(gw.url);
      try {
        const sampled = await client.callTool({ name: 'ask_sampling', arguments: { prompt: 'p' } });
        expect(firstText(sampled as { content?: unknown })).toBe('sampled: from legacy');
        const elicited = await client.callTool({
          name: 'ask_elicitation',
          arguments: { message: 'm' },
        });
        expect(firstText(elicited as { content?: unknown })).toContain('legacy-1');
        const roots = await client.callTool({ name: 'ask_roots', arguments: {} });
        expect(firstText(roots as { content?: unknown })).toBe('roots: file:///legacy-root');
        const two = await client.callTool({ name: 'ask_two', arguments: {} });
        expect(firstText(two as { content?: unknown })).toContain('sampled=from legacy');
        const rounds = await client.callTool({ name: 'ask_rounds', arguments: { rounds: 3 } });
        expect(firstText(rounds as { content?: unknown })).toBe(
          'rounds: legacy-3,legacy-4,legacy-5',
        );
        expect(seen).toEqual({ sampling: 2, elicitation: 5, roots: 1 });
      } finally {
        await client.close();
      }
    });

    it('resources/subscribe becomes a subscriptions/listen: the legacy client hears resources/updated', async () => {
      const { client } = await legacyClient(gw.url);
      try {
        const updates: string[] = [];
        client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => {
          updates.push(n.params.uri);
        });
        await client.subscribeResource({ uri: 'fixture://counter' });
        await client.callTool({ name: 'touch', arguments: {} });
        await expect.poll(() => updates, { timeout: 5000 }).toContain('fixture://counter');
        await client.unsubscribeResource({ uri: 'fixture://counter' });
        const heard = updates.length;
        await client.callTool({ name: 'touch', arguments: {} });
        await new Promise((r) => setTimeout(r, 500));
        expect(updates.length).toBe(heard);
      } finally {
        await client.close();
      }
    });

    it('a modern client reaches the same backend too (2026-07-28 on both sides)', async () => {
      const { client, answers } = await connectModernClient(gw.url.href);
      try {
        expect(firstText(await client.callTool({ name: 'echo', arguments: { text: 'new' } }))).toBe(
          'echo: new',
        );
        const sampled = await client.callTool({ name: 'ask_sampling', arguments: { prompt: 'q' } });
        expect(firstText(sampled)).toBe('sampled: sampled text');
        expect(answers.sampling).toHaveLength(1);
      } finally {
        await client.close();
      }
      const raw = await callModern(gw.url, 'tools/list');
      expect(raw.reply.result).toMatchObject({ resultType: 'complete' });
    });
  },
);

describe.each(['modern', 'auto'] as const)(
  'legacy client → gateway → the modern-only fixture over Streamable HTTP (protocol: %s)',
  (protocol) => {
    let backend: RunningServer;
    let gw: RunningGateway;

    beforeAll(async () => {
      backend = await startModernHttp(['--modern-only']);
      gw = await startGateway({ transport: 'streamable-http', url: backend.url, protocol });
    });
    afterAll(async () => {
      await gw?.close();
      await backend?.close();
    });

    it('lists, calls, and plays input_required rounds to the legacy client', async () => {
      const { client, seen } = await legacyClient(gw.url);
      try {
        const echo = await client.callTool({ name: 'echo', arguments: { text: 'http' } });
        expect(firstText(echo as { content?: unknown })).toBe('echo: http');
        const two = await client.callTool({ name: 'ask_two', arguments: {} });
        expect(firstText(two as { content?: unknown })).toBe(
          'two: elicited={"answer":"legacy-1"} sampled=from legacy',
        );
        expect(seen).toMatchObject({ sampling: 1, elicitation: 1 });
      } finally {
        await client.close();
      }
    });
  },
);
