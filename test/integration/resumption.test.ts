import { afterEach, describe, expect, it } from 'vitest';
import {
  connectClient,
  cutMidCall,
  startGateway,
  initializeRequest,
  ACCEPT_JSON_AND_SSE as ACCEPT,
  tcpRelay,
} from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/*
 * Resumable streams: a client whose SSE stream is cut mid-response reconnects with Last-Event-ID
 * and gets exactly what it missed, nothing lost and nothing twice.
 */

interface SseEvent {
  id?: string;
  data: string;
}

/** Reads SSE events from a fetch body until `until` says stop or the body ends. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  until: (events: SseEvent[]) => boolean,
): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: SseEvent = { data: '' };
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) event.id = line.slice(4);
          else if (line.startsWith('data:')) event.data += line.slice(5).trim();
        }
        if (event.id !== undefined || event.data) events.push(event);
      }
      if (until(events)) break;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return events;
}

describe('Streamable HTTP resumption', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  });

  async function gateway(): Promise<RunningGateway> {
    const gw = await startGateway();
    cleanup.push(() => gw.close());
    return gw;
  }

  it('replays the rest of a POST stream after Last-Event-ID, nothing lost or duplicated', async () => {
    const gw = await gateway();
    const init = await fetch(gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT },
      body: JSON.stringify(
        initializeRequest({ name: 'raw', protocolVersion: '2025-11-25', id: 0 }),
      ),
    });
    await init.text();
    const session = init.headers.get('mcp-session-id')!;
    const headers = {
      'content-type': 'application/json',
      accept: ACCEPT,
      'mcp-session-id': session,
    };

    const controller = new AbortController();
    const post = await fetch(gw.url, {
      method: 'POST',
      headers,
      signal: controller.signal,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'long',
        method: 'tools/call',
        params: {
          name: 'trigger-long-running-operation',
          arguments: { duration: 1.5, steps: 6 },
          _meta: { progressToken: 'tok' },
        },
      }),
    });
    expect(post.headers.get('content-type')).toBe('text/event-stream');
    const first = await readEvents(
      post.body!,
      (events) => events.filter((e) => e.data).length >= 2,
    );
    controller.abort();
    expect(first[0]).toMatchObject({ data: '' }); // the priming event: an id, no data
    const lastId = first[first.length - 1]!.id!;

    // Let more progress happen while nobody listens, then resume.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const resumed = await fetch(gw.url, {
      method: 'GET',
      headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'last-event-id': lastId },
    });
    expect(resumed.status).toBe(200);
    const rest = await readEvents(resumed.body!, () => false);

    const messages = [...first, ...rest]
      .filter((e) => e.data)
      .map(
        (e) =>
          JSON.parse(e.data) as { method?: string; id?: string; params?: { progress: number } },
      );
    const progress = messages
      .filter((m) => m.method === 'notifications/progress')
      .map((m) => m.params!.progress);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
    expect(messages.filter((m) => m.id === 'long')).toHaveLength(1);
    const ids = [...first, ...rest].map((e) => e.id).filter(Boolean);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('answers an unknown Last-Event-ID with 400', async () => {
    const gw = await gateway();
    const init = await fetch(gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT },
      body: JSON.stringify(
        initializeRequest({ name: 'raw', protocolVersion: '2025-11-25', id: 0 }),
      ),
    });
    await init.text();
    const res = await fetch(gw.url, {
      method: 'GET',
      headers: {
        accept: 'text/event-stream',
        'mcp-session-id': init.headers.get('mcp-session-id')!,
        'last-event-id': 'nonsense',
      },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
      'not an event id',
    );
  });

  it('lets the SDK client ride out a cut connection mid-call', async () => {
    const gw = await gateway();
    const proxy = await tcpRelay(Number(gw.url.port));
    cleanup.push(() => proxy.close());
    const client = await connectClient(new URL(`http://127.0.0.1:${proxy.port}/mcp`));
    cleanup.push(() => client.close());

    const { progress, result } = await cutMidCall(client, proxy);
    expect(JSON.stringify(result)).toContain('Long running operation completed');
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
