import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ACCEPT_JSON_AND_SSE,
  FIXTURES,
  initializeRequest,
  startGateway,
  waitFor,
} from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/*
 * Defects the fuzz harness found that no one had listed (docs/reliability.md), each kept found.
 */

const probe = {
  transport: 'stdio' as const,
  command: process.execPath,
  args: [join(FIXTURES, 'probe-server.mjs')],
  killGraceMs: 300,
};

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});

async function gateway(extra: Parameters<typeof startGateway>[1] = {}): Promise<RunningGateway> {
  const gw = await startGateway(probe, extra);
  cleanup.push(() => gw.close());
  return gw;
}

async function session(gw: RunningGateway): Promise<(body: unknown) => Promise<Response>> {
  const post = (body: unknown, id?: string) =>
    fetch(gw.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: ACCEPT_JSON_AND_SSE,
        ...(id && { 'mcp-session-id': id }),
      },
      body: JSON.stringify(body),
    });
  const init = await post(initializeRequest());
  await init.text();
  const id = init.headers.get('mcp-session-id')!;
  await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, id)).text();
  return (body) => post(body, id);
}

describe('what the fuzz harness found', () => {
  // SDK servers drop a request with a member JSON-RPC does not define: the caller waited.
  it('refuses a request with an unknown top-level member at once, naming it', async () => {
    const send = await session(await gateway());
    const res = await send({ jsonrpc: '2.0', id: 7, method: 'tools/list', extra: true });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { id: unknown; error: { code: number; message: string } };
    expect(body.id).toBe(7);
    expect(body.error.code).toBe(-32600);
    expect(body.error.message).toContain('"extra"');
  });

  // Its deadline was looked up on a plain object: `__proto__` found Object.prototype.
  it('gives a method named __proto__ the default deadline, not an instant timeout', async () => {
    const send = await session(await gateway());
    const res = await send({ jsonrpc: '2.0', id: 8, method: '__proto__' });
    const body = (await res.json()) as { error: { code: number; data?: { code?: string } } };
    // The backend's own answer (method not found), not the gateway's GATEWAY_TIMEOUT.
    expect(body.error.code).toBe(-32601);
    expect(body.error.data?.code).toBeUndefined();
  });

  // A second initialize on a connection transport started the backends again, and the first
  // ones outlived the session.
  it('answers a second initialize on one connection with an error and starts nothing', async () => {
    const gw = await gateway({
      backends: { one: probe, two: probe },
      server: { host: '127.0.0.1', port: 0, path: '/mcp', unixSocket: undefined },
    });
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(`ws://127.0.0.1:${gw.url.port}/ws`, 'mcp');
    cleanup.push(async () => ws.close());
    const replies: Array<{ id?: unknown; error?: { message: string }; result?: unknown }> = [];
    ws.on('message', (data) => replies.push(JSON.parse(String(data))));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify(initializeRequest({ id: 1 })));
    await waitFor(() => replies.some((r) => r.id === 1), 10_000, 'the first initialize');
    await waitFor(
      () => Object.values(gw.gateway.sessions()[0]?.pids ?? {}).filter(Boolean).length === 2,
      10_000,
      'both backends up',
    );
    const before = gw.gateway.sessions()[0]!.pids;
    ws.send(JSON.stringify(initializeRequest({ id: 2 })));
    await waitFor(() => replies.some((r) => r.id === 2), 10_000, 'the second initialize');
    expect(replies.find((r) => r.id === 2)?.error?.message).toContain('already initialized');
    expect(gw.gateway.sessions()[0]!.pids).toEqual(before);
  });

  // Node destroyed the socket of a CONNECT without a word.
  it('answers an HTTP CONNECT with 405 and the JSON body instead of a bare close', async () => {
    const gw = await gateway();
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(gw.url.port), '127.0.0.1', () =>
        socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'),
      );
      let got = '';
      socket.on('data', (d) => (got += d));
      socket.on('end', () => resolve(got));
      socket.on('error', reject);
    });
    expect(text).toMatch(/^HTTP\/1\.1 405 /);
    expect(text).toContain('GATEWAY_METHOD_NOT_ALLOWED');
  });

  // A session refused for the process cap was counted as a failed start of the backend, which
  // then backed off as if in a crash loop: the next initialize got 502 "failing" even once a
  // process was free again.
  it('a session refused at the process cap does not put the backend into crash-loop backoff', async () => {
    const gw = await gateway({ processes: { max: 1 } });
    const post = (body: unknown, headers: Record<string, string> = {}, method = 'POST') =>
      fetch(gw.url, {
        method,
        headers: { 'content-type': 'application/json', accept: ACCEPT_JSON_AND_SSE, ...headers },
        ...(method === 'POST' && { body: JSON.stringify(body) }),
      });
    const first = await post(initializeRequest());
    await first.text();
    const id = first.headers.get('mcp-session-id')!;
    const refused = await post(initializeRequest());
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { data: { code: 'GATEWAY_CAPACITY' } } });
    // The one process ends with its session; the next initialize gets a session at once.
    await (await post(undefined, { 'mcp-session-id': id }, 'DELETE')).text();
    await waitFor(() => gw.gateway.sessions().length === 0, 5000, 'the first session to end');
    const again = await post(initializeRequest());
    expect(again.status).toBe(200);
    await again.text();
  });
});
