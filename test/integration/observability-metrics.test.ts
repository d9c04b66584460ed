import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EmptyResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { channels } from '../../src/core/diagnostics.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { connectClient, waitFor, initializeRequest } from '../helpers.js';
import { scrape, startObservedGateway } from '../observability-helpers.js';
import type { ObservedGateway } from '../observability-helpers.js';

/*
 * /metrics on the admin listener, after real traffic through a real gateway to server-everything:
 * every counter and histogram moves by exactly what the traffic was.
 */

const ECHO = { method: 'tools/call', backend: 'everything', direction: 'to-server' };

describe('metrics on the admin listener', () => {
  let running: ObservedGateway;
  beforeAll(async () => {
    running = await startObservedGateway();
  });
  afterAll(async () => {
    await running?.close();
  });

  it('counts requests by method, backend and status, with their durations', async () => {
    const before = await scrape(running.admin);
    expect(before.value('mcp_gateway_requests_total')).toBe(0);
    expect(before.text).toContain('# TYPE mcp_gateway_request_duration_seconds histogram');

    const client: Client = await connectClient(running.url);
    try {
      for (let i = 0; i < 3; i++) {
        const result = await client.callTool({ name: 'echo', arguments: { message: `m${i}` } });
        expect(result.content).toEqual([{ type: 'text', text: `Echo: m${i}` }]);
      }
      // Not a method of MCP: the backend answers "method not found", labelled `other`.
      await expect(
        client.request({ method: 'bogus/method' } as never, EmptyResultSchema),
      ).rejects.toThrow();

      const after = await scrape(running.admin);
      expect(after.value('mcp_gateway_requests_total', { ...ECHO, status: 'ok' })).toBe(3);
      expect(
        after.value('mcp_gateway_requests_total', {
          method: 'other',
          backend: 'everything',
          status: '-32601',
        }),
      ).toBe(1);
      expect(
        after.value('mcp_gateway_requests_total', { method: 'initialize', status: 'ok' }),
      ).toBe(1);
      const labels = { method: 'tools/call', backend: 'everything' };
      expect(after.value('mcp_gateway_request_duration_seconds_count', labels)).toBe(3);
      expect(
        after.value('mcp_gateway_request_duration_seconds_bucket', { ...labels, le: '+Inf' }),
      ).toBe(3);
      expect(after.value('mcp_gateway_request_duration_seconds_sum', labels)).toBeGreaterThan(0);
      // Buckets are cumulative: none holds more than +Inf.
      const buckets = after.samples.filter(
        (s) =>
          s.name === 'mcp_gateway_request_duration_seconds_bucket' &&
          s.labels.method === 'tools/call',
      );
      expect(buckets.length).toBeGreaterThan(5);
      for (const b of buckets) expect(b.value).toBeLessThanOrEqual(3);
      expect(after.value('mcp_gateway_requests_in_flight')).toBe(0);

      expect(
        after.value('mcp_gateway_sessions_active', {
          transport: 'streamable-http',
          backend: 'everything',
        }),
      ).toBe(1);
      expect(after.value('mcp_gateway_sessions_total', { transport: 'streamable-http' })).toBe(1);
      expect(after.value('mcp_gateway_backend_processes_running', { backend: 'everything' })).toBe(
        1,
      );
      expect(after.value('mcp_gateway_backend_state', { backend: 'everything', state: 'up' })).toBe(
        1,
      );
      expect(
        after.value('mcp_gateway_backend_state', { backend: 'everything', state: 'down' }),
      ).toBe(0);
    } finally {
      // DELETE: the SDK client's close() alone leaves the session to the idle sweep.
      await (client.transport as StreamableHTTPClientTransport).terminateSession();
      await client.close();
    }
    await waitFor(() => running.gateway.sessions().length === 0, 5000, 'the session to end');
    const closed = await scrape(running.admin);
    expect(closed.value('mcp_gateway_sessions_active')).toBe(0);
    await waitFor(
      () => running.gateway.backends()[0]!.processes === 0,
      5000,
      'the backend process to end',
    );
    const exited = await scrape(running.admin);
    expect(exited.value('mcp_gateway_backend_processes_running')).toBe(0);
    expect(
      exited.value('mcp_gateway_backend_processes_started_total', { backend: 'everything' }),
    ).toBe(1);
    expect(
      exited.value('mcp_gateway_backend_processes_exited_total', { backend: 'everything' }),
    ).toBe(1);
  });

  it('counts the exact payload bytes of a Streamable HTTP exchange', async () => {
    const before = await scrape(running.admin);
    const body = JSON.stringify(
      initializeRequest({ name: 'bytes', protocolVersion: '2025-06-18' }),
    );
    const res = await fetch(running.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body,
    });
    expect(res.headers.get('content-type')).toBe('application/json');
    const reply = await res.arrayBuffer();
    const session = res.headers.get('mcp-session-id')!;
    const after = await scrape(running.admin);
    const delta = (direction: string) =>
      after.value('mcp_gateway_bytes_total', { transport: 'streamable-http', direction }) -
      before.value('mcp_gateway_bytes_total', { transport: 'streamable-http', direction });
    expect(delta('in')).toBe(Buffer.byteLength(body));
    expect(delta('out')).toBe(reply.byteLength);
    // Each HTTP exchange is a connection while it is open.
    expect(
      after.value('mcp_gateway_connections_total', { transport: 'streamable-http' }) -
        before.value('mcp_gateway_connections_total', { transport: 'streamable-http' }),
    ).toBe(1);
    await fetch(running.url, { method: 'DELETE', headers: { 'mcp-session-id': session } });
  });

  it('counts WebSocket connections, frames and bytes', async () => {
    const before = await scrape(running.admin);
    const ws = new WebSocket(`ws://127.0.0.1:${running.url.port}/ws`, 'mcp');
    const received: string[] = [];
    ws.on('message', (data) => received.push(String(data)));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const sent = [
      initializeRequest({ name: 'ws', protocolVersion: '2025-06-18' }),
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 2, method: 'ping' },
    ].map((m) => JSON.stringify(m));
    ws.send(sent[0]!);
    await waitFor(() => received.length >= 1, 10_000, 'the initialize reply');
    ws.send(sent[1]!);
    ws.send(sent[2]!);
    await waitFor(() => received.some((r) => r.includes('"id":2')), 10_000, 'the ping reply');

    const during = await scrape(running.admin);
    const delta = (name: string, labels: Record<string, string>) =>
      during.value(name, labels) - before.value(name, labels);
    expect(delta('mcp_gateway_connections_total', { transport: 'websocket' })).toBe(1);
    expect(during.value('mcp_gateway_connections_active', { transport: 'websocket' })).toBe(1);
    const text = { type: 'text' };
    expect(delta('mcp_gateway_websocket_messages_total', { direction: 'inbound', ...text })).toBe(
      3,
    );
    expect(delta('mcp_gateway_websocket_bytes_total', { direction: 'inbound' })).toBe(
      sent.reduce((n, s) => n + Buffer.byteLength(s), 0),
    );
    expect(delta('mcp_gateway_websocket_messages_total', { direction: 'outbound', ...text })).toBe(
      received.length,
    );
    expect(delta('mcp_gateway_websocket_bytes_total', { direction: 'outbound' })).toBe(
      received.reduce((n, s) => n + Buffer.byteLength(s), 0),
    );
    expect(
      during.value('mcp_gateway_sessions_active', {
        transport: 'websocket',
        backend: 'everything',
      }),
    ).toBe(1);

    await new Promise((resolve) => {
      ws.once('close', resolve);
      ws.close(1000);
    });
    await waitFor(() => running.gateway.sessions().length === 0, 5000, 'the session to end');
    const closed = await scrape(running.admin);
    expect(closed.value('mcp_gateway_connections_active', { transport: 'websocket' })).toBe(0);
    expect(closed.value('mcp_gateway_sessions_active', { transport: 'websocket' })).toBe(0);
  });

  it('shows breaker states, rate-limit rejections and auth failures as the core publishes them', async () => {
    // Breakers, rate limits and auth are other policies' work; these are the events they publish.
    channels.breakerState.publish({ backend: 'everything', state: 'open' });
    channels.rateLimited.publish({ scope: 'ip', key: '127.0.0.1' });
    channels.rateLimited.publish({ scope: 'ip', key: '127.0.0.2' });
    channels.authFailure.publish({ reason: 'invalid_token', transport: 'streamable-http' });
    let m = await scrape(running.admin);
    expect(m.value('mcp_gateway_circuit_breaker_state', { backend: 'everything' })).toBe(1);
    expect(m.value('mcp_gateway_rate_limit_exceeded_total', { scope: 'ip' })).toBe(2);
    // The key is not a label: it is unbounded.
    expect(m.text).not.toContain('127.0.0.2');
    expect(
      m.value('mcp_gateway_auth_failures_total', {
        reason: 'invalid_token',
        transport: 'streamable-http',
      }),
    ).toBe(1);
    channels.breakerState.publish({ backend: 'everything', state: 'half-open' });
    m = await scrape(running.admin);
    expect(m.value('mcp_gateway_circuit_breaker_state', { backend: 'everything' })).toBe(2);
    channels.breakerState.publish({ backend: 'everything', state: 'closed' });
    m = await scrape(running.admin);
    expect(m.value('mcp_gateway_circuit_breaker_state', { backend: 'everything' })).toBe(0);

    const overview = (await (await fetch(`${running.admin}/api/overview`)).json()) as {
      backends: Array<{ name: string; breaker: string; totals: { requests: number } }>;
      rateLimited: number;
      authFailures: number;
    };
    expect(overview.backends[0]).toMatchObject({ name: 'everything', breaker: 'closed' });
    expect(overview.backends[0]!.totals.requests).toBeGreaterThan(3);
    expect(overview.rateLimited).toBe(2);
    expect(overview.authFailures).toBe(1);
  });

  it('keeps a registry per instance, and stops counting once unsubscribed', async () => {
    // Two at once would throw "already registered" on prom-client's global registry.
    const a = createMetrics({ processMetrics: false });
    const b = createMetrics({ processMetrics: true });
    a.subscribe();
    channels.rateLimited.publish({ scope: 'tool', key: 'x' });
    a.unsubscribe();
    channels.rateLimited.publish({ scope: 'tool', key: 'x' });
    expect(await a.text()).toContain('mcp_gateway_rate_limit_exceeded_total{scope="tool"} 1');
    expect(await b.text()).not.toContain('scope="tool"');
    expect(await b.text()).toContain('process_cpu_user_seconds_total');
  });

  it('answers only its own paths, and refuses a foreign Host on the API (DNS rebinding)', async () => {
    expect((await fetch(`${running.admin}/nothing`)).status).toBe(404);
    expect((await fetch(`${running.admin}/metrics`, { method: 'POST' })).status).toBe(405);
    // The proxy passes MCP endpoints only, not the gateway's ops paths.
    expect((await fetch(`${running.admin}/gateway/health`)).status).toBe(404);
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      request(`${running.admin}/api/overview`, { headers: { host: 'evil.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(403);
    const origin = await fetch(`${running.admin}/gateway/mcp`, {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(origin.status).toBe(403);
  });
});
