import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MODERN_SERVER,
  connectModernClient,
  firstText,
  startModernHttp,
} from '../modern-helpers.js';
import type { RunningServer } from '../helpers.js';

/*
 * The modern fixture (test/fixtures/modern-server.mjs) on its own, with the v2 client pinned to
 * 2026-07-28 and no gateway: what the dual-era tests may take for granted about the backend.
 */

let http: RunningServer;
beforeAll(async () => {
  http = await startModernHttp();
});
afterAll(async () => {
  await http?.close();
});

const stdioTarget = { command: process.execPath, args: [MODERN_SERVER] };

describe.each([
  ['stdio', () => stdioTarget],
  ['Streamable HTTP', () => http.url],
] as const)('modern fixture over %s, v2 client pinned to 2026-07-28', (_name, target) => {
  it('negotiates 2026-07-28 and lists its tools', async () => {
    const { client } = await connectModernClient(target());
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
      const names = (await client.listTools()).tools.map((t) => t.name).sort();
      expect(names).toEqual(
        [
          'add',
          'ask_elicitation',
          'ask_roots',
          'ask_rounds',
          'ask_sampling',
          'ask_two',
          'count',
          'echo',
          'touch',
        ].sort(),
      );
    } finally {
      await client.close();
    }
  });

  it('answers echo, add and count', async () => {
    const { client } = await connectModernClient(target());
    try {
      expect(firstText(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe(
        'echo: hi',
      );
      expect(firstText(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }))).toBe(
        '5',
      );
      const first = Number(firstText(await client.callTool({ name: 'count', arguments: {} })));
      const second = Number(firstText(await client.callTool({ name: 'count', arguments: {} })));
      expect(second).toBe(first + 1);
    } finally {
      await client.close();
    }
  });

  it('ask_sampling: one input_required round, the final result carries the sampled text', async () => {
    const { client, answers } = await connectModernClient(target());
    try {
      const result = await client.callTool({
        name: 'ask_sampling',
        arguments: { prompt: 'Say hi' },
      });
      expect(firstText(result)).toBe('sampled: sampled text');
      expect(answers.sampling).toHaveLength(1);
      expect(answers.sampling[0]).toMatchObject({
        messages: [{ role: 'user', content: { type: 'text', text: 'Say hi' } }],
      });
    } finally {
      await client.close();
    }
  });

  it('ask_elicitation: one round, the final result carries the action and content', async () => {
    const { client, answers } = await connectModernClient(target());
    try {
      const result = await client.callTool({
        name: 'ask_elicitation',
        arguments: { message: 'Name?' },
      });
      expect(firstText(result)).toBe('elicited: accept {"answer":"answer-1"}');
      expect(answers.elicitation).toEqual([expect.objectContaining({ message: 'Name?' })]);
    } finally {
      await client.close();
    }
  });

  it('ask_roots: one roots/list round', async () => {
    const { client, answers } = await connectModernClient(target());
    try {
      expect(firstText(await client.callTool({ name: 'ask_roots', arguments: {} }))).toBe(
        'roots: file:///fixture-root',
      );
      expect(answers.roots).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('ask_two: an elicitation and a sampling in the same round', async () => {
    const { client, answers } = await connectModernClient(target());
    try {
      expect(firstText(await client.callTool({ name: 'ask_two', arguments: {} }))).toBe(
        'two: elicited={"answer":"answer-1"} sampled=sampled text',
      );
      expect([answers.elicitation.length, answers.sampling.length]).toEqual([1, 1]);
    } finally {
      await client.close();
    }
  });

  it('ask_rounds: three rounds in sequence, carried by requestState', async () => {
    const { client, answers } = await connectModernClient(target());
    try {
      expect(
        firstText(await client.callTool({ name: 'ask_rounds', arguments: { rounds: 3 } })),
      ).toBe('rounds: answer-1,answer-2,answer-3');
      expect(answers.elicitation.map((p) => (p as { message: string }).message)).toEqual([
        'Round 1 of 3?',
        'Round 2 of 3?',
        'Round 3 of 3?',
      ]);
    } finally {
      await client.close();
    }
  });

  it('the raw first round is input_required with the request keyed, and no capability means -32021', async () => {
    const { client } = await connectModernClient(target());
    try {
      const raw = await client.request(
        { method: 'tools/call', params: { name: 'ask_sampling', arguments: {} } },
        { allowInputRequired: true },
      );
      expect(raw).toMatchObject({
        resultType: 'input_required',
        inputRequests: { sample: { method: 'sampling/createMessage' } },
      });
    } finally {
      await client.close();
    }
    const bare = await connectModernClient(target(), { capabilities: {} });
    try {
      await expect(
        bare.client.callTool({ name: 'ask_elicitation', arguments: {} }),
      ).rejects.toMatchObject({
        code: -32021,
      });
    } finally {
      await bare.client.close();
    }
  });

  it('fixture://counter: subscriptions/listen acknowledges, then delivers resources/updated on touch', async () => {
    const { client } = await connectModernClient(target());
    try {
      const updates: string[] = [];
      client.setNotificationHandler('notifications/resources/updated', async (n) => {
        updates.push(n.params.uri);
      });
      const subscription = await client.listen({ resourceSubscriptions: ['fixture://counter'] });
      expect(subscription.honoredFilter.resourceSubscriptions).toEqual(['fixture://counter']);
      const counter = async () => {
        const [content] = (await client.readResource({ uri: 'fixture://counter' })).contents;
        return Number(content && 'text' in content ? content.text : NaN);
      };
      const before = await counter();
      await client.callTool({ name: 'touch', arguments: {} });
      await expect.poll(() => updates, { timeout: 5_000 }).toContain('fixture://counter');
      expect(await counter()).toBe(before + 1);
      await subscription.close();
      expect(await subscription.closed).toBe('local');
    } finally {
      await client.close();
    }
  });
});

describe('modern fixture served to a 2025 client', () => {
  it('over stdio the SDK shim turns input_required into real server→client requests', async () => {
    const { client, answers } = await connectModernClient(stdioTarget, { era: 'legacy' });
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe('2025-11-25');
      expect(firstText(await client.callTool({ name: 'ask_two', arguments: {} }))).toBe(
        'two: elicited={"answer":"answer-1"} sampled=sampled text',
      );
      expect(firstText(await client.callTool({ name: 'ask_roots', arguments: {} }))).toBe(
        'roots: file:///fixture-root',
      );
      expect(answers.roots).toBe(1);
    } finally {
      await client.close();
    }
  });
});
