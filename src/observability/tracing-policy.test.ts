import { describe, expect, it } from 'vitest';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { JSONRPCRequest } from '../core/jsonrpc.js';
import type { MessageContext, Outcome } from '../core/policy.js';
import { compose } from '../core/policy.js';
import { tracingPolicy } from './tracing-policy.js';
import { messageContext } from '../../test/contexts.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';

function setup() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const policy = tracingPolicy({ tracer: provider.getTracer('test'), backendFor: () => 'b' });
  const forwarded: Array<JSONRPCRequest['params']> = [];
  const run = compose([policy], async (ctx): Promise<Outcome> => {
    forwarded.push((ctx.message as JSONRPCRequest).params);
    return { jsonrpc: '2.0', id: (ctx.message as JSONRPCRequest).id, result: {} };
  });
  const ctx = (message: JSONRPCRequest, extra: object = {}): MessageContext =>
    messageContext({ message, sessionId: 's1', transport: 'streamable-http', ...extra });
  return { exporter, run, ctx, forwarded };
}

describe('tracingPolicy', () => {
  it('takes the parent from HTTP headers when the core passes them (requestInfo)', async () => {
    const { exporter, run, ctx, forwarded } = setup();
    await run(
      ctx(
        { jsonrpc: '2.0', id: 1, method: 'ping' },
        { requestInfo: { headers: { traceparent: `00-${TRACE}-${PARENT}-01` } } },
      ),
    );
    const [forward, request] = exporter.getFinishedSpans();
    expect(request!.spanContext().traceId).toBe(TRACE);
    expect(request!.parentSpanContext?.spanId).toBe(PARENT);
    const meta = (forwarded[0] as { _meta: { traceparent: string } })._meta;
    expect(meta.traceparent).toBe(`00-${TRACE}-${forward!.spanContext().spanId}-01`);
  });

  it("keeps the request's own _meta fields, and prefers _meta over headers", async () => {
    const { exporter, run, ctx, forwarded } = setup();
    const other = '11111111111111111111111111111111';
    await run(
      ctx(
        {
          jsonrpc: '2.0',
          id: 2,
          method: 'tools/call',
          params: {
            name: 't',
            _meta: { progressToken: 7, traceparent: `00-${TRACE}-${PARENT}-01` },
          },
        },
        { requestInfo: { headers: { traceparent: `00-${other}-${PARENT}-01` } } },
      ),
    );
    expect(exporter.getFinishedSpans()[1]!.spanContext().traceId).toBe(TRACE);
    expect(forwarded[0]).toMatchObject({ name: 't', _meta: { progressToken: 7 } });
  });

  it('leaves server-to-client requests and notifications alone', async () => {
    const { exporter, run, ctx, forwarded } = setup();
    await run({ ...ctx({ jsonrpc: '2.0', id: 3, method: 'roots/list' }), direction: 'to-client' });
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(forwarded[0]).toBeUndefined();
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
