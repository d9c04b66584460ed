import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { connectClient, everythingStdio, startGateway, waitFor } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/*
 * stdio process models: one shared process for every session, and a pool with sessions pinned to
 * a process. What must hold: each session sees only its own replies, progress and server requests.
 */

function text(result: unknown): string {
  return (result as { content: Array<{ text?: string }> }).content
    .map((c) => c.text ?? '')
    .join('');
}

describe('stdio process models', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  });

  async function gateway(processModel: 'shared' | 'pool', poolSize = 3): Promise<RunningGateway> {
    const gw = await startGateway({ ...everythingStdio, processModel, poolSize });
    cleanup.push(() => gw.close());
    return gw;
  }

  it('shared: 50 concurrent sessions on one process, each sees only its own traffic', async () => {
    const gw = await gateway('shared');
    const asked: number[] = Array(50).fill(0);
    const clients: Client[] = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        connectClient(gw.url, undefined, (c) =>
          c.setRequestHandler(CreateMessageRequestSchema, async () => {
            asked[i]! += 1;
            return {
              model: 'm',
              role: 'assistant',
              content: { type: 'text', text: `answer for session ${i}` },
            };
          }),
        ),
      ),
    );
    cleanup.push(() => Promise.all(clients.map((c) => c.close())));
    const pids = new Set(gw.gateway.sessions().map((s) => s.pid));
    expect(gw.gateway.sessions()).toHaveLength(50);
    expect(pids.size).toBe(1);

    const samplers = new Set([3, 17, 42]);
    await Promise.all(
      clients.map(async (client, i) => {
        // Every SDK client numbers its requests the same way, so their ids and progress tokens
        // collide at the process unless the gateway keeps them apart.
        const echo = await client.callTool({ name: 'echo', arguments: { message: `from ${i}` } });
        expect(text(echo)).toBe(`Echo: from ${i}`);
        const progress: number[] = [];
        const long = await client.callTool(
          { name: 'trigger-long-running-operation', arguments: { duration: 0.02, steps: 2 } },
          undefined,
          { onprogress: (p) => progress.push(p.progress) },
        );
        expect(text(long)).toContain('Steps: 2');
        expect(progress).toEqual([1, 2]);
        if (samplers.has(i)) {
          const sampled = await client.callTool({
            name: 'trigger-sampling-request',
            arguments: { prompt: `p${i}` },
          });
          expect(text(sampled)).toContain(`answer for session ${i}`);
        }
      }),
    );
    expect(asked.map((n, i) => [i, n] as const).filter(([, n]) => n > 0)).toEqual([
      [3, 1],
      [17, 1],
      [42, 1],
    ]);
  });

  it('shared: a resource update reaches only the session that subscribed', async () => {
    const gw = await gateway('shared');
    const updates = { a: 0, b: 0 };
    const a = await connectClient(gw.url, undefined, (c) =>
      c.setNotificationHandler(ResourceUpdatedNotificationSchema, () => void (updates.a += 1)),
    );
    const b = await connectClient(gw.url, undefined, (c) =>
      c.setNotificationHandler(ResourceUpdatedNotificationSchema, () => void (updates.b += 1)),
    );
    cleanup.push(
      () => a.close(),
      () => b.close(),
    );
    await a.subscribeResource({ uri: 'demo://resource/dynamic/text/1' });
    await b.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
    try {
      await waitFor(
        () => updates.a > 0,
        12_000,
        'a resources/updated notification for the subscriber',
      );
    } finally {
      await b.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
    }
    expect(updates.b).toBe(0);
  });

  it('shared: a session that ends leaves the process serving the others', async () => {
    const gw = await gateway('shared');
    const a = await connectClient(gw.url);
    const b = await connectClient(gw.url);
    cleanup.push(() => b.close());
    const pid = gw.gateway.sessions()[0]!.pid;
    await (a.transport as unknown as { terminateSession(): Promise<void> }).terminateSession();
    await a.close();
    await waitFor(() => gw.gateway.sessions().length === 1, 5000, 'the ended session to leave');
    expect(text(await b.callTool({ name: 'echo', arguments: { message: 'b' } }))).toBe('Echo: b');
    expect(gw.gateway.sessions().every((s) => s.pid === pid)).toBe(true);
  });

  it('pool: sessions spread evenly over the processes and stay on theirs', async () => {
    const gw = await gateway('pool', 3);
    const clients = await Promise.all(Array.from({ length: 9 }, () => connectClient(gw.url)));
    cleanup.push(() => Promise.all(clients.map((c) => c.close())));
    const perPid = new Map<number | undefined, number>();
    for (const s of gw.gateway.sessions()) perPid.set(s.pid, (perPid.get(s.pid) ?? 0) + 1);
    expect([...perPid.values()]).toEqual([3, 3, 3]);
    const results = await Promise.all(
      clients.map((c, i) => c.callTool({ name: 'echo', arguments: { message: `${i}` } })),
    );
    expect(results.map(text)).toEqual(clients.map((_, i) => `Echo: ${i}`));
  });
});
