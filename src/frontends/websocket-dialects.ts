import type { JSONRPCErrorResponse, JSONRPCMessage, RequestId } from '../core/jsonrpc.js';
import { checkClientMessage, isReply, isRequest, readableId } from '../core/jsonrpc.js';
import { encodeMessage } from '../core/raw-json.js';

/*
 * The three ways a client may talk over /ws. Plain JSON-RPC in text frames is what the MCP SDK's
 * WebSocket transport speaks; the other two are the seed systems' wrappers, kept so that their
 * clients keep working:
 *
 *   control:  {"type":"create_session"|"attach_session",...} → {"type":"session_created",...};
 *             JSON-RPC travels bare inbound and as {"type":"response"|"notification"|"request",
 *             "data":{...}} outbound; problems as {"type":"error","error":"..."}. A request
 *             for `tools/<name>` is seed 000's call of the tool <name>.
 *   envelope: {"id","timestamp","source","target_namespace"?,"auth_token"?,"mcp_payload":{...}}
 *             both ways, with "source":"gateway" on what we send.
 *
 * A connection's dialect is fixed by its first message that fits one, so nothing is guessed twice.
 *
 * A batch (a JSON array of messages, JSON-RPC 2.0's) is taken in every dialect: bare in the
 * plain and control dialects, as an envelope's `mcp_payload` in the envelope dialect. Its replies
 * go back together in one frame, as an array in that dialect's wrapping (JSON-RPC 2.0's answer
 * to a batch; the seeds' clients read it so). Notifications and progress go out as they come.
 */

export type DialectName = 'jsonrpc' | 'control' | 'envelope';

/** What one text frame carried, read in the connection's dialect. */
export type Inbound =
  | { kind: 'message'; message: JSONRPCMessage; authToken?: string }
  | { kind: 'batch'; messages: JSONRPCMessage[]; authToken?: string; envelopeId: RequestId | null }
  | {
      kind: 'invalid';
      /** The JSON-RPC id the refusal answers: the message's, when readable, else null. */
      id: RequestId | null;
      problem: string;
      params?: boolean;
      /** The envelope's own id, for the reply envelope (envelope dialect). */
      envelopeId?: RequestId | null;
    }
  | { kind: 'create' }
  | { kind: 'attach'; sessionId: string | undefined };

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const idOf = readableId;

function isControl(value: Fields): boolean {
  return typeof value.type === 'string' && !('jsonrpc' in value);
}

function isEnvelope(value: Fields): boolean {
  // A seed client that forgot mcp_payload still gets its error in an envelope.
  return !('jsonrpc' in value) && ('mcp_payload' in value || 'source' in value);
}

/** The dialect a first message reveals, or `undefined` when it fits none (nothing is fixed yet). */
export function detectDialect(value: unknown): DialectName | undefined {
  if (!isObject(value)) return undefined;
  if (isControl(value) && (value.type === 'create_session' || value.type === 'attach_session'))
    return 'control';
  if (isEnvelope(value)) return 'envelope';
  return checkClientMessage(value) === undefined ? 'jsonrpc' : undefined;
}

function readMessage(value: unknown): Inbound {
  const problem = checkClientMessage(value);
  if (problem) return { kind: 'invalid', id: idOf(value) ?? null, ...problem };
  return { kind: 'message', message: value as JSONRPCMessage };
}

/** The methods of `tools/` that MCP defines; any other `tools/<name>` is seed 000's call of a tool. */
const TOOL_METHODS = new Set(['tools/list', 'tools/call']);

/**
 * Seed 000's clients call a tool as `{"method":"tools/<name>","params":{…arguments}}`; that is
 * `tools/call` with `name` and `arguments`, under the same id, so the reply matches it. In a
 * batch, each member is read so.
 */
function seedToolCall(inbound: Inbound): Inbound {
  if (inbound.kind === 'batch') return { ...inbound, messages: inbound.messages.map(asToolCall) };
  if (inbound.kind !== 'message') return inbound;
  return { ...inbound, message: asToolCall(inbound.message) };
}

function asToolCall(message: JSONRPCMessage): JSONRPCMessage {
  if (!isRequest(message) || !message.method.startsWith('tools/')) return message;
  if (TOOL_METHODS.has(message.method)) return message;
  const name = message.method.slice('tools/'.length);
  if (name === '') return message;
  const { _meta, ...args } = (message.params ?? {}) as Fields;
  const params: Fields = { name, arguments: args };
  if (_meta !== undefined) params._meta = _meta;
  return { jsonrpc: '2.0', id: message.id, method: 'tools/call', params };
}

/** A batch is taken or refused whole, with a null id: no one id answers it (as over HTTP). */
function readBatch(values: unknown[], envelopeId: RequestId | null): Inbound {
  if (values.length === 0)
    return { kind: 'invalid', id: null, problem: 'an empty batch holds no message' };
  for (const [i, value] of values.entries()) {
    const problem = checkClientMessage(value);
    if (problem)
      return {
        kind: 'invalid',
        id: null,
        ...problem,
        problem: `batch[${i}]: ${problem.problem}`,
      };
  }
  const messages = values as JSONRPCMessage[];
  const seen = new Set<RequestId>();
  for (const message of messages) {
    if (!isRequest(message)) continue;
    if (message.method === 'initialize')
      return {
        kind: 'invalid',
        id: null,
        problem: 'initialize must be sent alone, not in a batch',
      };
    if (seen.has(message.id))
      return {
        kind: 'invalid',
        id: null,
        problem: `two requests of the batch have the id ${JSON.stringify(message.id)}`,
      };
    seen.add(message.id);
  }
  return { kind: 'batch', messages, envelopeId };
}

/** Reads a parsed frame in `dialect`. */
export function decode(dialect: DialectName, value: unknown): Inbound {
  switch (dialect) {
    case 'jsonrpc':
      return Array.isArray(value) ? readBatch(value, null) : readMessage(value);
    case 'envelope': {
      if (!isObject(value))
        return { kind: 'invalid', id: null, problem: 'an envelope must be a JSON object' };
      // A refusal answers the JSON-RPC id it can read (null otherwise, as JSON-RPC says), in an
      // envelope that carries the envelope's own id, so that its sender can tell what it answers.
      const envelopeId = idOf(value) ?? null;
      const payload = value.mcp_payload;
      if (payload === undefined || payload === null)
        return {
          kind: 'invalid',
          id: null,
          envelopeId,
          problem: 'the envelope has no mcp_payload',
        };
      const inbound = Array.isArray(payload)
        ? readBatch(payload, envelopeId)
        : readMessage(payload);
      if (inbound.kind === 'invalid') return { ...inbound, envelopeId };
      if ((inbound.kind !== 'message' && inbound.kind !== 'batch') || !('auth_token' in value))
        return inbound;
      // A token that is not a string used to be dropped: the message then went on unchecked.
      if (typeof value.auth_token !== 'string') {
        return {
          kind: 'invalid',
          id: idOf(payload) ?? null,
          envelopeId,
          problem: `the envelope's "auth_token" must be a string, not ${value.auth_token === null ? 'null' : typeof value.auth_token}`,
        };
      }
      inbound.authToken = value.auth_token;
      return inbound;
    }
    case 'control':
      if (Array.isArray(value)) return seedToolCall(readBatch(value, null));
      if (!isObject(value) || !isControl(value)) return seedToolCall(readMessage(value));
      if (value.type === 'create_session') return { kind: 'create' };
      if (value.type === 'attach_session') {
        const id = value.session_id;
        return { kind: 'attach', sessionId: typeof id === 'string' ? id : undefined };
      }
      return {
        kind: 'invalid',
        id: null,
        problem: `unknown message type ${JSON.stringify(value.type)}`,
      };
  }
}

function controlKind(message: JSONRPCMessage): string {
  if (isReply(message)) return 'response';
  return isRequest(message) ? 'request' : 'notification';
}

/** Writes one outgoing message as a text frame in `dialect`. */
export function encode(
  dialect: DialectName,
  message: JSONRPCMessage,
  /** The envelope's id, when it is not the message's (a refusal of an unreadable message). */
  envelopeId?: RequestId | null,
): string {
  switch (dialect) {
    case 'jsonrpc':
      return encodeMessage(message);
    case 'envelope':
      return JSON.stringify({
        id: envelopeId ?? ('id' in message ? message.id : null),
        timestamp: new Date().toISOString(),
        source: 'gateway',
        mcp_payload: message,
      });
    case 'control':
      return JSON.stringify({ type: controlKind(message), data: message });
  }
}

/** Writes the replies to one batch as one frame in `dialect`; `envelopeId` is the envelope's id. */
export function encodeBatch(
  dialect: DialectName,
  replies: JSONRPCMessage[],
  envelopeId: RequestId | null,
): string {
  switch (dialect) {
    case 'jsonrpc':
      return `[${replies.map(encodeMessage).join(',')}]`;
    case 'envelope':
      return JSON.stringify({
        id: envelopeId,
        timestamp: new Date().toISOString(),
        source: 'gateway',
        mcp_payload: replies,
      });
    case 'control':
      return JSON.stringify({ type: 'response', data: replies });
  }
}

/**
 * Writes the error for a frame we could not use. The control dialect has its own error shape for
 * problems that answer no request; one that answers a request still goes out as its response, so
 * that a client waiting on the id hears back.
 */
export function encodeError(
  dialect: DialectName,
  reply: JSONRPCErrorResponse,
  envelopeId?: RequestId | null,
): string {
  if (dialect === 'control' && (reply.id === null || reply.id === undefined)) {
    return controlError(reply.error.message, reply.error.code);
  }
  return encode(dialect, reply, envelopeId);
}

/** A control-dialect error frame. `code` is the JSON-RPC code, when there is one. */
export function controlError(error: string, code?: number): string {
  return JSON.stringify(
    code === undefined ? { type: 'error', error } : { type: 'error', error, code },
  );
}

/** The control dialect's answer to create_session and attach_session. */
export function sessionCreated(sessionId: string): string {
  // The backend's capabilities are only known after initialize, which the client sends itself.
  return JSON.stringify({ type: 'session_created', session_id: sessionId, capabilities: {} });
}
