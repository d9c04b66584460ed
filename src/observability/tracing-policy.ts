import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, TextMapGetter, Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import type { JSONRPCRequest } from '../core/jsonrpc.js';
import type { MessageContext, Policy } from '../core/policy.js';
import { targetOf } from './mcp-names.js';

export interface TracingPolicyOptions {
  tracer: Tracer;
  /** The backend a request goes to, for the spans' `mcp_bridge.backend`. @default `unknown` */
  backendFor?: (ctx: MessageContext) => string;
}

/** Where W3C trace context may come from: `params._meta`, then (when the core passes them on) the HTTP request's headers. */
type Carrier = { meta?: Record<string, unknown>; headers?: Record<string, unknown> };

const getter: TextMapGetter<Carrier> = {
  keys: (carrier) => [...Object.keys(carrier.meta ?? {}), ...Object.keys(carrier.headers ?? {})],
  get: (carrier, key) => {
    const value = carrier.meta?.[key] ?? carrier.headers?.[key];
    if (typeof value === 'string') return value;
    return Array.isArray(value) && typeof value[0] === 'string' ? value[0] : undefined;
  },
};

const propagator = new W3CTraceContextPropagator();

/**
 * A span for every request a client sends (kind SERVER, named `<method> [<tool, prompt or URI>]`),
 * and a child span for its forward to the backend (kind CLIENT), whose context the backend
 * receives as `params._meta.traceparent` (and `tracestate`), as MCP's trace context convention
 * has it. A `traceparent` the client put in `params._meta`, or in the HTTP request's headers, is
 * the parent, so the client's trace id is kept.
 *
 * Attribute names follow OpenTelemetry's MCP semantic conventions (`mcp.method.name`,
 * `mcp.session.id`, `jsonrpc.request.id`, `gen_ai.tool.name`, …), written out rather than imported
 * from the conventions' incubating entry point, whose names may still change.
 *
 * The forwarded request's `params._meta` is replaced by a copy holding our context; the message
 * object belongs to this one request, and the policy chain has no other way to change what is
 * forwarded.
 */
export function tracingPolicy(options: TracingPolicyOptions): Policy {
  const { tracer } = options;
  return async function tracing(ctx, next) {
    if (ctx.direction !== 'to-server' || !('id' in ctx.message)) return next();
    const message = ctx.message as JSONRPCRequest;
    const params = message.params as Record<string, unknown> | undefined;
    const meta = params?._meta as Record<string, unknown> | undefined;
    const headers = (ctx as { requestInfo?: { headers?: Record<string, unknown> } }).requestInfo
      ?.headers;
    const parent = propagator.extract(ROOT_CONTEXT, { meta, headers }, getter);
    const backend = options.backendFor?.(ctx) ?? 'unknown';
    const target = targetOf(message);
    const attributes: Attributes = {
      'mcp.method.name': message.method,
      'mcp.session.id': ctx.sessionId,
      'jsonrpc.request.id': String(message.id),
      'network.transport': ctx.transport,
      'mcp_bridge.backend': backend,
    };
    if (ctx.principal) attributes['enduser.id'] = ctx.principal.id;
    if (target?.uri !== undefined) attributes['mcp.resource.uri'] = target.uri;
    if (target?.name !== undefined) {
      attributes[message.method === 'tools/call' ? 'gen_ai.tool.name' : 'gen_ai.prompt.name'] =
        target.name;
    }
    const label = target?.name ?? target?.uri;
    const span = tracer.startSpan(
      label === undefined ? message.method : `${message.method} ${label}`,
      { kind: SpanKind.SERVER, attributes },
      parent,
    );
    const forward = tracer.startSpan(
      `forward ${message.method} to ${backend}`,
      {
        kind: SpanKind.CLIENT,
        attributes: { 'mcp.method.name': message.method, 'mcp_bridge.backend': backend },
      },
      trace.setSpan(parent, span),
    );
    if (params === undefined || (typeof params === 'object' && !Array.isArray(params))) {
      const context: Record<string, string> = {};
      propagator.inject(trace.setSpan(ROOT_CONTEXT, forward), context, {
        set: (carrier, key, value) => (carrier[key] = value),
      });
      (message as { params?: Record<string, unknown> }).params = {
        ...params,
        _meta: { ...meta, ...context },
      };
    }
    const traceId = span.spanContext().traceId;
    const started = performance.now();
    let code: string | number | undefined;
    try {
      const outcome = await next();
      if (outcome && 'error' in outcome) {
        code = (outcome.error.data as { code?: string } | undefined)?.code ?? outcome.error.code;
        for (const s of [forward, span]) {
          s.setAttribute('rpc.jsonrpc.error_code', outcome.error.code);
          s.setAttribute(ATTR_ERROR_TYPE, String(code));
          s.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error.message });
        }
      }
      return outcome;
    } catch (error) {
      code = (error as { code?: string }).code ?? 'error';
      for (const s of [forward, span]) {
        s.recordException(error as Error);
        s.setAttribute(ATTR_ERROR_TYPE, String(code));
        s.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      }
      throw error;
    } finally {
      forward.end();
      span.end();
      ctx.log.debug(
        {
          request: message.id,
          method: message.method,
          backend,
          trace_id: traceId,
          span_id: span.spanContext().spanId,
          durationMs: Math.round(performance.now() - started),
          error: code,
        },
        'request traced',
      );
    }
  };
}
