import pino from 'pino';
import { channels } from '../core/diagnostics.js';
import type { JSONRPCRequest } from '../core/jsonrpc.js';
import { errorLabelOf } from '../core/jsonrpc.js';
import { GatewayError } from '../core/errors.js';
import type { Policy } from '../core/policy.js';
import { targetOf } from './mcp-names.js';

/*
 * The audit log: one JSON line per tool call, resource read and prompt get, and one per
 * authentication decision (let in or refused). Calls are audited by a policy, not a diagnostics subscriber, because only the
 * chain sees what a call names (tool, prompt, URI), its arguments and the principal; the
 * request events carry none of that, on purpose (they stay cheap). Auth failures happen before
 * any session, so they come from the `auth:failure` event.
 */

export interface AuditOptions {
  /** `stdout`, `stderr`, or a file path (appended to). @default 'stderr' */
  destination?: string;
  /** Put call arguments in the records; they may hold personal data. @default false */
  includeArguments?: boolean;
}

/** One line of the audit log. */
export interface AuditRecord {
  /** ISO 8601, added by the writer. */
  time?: string;
  event: 'call' | 'auth.failure' | 'auth.success';
  method?: string;
  /** Tool or prompt name, as the client named it. */
  name?: string;
  /** The name its backend knows it by, when that differs (a prefix, a rename, a shortened name). */
  backendName?: string;
  uri?: string;
  principal?: string | null;
  session?: string;
  transport?: string;
  backend?: string;
  /** `ok`, `error` (the reply was an error, or a tool reported `isError`), or `cancelled`. */
  outcome?: 'ok' | 'error' | 'cancelled';
  /** The gateway's error code, the JSON-RPC code, or `tool_error`. */
  error?: string | number;
  durationMs?: number;
  /** From the `traceparent` forwarded with the call, when tracing (or the client) set one. */
  traceId?: string;
  arguments?: unknown;
  reason?: string;
}

export interface Audit {
  readonly policy: Policy;
  subscribe(): void;
  unsubscribe(): void;
  /** Unsubscribes and flushes what is buffered. */
  close(): Promise<void>;
}

const AUDITED = new Set(['tools/call', 'resources/read', 'prompts/get']);

function traceIdOf(message: JSONRPCRequest): string | undefined {
  const traceparent = message.params?._meta?.traceparent;
  if (typeof traceparent !== 'string') return undefined;
  const match = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent);
  return match?.[1];
}

export function createAudit(options: AuditOptions = {}): Audit {
  const where = options.destination ?? 'stderr';
  const stream = pino.destination({
    dest: where === 'stdout' ? 1 : where === 'stderr' ? 2 : where,
    sync: false,
    mkdir: true,
  });
  // One JSON line per record, time first; pino's own fields (level, msg) mean nothing here.
  const write = (record: AuditRecord) =>
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);

  const policy: Policy = async function audit(ctx, next) {
    if (!AUDITED.has(ctx.message.method)) return next();
    const message = ctx.message;
    const params = message.params;
    const started = performance.now();
    const record: AuditRecord = {
      event: 'call',
      method: message.method,
      ...targetOf(message),
      ...(ctx.session && { session: ctx.session.id }),
      transport: ctx.transport,
    };
    if (options.includeArguments && params?.arguments !== undefined)
      record.arguments = params.arguments;
    const finish = (outcome: AuditRecord['outcome'], error?: string | number) => {
      // The route is known once the target has run: where the call went, under which name.
      record.backend = ctx.backend ?? 'unknown';
      if (ctx.route?.name !== undefined && ctx.route.name !== record.name)
        record.backendName = ctx.route.name;
      record.principal = ctx.principal?.id ?? null;
      record.outcome = outcome;
      if (error !== undefined) record.error = error;
      record.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      // Read after next(): a tracing policy ahead of this one has put its context there by then.
      const traceId = traceIdOf(ctx.message);
      if (traceId) record.traceId = traceId;
      write(record);
    };
    try {
      const outcome = await next();
      if (outcome === undefined) finish('cancelled');
      else if ('error' in outcome) finish('error', errorLabelOf(outcome));
      else if (outcome.result.isError === true) finish('error', 'tool_error');
      else finish('ok');
      return outcome;
    } catch (error) {
      finish('error', error instanceof GatewayError ? error.code : 'error');
      throw error;
    }
  };

  const onAuthFailure = ({ reason, transport }: { reason: string; transport: string }) => {
    write({ event: 'auth.failure', reason, transport, outcome: 'error' });
  };
  const onAuthSuccess = ({
    principal,
    via,
    transport,
  }: {
    principal: string;
    via: string;
    transport: string;
  }) => {
    write({ event: 'auth.success', principal, reason: via, transport, outcome: 'ok' });
  };

  let subscribed = false;
  return {
    policy,
    subscribe() {
      if (subscribed) return;
      subscribed = true;
      channels.authFailure.subscribe(onAuthFailure);
      channels.authSuccess.subscribe(onAuthSuccess);
    },
    unsubscribe() {
      if (!subscribed) return;
      subscribed = false;
      channels.authFailure.unsubscribe(onAuthFailure);
      channels.authSuccess.unsubscribe(onAuthSuccess);
    },
    async close() {
      this.unsubscribe();
      // The standard streams stay open (others write there too); a file is ended once its
      // writes in flight are done.
      if (where === 'stdout' || where === 'stderr') return;
      await new Promise<void>((resolve) => {
        stream.once('close', () => resolve());
        stream.end();
      });
    },
  };
}
