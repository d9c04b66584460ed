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
 *             "data":{...}} outbound; problems as {"type":"error","error":"..."}.
 *   envelope: {"id","timestamp","source","target_namespace"?,"auth_token"?,"mcp_payload":{...}}
 *             both ways, with "source":"gateway" on what we send.
 *
 * A connection's dialect is fixed by its first message that fits one, so nothing is guessed twice.
 */

export type DialectName = 'jsonrpc' | 'control' | 'envelope';

/** What one text frame carried, read in the connection's dialect. */
export type Inbound =
  | { kind: 'message'; message: JSONRPCMessage; authToken?: string }
  | { kind: 'invalid'; id: RequestId | null; problem: string; params?: boolean }
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

function readMessage(value: unknown, fallbackId: RequestId | null = null): Inbound {
  const problem = checkClientMessage(value);
  if (problem) return { kind: 'invalid', id: idOf(value) ?? fallbackId, ...problem };
  return { kind: 'message', message: value as JSONRPCMessage };
}

/** Reads a parsed frame in `dialect`. */
export function decode(dialect: DialectName, value: unknown): Inbound {
  switch (dialect) {
    case 'jsonrpc':
      return readMessage(value);
    case 'envelope': {
      if (!isObject(value))
        return { kind: 'invalid', id: null, problem: 'an envelope must be a JSON object' };
      const payload = value.mcp_payload;
      if (payload === undefined || payload === null)
        return { kind: 'invalid', id: idOf(value), problem: 'the envelope has no mcp_payload' };
      const inbound = readMessage(payload, idOf(value));
      if (inbound.kind !== 'message' || !('auth_token' in value)) return inbound;
      // A token that is not a string used to be dropped: the message then went on unchecked.
      if (typeof value.auth_token !== 'string') {
        return {
          kind: 'invalid',
          id: idOf(payload) ?? idOf(value),
          problem: `the envelope's "auth_token" must be a string, not ${value.auth_token === null ? 'null' : typeof value.auth_token}`,
        };
      }
      inbound.authToken = value.auth_token;
      return inbound;
    }
    case 'control':
      if (!isObject(value) || !isControl(value)) return readMessage(value);
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
export function encode(dialect: DialectName, message: JSONRPCMessage): string {
  switch (dialect) {
    case 'jsonrpc':
      return encodeMessage(message);
    case 'envelope':
      return JSON.stringify({
        id: 'id' in message ? message.id : null,
        timestamp: new Date().toISOString(),
        source: 'gateway',
        mcp_payload: message,
      });
    case 'control':
      return JSON.stringify({ type: controlKind(message), data: message });
  }
}

/**
 * Writes the error for a frame we could not use. The control dialect has its own error shape for
 * problems that answer no request; one that answers a request still goes out as its response, so
 * that a client waiting on the id hears back.
 */
export function encodeError(dialect: DialectName, reply: JSONRPCErrorResponse): string {
  if (dialect === 'control' && (reply.id === null || reply.id === undefined)) {
    return controlError(reply.error.message, reply.error.code);
  }
  return encode(dialect, reply);
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
