import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, TextMapGetter, Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import type { JSONRPCRequest } from '../core/jsonrpc.js';
import { errorLabelOf } from '../core/jsonrpc.js';
import { GatewayError } from '../core/errors.js';
import type { Policy, RequestContext } from '../core/policy.js';
import { targetOf } from './mcp-names.js';

export interface TracingPolicyOptions {
  tracer: Tracer;
}

/** The backend the request went to: the route a target recorded, else what the session is bound to. */
function backendOf(ctx: RequestContext): string {
  return ctx.backend ?? 'unknown';
}

/** Where W3C trace context comes from: the request's `params._meta`. */
type Carrier = { meta?: Record<string, unknown> };

const getter: TextMapGetter<Carrier> = {
  keys: (carrier) => Object.keys(carrier.meta ?? {}),
  get: (carrier, key) => {
    const value = carrier.meta?.[key];
    return typeof value === 'string' ? value : undefined;
  },
};

const propagator = new W3CTraceContextPropagator();

/**
 * A span for every request a client sends (kind SERVER, named `<method> [<tool, prompt or URI>]`),
 * and a child span for its forward to the backend (kind CLIENT), whose context the backend
 * receives as `params._meta.traceparent` (and `tracestate`), as MCP's trace context convention
 * has it. A `traceparent` the client put in `params._meta` is the parent, so the client's trace id is kept.
 *
 * Attribute names follow OpenTelemetry's MCP semantic conventions (`mcp.method.name`,
 * `mcp.session.id`, `jsonrpc.request.id`, `gen_ai.tool.name`, …), written out rather than imported
 * from the conventions' incubating entry point, whose names may still change.
 *
 * The request on the context is replaced by a copy whose `params._meta` holds our context, so
 * what is forwarded carries it. The backend attributes and the forward span's name are set once
 * the request has been routed: they come from the route the target recorded, never a name.
 */
export function tracingPolicy(options: TracingPolicyOptions): Policy {
  const { tracer } = options;
  return async function tracing(ctx, next) {
    const message: JSONRPCRequest = ctx.message;
    const params = message.params;
    const meta = params?._meta;
    const parent = propagator.extract(ROOT_CONTEXT, { meta }, getter);
    const target = targetOf(message);
    const attributes: Attributes = {
      'mcp.method.name': message.method,
      ...(ctx.session && { 'mcp.session.id': ctx.session.id }),
      'jsonrpc.request.id': String(message.id),
      'network.transport': ctx.transport,
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
    // Named once the route is known (after next()): the backend is the target's to choose.
    const forward = tracer.startSpan(
      `forward ${message.method}`,
      { kind: SpanKind.CLIENT, attributes: { 'mcp.method.name': message.method } },
      trace.setSpan(parent, span),
    );
    const context: Record<string, string> = {};
    propagator.inject(trace.setSpan(ROOT_CONTEXT, forward), context, {
      set: (carrier, key, value) => (carrier[key] = value),
    });
    ctx.message = { ...message, params: { ...params, _meta: { ...meta, ...context } } };
    const traceId = span.spanContext().traceId;
    const started = performance.now();
    let code: string | number | undefined;
    const routed = () => {
      const backend = backendOf(ctx);
      for (const s of [forward, span]) s.setAttribute('mcp_bridge.backend', backend);
      if (ctx.route?.name !== undefined && ctx.route.name !== target?.name)
        span.setAttribute('mcp_bridge.backend_name', ctx.route.name);
      forward.updateName(`forward ${message.method} to ${backend}`);
    };
    try {
      const outcome = await next();
      routed();
      if (outcome && 'error' in outcome) {
        code = errorLabelOf(outcome);
        for (const s of [forward, span]) {
          s.setAttribute('rpc.jsonrpc.error_code', outcome.error.code);
          s.setAttribute(ATTR_ERROR_TYPE, String(code));
          s.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error.message });
        }
      }
      return outcome;
    } catch (error) {
      routed();
      code = error instanceof GatewayError ? error.code : 'error';
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
          backend: backendOf(ctx),
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
