import { describe, expect, it } from 'vitest';
import { GetStreamGate } from './get-stream-gate.js';
import type { JSONRPCMessage } from '../core/jsonrpc.js';

const initialized: JSONRPCMessage = { jsonrpc: '2.0', method: 'notifications/initialized' };
const call: JSONRPCMessage = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } };

/** A GET whose response the test hands over when it likes. */
function heldGet() {
  let answer!: (response: Response) => void;
  const response = new Promise<Response>((resolve) => (answer = resolve));
  return { fetch: async () => response, answer };
}

describe('GetStreamGate', () => {
  it('holds what follows initialized until the GET has its response, and a 405 opens it too', async () => {
    const gate = new GetStreamGate(60_000);
    const get = heldGet();
    const wrapped = gate.wrap(get.fetch);
    const sent: string[] = [];
    await gate.send(initialized, async () => {
      sent.push('initialized');
      void wrapped('http://backend/mcp', { method: 'GET' });
    });
    const pending = gate.send(call, async () => void sent.push('call'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual(['initialized']);
    get.answer(new Response(null, { status: 405 }));
    await pending;
    expect(sent).toEqual(['initialized', 'call']);
  });

  it('does not hold when no GET follows initialized', async () => {
    const gate = new GetStreamGate(60_000);
    const sent: string[] = [];
    await gate.send(initialized, async () => void sent.push('initialized'));
    await gate.send(call, async () => void sent.push('call'));
    expect(sent).toEqual(['initialized', 'call']);
  });

  it('holds for a bounded time when the GET never answers', async () => {
    const gate = new GetStreamGate(20);
    const wrapped = gate.wrap(heldGet().fetch);
    const sent: string[] = [];
    await gate.send(initialized, async () => {
      void wrapped('http://backend/mcp', { method: 'GET' });
    });
    await gate.send(call, async () => void sent.push('call'));
    expect(sent).toEqual(['call']);
  });

  it('never holds requests other than those after initialized, nor POSTs through its fetch', async () => {
    const gate = new GetStreamGate(60_000);
    const get = heldGet();
    const wrapped = gate.wrap(get.fetch);
    const sent: string[] = [];
    void wrapped('http://backend/mcp', { method: 'POST' });
    await gate.send(call, async () => void sent.push('call'));
    expect(sent).toEqual(['call']);
  });
});
