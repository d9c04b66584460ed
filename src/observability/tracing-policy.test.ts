import { describe, expect, it } from 'vitest';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { JSONRPCRequest } from '../core/jsonrpc.js';
import type { Outcome, RequestContext } from '../core/policy.js';
import { compose } from '../core/policy.js';
import { tracingPolicy } from './tracing-policy.js';
import { messageContext } from '../../test/contexts.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';

function setup() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const policy = tracingPolicy({ tracer: provider.getTracer('test') });
  const forwarded: Array<JSONRPCRequest['params']> = [];
  const run = compose([policy], async (ctx): Promise<Outcome> => {
    // What a federated target does: record where the request went.
    ctx.route = { backend: 'files', name: 'read' };
    forwarded.push(ctx.message.params);
    return { jsonrpc: '2.0', id: ctx.message.id, result: {} };
  });
  const ctx = (message: JSONRPCRequest): RequestContext =>
    messageContext({ message, session: { id: 's1', endpoint: '*' }, transport: 'streamable-http' });
  return { exporter, run, ctx, forwarded };
}

describe('tracingPolicy', () => {
  it("continues the client's trace from _meta and hands the backend the forward span", async () => {
    const { exporter, run, ctx, forwarded } = setup();
    await run(
      ctx({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 't', _meta: { progressToken: 7, traceparent: `00-${TRACE}-${PARENT}-01` } },
      }),
    );
    const [forward, request] = exporter.getFinishedSpans();
    expect(request!.spanContext().traceId).toBe(TRACE);
    expect(request!.parentSpanContext?.spanId).toBe(PARENT);
    const meta = (forwarded[0] as { _meta: { traceparent: string } })._meta;
    expect(meta.traceparent).toBe(`00-${TRACE}-${forward!.spanContext().spanId}-01`);
    expect(forwarded[0]).toMatchObject({ name: 't', _meta: { progressToken: 7 } });
  });

  it('names the backend from the route the target recorded, not from the name', async () => {
    const { exporter, run, ctx } = setup();
    await run(ctx({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'fs__read' } }));
    const [forward, request] = exporter.getFinishedSpans();
    expect(forward!.name).toBe('forward tools/call to files');
    expect(request!.attributes['mcp_bridge.backend']).toBe('files');
    expect(request!.attributes['mcp_bridge.backend_name']).toBe('read');
    expect(request!.attributes['gen_ai.tool.name']).toBe('fs__read');
  });

  it('marks a reply that is an error', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const run = compose([tracingPolicy({ tracer: provider.getTracer('t') })], async () => ({
      jsonrpc: '2.0' as const,
      id: 4,
      error: { code: -32603, message: 'boom', data: { code: 'GATEWAY_BACKEND_EXITED' } },
    }));
    await run(setup().ctx({ jsonrpc: '2.0', id: 4, method: 'tools/list' }));
    for (const span of exporter.getFinishedSpans()) {
      expect(span.status).toEqual({ code: 2, message: 'boom' });
      expect(span.attributes['error.type']).toBe('GATEWAY_BACKEND_EXITED');
    }
  });
});
