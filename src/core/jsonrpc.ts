import type {
  JSONRPCErrorResponse,
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCRequest,
  JSONRPCResultResponse,
  RequestId,
} from '@modelcontextprotocol/sdk/types.js';

export type {
  JSONRPCErrorResponse,
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCRequest,
  JSONRPCResultResponse,
  RequestId,
};

/** A response of either kind: the answer to one request. */
export type JSONRPCReply = JSONRPCResultResponse | JSONRPCErrorResponse;

// These checks look at shape only. Full schema validation of every payload would cost more
// than the rest of the hot path together, and the peer that receives the message validates it.

export function isRequest(message: JSONRPCMessage): message is JSONRPCRequest {
  return 'method' in message && 'id' in message;
}

export function isNotification(message: JSONRPCMessage): message is JSONRPCNotification {
  return 'method' in message && !('id' in message);
}

export function isReply(message: JSONRPCMessage): message is JSONRPCReply {
  return !('method' in message);
}

function isId(value: unknown): value is RequestId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * An id a client may use: a string or a safe integer. A larger number, or a fraction, would not
 * go back as the client wrote it (`123456789012345678901234567890` parses to a double and
 * prints as `1.2345678901234568e+29`). Refusing it costs one check on the parsed id; keeping the
 * client's text would cost a raw scan of every message and an id carried as text through the
 * session, for ids no MCP client sends.
 */
function isClientId(value: unknown): value is RequestId {
  return typeof value === 'string' || Number.isSafeInteger(value);
}

/** The id of a message that could not be taken, when it is one we can answer exactly; else null. */
export function readableId(value: unknown): RequestId | null {
  if (typeof value !== 'object' || value === null || !('id' in value)) return null;
  const id = value.id;
  return isClientId(id) ? id : null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why a value is not a JSON-RPC message; `params` when the fault is in its params (-32602). */
export interface MessageProblem {
  problem: string;
  params: boolean;
}

const invalid = (problem: string): MessageProblem => ({ problem, params: false });
const REQUEST_MEMBERS: ReadonlySet<string> = new Set(['jsonrpc', 'id', 'method', 'params']);
const invalidParams = (problem: string): MessageProblem => ({ problem, params: true });

function check(value: unknown, fromClient: boolean): MessageProblem | undefined {
  if (!isObject(value)) return invalid('a JSON-RPC message must be a JSON object');
  const m = value;
  if (m.jsonrpc !== '2.0') return invalid('the "jsonrpc" member must be exactly "2.0"');
  const validId = fromClient ? isClientId : isId;
  const idText = fromClient ? 'a string or a safe integer' : 'a string or a number';
  if ('method' in m) {
    if (typeof m.method !== 'string' || m.method === '') {
      return invalid('the "method" member must be a non-empty string');
    }
    // The SDK takes such a message for a response and drops it: the caller would wait forever.
    if ('result' in m || 'error' in m) {
      return invalid('a request or notification must not carry "result" or "error"');
    }
    if ('id' in m && !validId(m.id)) return invalid(`the "id" member must be ${idText}`);
    if (fromClient) {
      // The SDK's schemas are strict: a backend drops a request with a member JSON-RPC does not
      // define, and the caller would wait for its deadline.
      for (const key in m) {
        if (!REQUEST_MEMBERS.has(key))
          return invalid(
            `a request or notification has no member "${key}" (only jsonrpc, id, method, params)`,
          );
      }
    }
    if ('params' in m) {
      // MCP's params are always by name: an array (typeof "object") is as wrong as a string.
      const params = m.params;
      if (!isObject(params)) return invalidParams('the "params" member must be an object');
      if ('_meta' in params) {
        const meta = params._meta;
        if (!isObject(meta)) return invalidParams('the "params._meta" member must be an object');
        if ('progressToken' in meta && !isClientId(meta.progressToken)) {
          return invalidParams(
            'the "params._meta.progressToken" member must be a string or a safe integer',
          );
        }
      }
    }
    return undefined;
  }
  if (!('id' in m))
    return invalid('a message needs a "method" (request, notification) or an "id" (response)');
  if ('result' in m === 'error' in m)
    return invalid('a response needs exactly one of "result" and "error"');
  if ('error' in m) {
    const e = m.error as Record<string, unknown> | null;
    if (
      typeof e !== 'object' ||
      e === null ||
      typeof e.code !== 'number' ||
      typeof e.message !== 'string'
    ) {
      return invalid(
        'the "error" member must be an object with a numeric "code" and a string "message"',
      );
    }
    // An error response may carry a null id when the request could not be read.
    if (m.id !== null && !validId(m.id))
      return invalid(`the "id" member must be ${idText} or null`);
    return undefined;
  }
  if (!validId(m.id)) return invalid(`the "id" member must be ${idText}`);
  return undefined;
}

/**
 * Checks that a parsed value has the shape of one JSON-RPC 2.0 message and returns why not
 * when it does not; `undefined` means it is a message. For what backends send.
 */
export function describeInvalidMessage(value: unknown): string | undefined {
  return check(value, false)?.problem;
}

/**
 * The same check for what a client sends, where everything a backend would drop silently (so
 * the client would wait for its deadline) is refused at once, and ids must come back exactly:
 * strings or safe integers only, for the id and for a `progressToken`.
 */
export function checkClientMessage(value: unknown): MessageProblem | undefined {
  return check(value, true);
}

export function errorReply(
  id: RequestId | null,
  code: number,
  message: string,
  data?: unknown,
): JSONRPCErrorResponse {
  const error: JSONRPCErrorResponse['error'] =
    data === undefined ? { code, message } : { code, message, data };
  // The SDK's type says id is required; JSON-RPC allows null when the request id is unknown.
  return { jsonrpc: '2.0', id: id as RequestId, error };
}

export type ProgressToken = string | number;

/** The progress token a request asks its progress to be reported under, if any. */
export function progressTokenOf(message: JSONRPCRequest): ProgressToken | undefined {
  const meta = message.params?._meta;
  const token = meta === undefined ? undefined : meta.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

/** The gateway's own error code (`GATEWAY_…`) an error reply carries in `data.code`, if any. */
export function gatewayCodeOf(reply: JSONRPCReply | undefined): string | undefined {
  if (reply === undefined || !('error' in reply)) return undefined;
  const data: unknown = reply.error.data;
  if (typeof data !== 'object' || data === null || !('code' in data)) return undefined;
  return typeof data.code === 'string' ? data.code : undefined;
}

/** What a reply reports for metrics and events: the gateway's code, the JSON-RPC code, or nothing. */
export function errorLabelOf(reply: JSONRPCReply | undefined): string | number | undefined {
  if (reply === undefined || !('error' in reply)) return undefined;
  return gatewayCodeOf(reply) ?? reply.error.code;
}

/** MCP's log levels (RFC 5424's), least severe first: an index compares two. */
export const LOG_LEVELS: readonly string[] = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
];
