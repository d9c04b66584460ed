import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { channels } from '../../src/core/diagnostics.js';
import { createLogger } from '../../src/core/logger.js';
import { FIXTURES, connectClient, waitFor } from '../helpers.js';
import { startObservedGateway, startOtlpReceiver } from '../observability-helpers.js';
import type { ObservedGateway, OtlpReceiver, OtlpSpan } from '../observability-helpers.js';

/*
 * Tracing end to end: a client's W3C trace context goes through the gateway to a real backend
 * process, and the spans reach a local OTLP/HTTP receiver (JSON encoding), configured only by the
 * standard OTEL_* variables. The same calls are checked in the audit log and the gateway's logs.
 */

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const SERVER = 2;
const CLIENT = 3;

const tracer = {
  transport: 'stdio' as const,
  command: process.execPath,
  args: [join(FIXTURES, 'trace-server.mjs')],
  killGraceMs: 500,
};

function textOf(result: unknown): string {
  return ((result as { content: Array<{ text: string }> }).content[0] ?? { text: '' }).text;
}

describe('tracing, audit and logs', () => {
  let receiver: OtlpReceiver;
  let running: ObservedGateway;
  let client: Client;
  let dir: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-tracing-'));
    receiver = await startOtlpReceiver();
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = receiver.url;
    process.env.OTEL_SERVICE_NAME = 'bridge-under-test';
    running = await startObservedGateway(
      {
        backends: { tracer },
        admin: { enabled: false },
        tracing: { enabled: true },
        audit: {
          enabled: true,
          destination: join(dir, 'audit.jsonl'),
          includeArguments: true,
        },
      },
      createLogger({ level: 'debug', destination: join(dir, 'gateway.log') }),
    );
    client = await connectClient(running.url);
  });

  afterAll(async () => {
    // The gateway may have closed already (the audit test closes it to flush the log).
    await (client?.transport as StreamableHTTPClientTransport | undefined)
      ?.terminateSession()
      .catch(() => {});
    await client?.close();
    await running?.close();
    await receiver?.close();
    process.env = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  const spansOf = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);

  it("keeps the client's trace id, links the gateway and backend spans, and passes the context on", async () => {
    const result = await client.callTool({
      name: 'traceparent',
      arguments: {},
      _meta: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, tracestate: 'vendor=1' },
    });
    const received = JSON.parse(textOf(result)) as { traceparent: string; tracestate: string };
    const [, traceId, parentId, flags] = received.traceparent.split('-');
    expect(traceId).toBe(CLIENT_TRACE);
    expect(parentId).not.toBe(CLIENT_SPAN);
    expect(flags).toBe('01');
    expect(received.tracestate).toBe('vendor=1');

    await running.observability.tracing!.forceFlush();
    await waitFor(() => spansOf(CLIENT_TRACE).length >= 2, 10_000, 'the spans of the call');
    const spans = spansOf(CLIENT_TRACE);
    const request = spans.find((s) => s.kind === SERVER)!;
    const forward = spans.find((s) => s.kind === CLIENT)!;
    expect(request).toMatchObject({
      name: 'tools/call traceparent',
      parentSpanId: CLIENT_SPAN,
      attributes: {
        'mcp.method.name': 'tools/call',
        'gen_ai.tool.name': 'traceparent',
        'mcp_bridge.backend': 'tracer',
        'network.transport': 'streamable-http',
      },
    });
    expect(request.attributes['mcp.session.id']).toBe(running.gateway.sessions()[0]!.id);
    // The backend span is the request span's child, and the backend's parent.
    expect(forward.parentSpanId).toBe(request.spanId);
    expect(forward.name).toBe('forward tools/call to tracer');
    expect(forward.spanId).toBe(parentId);
    expect(request.resource['service.name']).toBe('bridge-under-test');
    expect(receiver.contentTypes[0]).toBe('application/json');
  });

  it('starts a trace for a client that sends none, and marks failed calls', async () => {
    const before = receiver.spans.length;
    const result = await client.callTool({ name: 'traceparent', arguments: {} });
    const { traceparent } = JSON.parse(textOf(result)) as { traceparent: string };
    const [, traceId, parentId] = traceparent.split('-');
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId).not.toBe(CLIENT_TRACE);

    const failed = await client.callTool({ name: 'fail', arguments: { why: 'because' } });
    expect(failed.isError).toBe(true);
    await running.observability.tracing!.forceFlush();
    await receiver.waitForSpans(before + 4);
    const request = spansOf(traceId!).find((s) => s.kind === SERVER)!;
    expect(request.parentSpanId).toBeUndefined();
    expect(spansOf(traceId!).find((s) => s.kind === CLIENT)!.spanId).toBe(parentId);
    // A tool's own error is a result, not a protocol error: the span stays unset.
    const fail = receiver.spans.find((s: OtlpSpan) => s.name === 'tools/call fail')!;
    expect(fail.status?.code ?? 0).toBe(0);
  });

  it('writes one audit record per call, with the trace id, and one per auth failure', async () => {
    channels.authFailure.publish({ reason: 'missing_token', transport: 'streamable-http' });
    await running.close();
    const records = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const calls = records.filter((r) => r.event === 'call');
    // tools/list and initialize are not audited; the three calls are.
    expect(calls.map((r) => r.name)).toEqual(['traceparent', 'traceparent', 'fail']);
    expect(calls[0]).toMatchObject({
      method: 'tools/call',
      name: 'traceparent',
      principal: null,
      transport: 'streamable-http',
      backend: 'tracer',
      outcome: 'ok',
      traceId: CLIENT_TRACE,
      arguments: {},
    });
    expect(typeof calls[0]!.session).toBe('string');
    expect(typeof calls[0]!.durationMs).toBe('number');
    expect(Date.parse(calls[0]!.time as string)).not.toBeNaN();
    expect(calls[2]).toMatchObject({
      outcome: 'error',
      error: 'tool_error',
      arguments: { why: 'because' },
    });
    expect(records.filter((r) => r.event === 'auth.failure')).toEqual([
      expect.objectContaining({ reason: 'missing_token', transport: 'streamable-http' }),
    ]);

    // The gateway's own log lines carry session, request id, backend and trace id.
    const lines = readFileSync(join(dir, 'gateway.log'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const traced = lines.find((l) => l.msg === 'request traced' && l.trace_id === CLIENT_TRACE);
    expect(traced).toMatchObject({
      session: calls[0]!.session,
      transport: 'streamable-http',
      backend: 'tracer',
      method: 'tools/call',
    });
    expect(traced!.request).toBeDefined();
  });
});
