import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { request } from 'node:http';
import {
  ACCEPT_JSON_AND_SSE,
  FIXTURES,
  connectClient,
  initializeRequest,
  isAlive,
  startGateway,
  waitFor,
} from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

function text(result: unknown): string {
  return (result as { content: Array<{ text?: string }> }).content
    .map((c) => c.text ?? '')
    .join('');
}

const probe = {
  transport: 'stdio' as const,
  command: process.execPath,
  args: [join(FIXTURES, 'probe-server.mjs')],
  killGraceMs: 500,
};

describe('sessions', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  });

  async function gateway(backend?: Parameters<typeof startGateway>[0]): Promise<RunningGateway> {
    const gw = await startGateway(backend);
    cleanup.push(() => gw.close());
    return gw;
  }

  async function client(gw: RunningGateway, setup?: (c: Client) => void): Promise<Client> {
    const c = await connectClient(gw.url, undefined, setup);
    cleanup.push(() => c.close());
    return c;
  }

  it('forwards a cancellation to the backend, which stops the call; the session goes on', async () => {
    const gw = await gateway(probe);
    const c = await client(gw);
    const controller = new AbortController();
    const call = c.callTool({ name: 'wait', arguments: { ms: 20_000 } }, undefined, {
      signal: controller.signal,
    });
    await waitFor(
      () => gw.gateway.sessions()[0]?.inFlight === 1,
      5000,
      'the call to reach the gateway',
    );
    controller.abort('user gave up');
    await expect(call).rejects.toThrow();
    await waitFor(
      () => gw.gateway.sessions()[0]?.inFlight === 0,
      5000,
      'the gateway to drop the cancelled call',
    );
    // The backend saw a notifications/cancelled for the id it knew the request by.
    const seen = JSON.parse(
      text(await c.callTool({ name: 'cancellations', arguments: {} })),
    ) as unknown[];
    expect(seen).toHaveLength(1);
  });

  it('keeps two concurrent sessions apart: own processes, own progress, own sampling requests', async () => {
    const gw = await gateway();
    const asked = { a: 0, b: 0 };
    const handler = (who: 'a' | 'b') => (c: Client) =>
      c.setRequestHandler(CreateMessageRequestSchema, async () => {
        asked[who] += 1;
        return {
          model: `model-${who}`,
          role: 'assistant',
          content: { type: 'text', text: `answer from ${who}` },
        };
      });
    const a = await client(gw, handler('a'));
    const b = await client(gw, handler('b'));
    const [sa, sb] = gw.gateway.sessions();
    expect(sa!.pid).not.toBe(sb!.pid);

    const progress = { a: [] as number[], b: [] as number[] };
    const [ra, rb, sampleA] = await Promise.all([
      a.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } },
        undefined,
        {
          onprogress: (p) => progress.a.push(p.progress),
        },
      ),
      b.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 2 } },
        undefined,
        {
          onprogress: (p) => progress.b.push(p.progress),
        },
      ),
      a.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'only a' } }),
    ]);
    expect(text(ra)).toContain('Steps: 3');
    expect(text(rb)).toContain('Steps: 2');
    expect(progress).toEqual({ a: [1, 2, 3], b: [1, 2] });
    expect(text(sampleA)).toContain('answer from a');
    expect(asked).toEqual({ a: 1, b: 0 });

    const sampleB = await b.callTool({
      name: 'trigger-sampling-request',
      arguments: { prompt: 'only b' },
    });
    expect(text(sampleB)).toContain('answer from b');
    expect(asked).toEqual({ a: 1, b: 1 });
  });

  it('fails a call promptly when its backend is killed, and serves new sessions afterwards', async () => {
    const gw = await gateway();
    const c = await client(gw);
    const [session] = gw.gateway.sessions();
    const call = c.callTool({
      name: 'trigger-long-running-operation',
      arguments: { duration: 20, steps: 2 },
    });
    await waitFor(
      () => gw.gateway.sessions()[0]?.inFlight === 1,
      5000,
      'the call to reach the gateway',
    );
    const killedAt = Date.now();
    process.kill(session!.pid!, 'SIGKILL');
    await expect(call).rejects.toThrow(/Backend exited: everything exited with signal SIGKILL/);
    expect(Date.now() - killedAt).toBeLessThan(5000);
    await waitFor(() => gw.gateway.sessions().length === 0, 5000, 'the dead session to be removed');

    const fresh = await client(gw);
    expect(
      text(await fresh.callTool({ name: 'echo', arguments: { message: 'still here' } })),
    ).toContain('still here');
  });

  it('ends the backend process when the client ends its session', async () => {
    const gw = await gateway();
    const c = await client(gw);
    const pid = gw.gateway.sessions()[0]!.pid!;
    expect(isAlive(pid)).toBe(true);
    await (c.transport as unknown as { terminateSession(): Promise<void> }).terminateSession();
    await waitFor(() => !isAlive(pid), 5000, 'the backend process to end');
    expect(gw.gateway.sessions()).toHaveLength(0);
  });

  it('closes a session whose client left before the answer to its initialize', async () => {
    // The backend takes 1.5 s to start, so the client can go away while initialize waits on it;
    // the session id would have gone out with that answer, so no client can ever use the session.
    const gw = await gateway({ ...probe, args: [...probe.args, '--start-delay=1500'] });
    const post = request(gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT_JSON_AND_SSE },
    });
    post.on('error', () => {});
    post.end(JSON.stringify(initializeRequest()));
    await waitFor(
      () => gw.gateway.sessions()[0]?.pid !== undefined,
      5000,
      'the session to open, its backend starting',
    );
    const pid = gw.gateway.sessions()[0]!.pid!;
    post.destroy();
    await waitFor(() => gw.gateway.sessions().length === 0, 5000, 'the session to close');
    await waitFor(() => !isAlive(pid), 5000, 'its backend process to end');
    // The gateway goes on serving new sessions.
    const c = await client(gw);
    expect((await c.listTools()).tools.length).toBeGreaterThan(0);
  });

  it('ends every backend process when the gateway closes', async () => {
    const gw = await gateway();
    await client(gw);
    await client(gw);
    const pids = gw.gateway.sessions().map((s) => s.pid!);
    expect(pids).toHaveLength(2);
    await gw.close();
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  });
});
