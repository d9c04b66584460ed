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
 * Checks that a parsed value has the shape of one JSON-RPC 2.0 message and returns why not
 * when it does not; `undefined` means it is a message.
 */
export function describeInvalidMessage(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'a JSON-RPC message must be a JSON object';
  }
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return 'the "jsonrpc" member must be exactly "2.0"';
  if ('method' in m) {
    if (typeof m.method !== 'string' || m.method === '') {
      return 'the "method" member must be a non-empty string';
    }
    if ('id' in m && !isId(m.id)) return 'the "id" member must be a string or a number';
    if ('params' in m && (typeof m.params !== 'object' || m.params === null)) {
      return 'the "params" member must be an object';
    }
    return undefined;
  }
  if (!('id' in m))
    return 'a message needs a "method" (request, notification) or an "id" (response)';
  if ('result' in m === 'error' in m) return 'a response needs exactly one of "result" and "error"';
  if ('error' in m) {
    const e = m.error as Record<string, unknown> | null;
    if (
      typeof e !== 'object' ||
      e === null ||
      typeof e.code !== 'number' ||
      typeof e.message !== 'string'
    ) {
      return 'the "error" member must be an object with a numeric "code" and a string "message"';
    }
    // An error response may carry a null id when the request could not be read.
    if (m.id !== null && !isId(m.id)) return 'the "id" member must be a string, a number or null';
    return undefined;
  }
  if (!isId(m.id)) return 'the "id" member must be a string or a number';
  return undefined;
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
