import { describe, expect, it, vi } from 'vitest';
import type { JSONRPCMessage, JSONRPCRequest } from '../core/jsonrpc.js';
import { GatewayError } from '../core/errors.js';
import { RestClientTransport } from './client-transport.js';
import type { RestEvent } from './client-transport.js';

/** A transport whose "session" is the test: what the transport delivers lands in `sent`. */
function wired(options?: ConstructorParameters<typeof RestClientTransport>[0]) {
  const transport = new RestClientTransport(options);
  const sent: JSONRPCMessage[] = [];
  transport.onmessage = (m) => sent.push(m);
  return { transport, sent };
}

describe('RestClientTransport', () => {
  it('correlates concurrent requests with their replies by id, whatever the order', async () => {
    const { transport, sent } = wired();
    const one = transport.request('tools/list', undefined);
    const two = transport.request('tools/call', { name: 'echo' });
    const [a, b] = sent as JSONRPCRequest[];
    expect(a!.id).not.toBe(b!.id);
    await transport.send({ jsonrpc: '2.0', id: b!.id, result: { n: 2 } });
    await transport.send({ jsonrpc: '2.0', id: a!.id, result: { n: 1 } });
    expect(await one).toMatchObject({ result: { n: 1 } });
    expect(await two).toMatchObject({ result: { n: 2 } });
  });

  it('adds the progress token and reports progress with the request and the tool', async () => {
    const { transport, sent } = wired();
    void transport.request('tools/call', { name: 'slow' }, { progressToken: 't1', tool: 'slow' });
    const request = sent[0] as JSONRPCRequest;
    expect(request.params?._meta).toEqual({ progressToken: 't1' });
    const events: RestEvent[] = [];
    transport.subscribe((e) => events.push(e));
    await transport.send(
      {
        jsonrpc: '2.0',
        method: 'notifications/progress',
        params: { progressToken: 't1', progress: 1 },
      },
      { relatedRequestId: request.id },
    );
    expect(events).toEqual([
      {
        id: 1,
        event: 'progress',
        data: { request_id: String(request.id), tool: 'slow', progressToken: 't1', progress: 1 },
      },
    ]);
  });

  it('keeps events for the first stream, then replays only after Last-Event-ID', async () => {
    const { transport } = wired();
    await transport.send({
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: { data: 'a' },
    });
    await transport.send({ jsonrpc: '2.0', method: 'notifications/resources/list_changed' });
    const first: RestEvent[] = [];
    const stop = transport.subscribe((e) => first.push(e));
    expect(first.map((e) => e.event)).toEqual(['log', 'notification']);
    stop();
    const second: RestEvent[] = [];
    transport.subscribe((e) => second.push(e));
    expect(second).toEqual([]);
    const resumed: RestEvent[] = [];
    transport.subscribe((e) => resumed.push(e), 1);
    expect(resumed.map((e) => e.id)).toEqual([2]);
  });

  it('surfaces a server request, delivers its answer once, and answers it itself on timeout', async () => {
    vi.useFakeTimers();
    try {
      const { transport, sent } = wired({ serverRequestTimeoutMs: 1000 });
      const events: RestEvent[] = [];
      transport.subscribe((e) => events.push(e));
      await transport.send({ jsonrpc: '2.0', id: 7, method: 'sampling/createMessage', params: {} });
      expect(events[0]).toMatchObject({
        event: 'server_request',
        data: { request_id: '7', method: 'sampling/createMessage' },
      });
      expect(transport.pendingServerRequests).toBe(1);
      expect(transport.answer('7', { result: { ok: true } })).toBe(true);
      expect(transport.answer('7', { result: { ok: true } })).toBe(false);
      expect(sent).toEqual([{ jsonrpc: '2.0', id: 7, result: { ok: true } }]);

      await transport.send({ jsonrpc: '2.0', id: 8, method: 'roots/list' });
      vi.advanceTimersByTime(1000);
      expect(sent[1]).toMatchObject({ id: 8, error: { code: -32001 } });
      expect(JSON.stringify(sent[1])).toContain('no REST client answered roots/list');
      expect(events.map((e) => e.event)).toContain('server_request_expired');
      expect(transport.answer('8', { result: {} })).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('re-sends a waiting server request to a stream that opens after the first went away', async () => {
    const { transport } = wired();
    const first: RestEvent[] = [];
    const stop = transport.subscribe((e) => first.push(e));
    await transport.send({ jsonrpc: '2.0', id: 3, method: 'elicitation/create', params: {} });
    stop();
    const second: RestEvent[] = [];
    transport.subscribe((e) => second.push(e));
    expect(second.map((e) => e.event)).toEqual(['server_request']);
    await transport.close();
  });

  it('fails what is waiting when the session closes, and refuses new requests', async () => {
    const { transport } = wired();
    const waiting = transport.request('tools/list', undefined);
    transport.ending({ reason: 'idle timeout' });
    await transport.close();
    await expect(waiting).rejects.toThrow(GatewayError);
    await expect(transport.request('ping', undefined)).rejects.toThrow(/idle timeout/);
  });

  it('cancels a request whose caller went away, telling the session', async () => {
    const { transport, sent } = wired();
    const abort = new AbortController();
    const pending = transport.request('tools/call', { name: 'slow' }, { signal: abort.signal });
    abort.abort();
    await expect(pending).rejects.toThrow(/cancelled/);
    expect(sent[1]).toMatchObject({
      method: 'notifications/cancelled',
      params: { requestId: (sent[0] as JSONRPCRequest).id },
    });
    // Regression: a signal aborted before the request (the caller left during the tool list)
    // sent the call anyway, and it ran to its end.
    await expect(
      transport.request('tools/call', { name: 'slow' }, { signal: abort.signal }),
    ).rejects.toThrow(/cancelled/);
    expect(sent).toHaveLength(2);
  });
});
