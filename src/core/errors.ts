import type { JSONRPCErrorResponse, MessageProblem, RequestId } from './jsonrpc.js';
import { errorReply } from './jsonrpc.js';

/**
 * Every error the gateway raises itself, with the HTTP status and JSON-RPC code it maps to.
 * One table, so that each transport turns the same failure into the same reply; docs/errors.md
 * lists them for users. Errors a backend returns are not in here: they pass through untouched.
 */
export const ERROR_TABLE = {
  GATEWAY_PARSE_ERROR: { status: 400, rpc: -32700, text: 'Parse error' },
  GATEWAY_INVALID_REQUEST: { status: 400, rpc: -32600, text: 'Invalid request' },
  GATEWAY_INVALID_PARAMS: { status: 400, rpc: -32602, text: 'Invalid params' },
  GATEWAY_UNSUPPORTED_MEDIA_TYPE: { status: 415, rpc: -32600, text: 'Unsupported media type' },
  GATEWAY_NOT_ACCEPTABLE: { status: 406, rpc: -32600, text: 'Not acceptable' },
  GATEWAY_UNSUPPORTED_PROTOCOL_VERSION: {
    status: 400,
    rpc: -32600,
    text: 'Unsupported protocol version',
  },
  GATEWAY_SESSION_REQUIRED: { status: 400, rpc: -32600, text: 'Session id required' },
  GATEWAY_SESSION_NOT_FOUND: { status: 404, rpc: -32001, text: 'Session not found' },
  GATEWAY_STREAM_CONFLICT: { status: 409, rpc: -32600, text: 'Stream already open' },
  GATEWAY_METHOD_NOT_ALLOWED: { status: 405, rpc: -32600, text: 'Method not allowed' },
  GATEWAY_NOT_FOUND: { status: 404, rpc: -32601, text: 'Not found' },
  GATEWAY_PAYLOAD_TOO_LARGE: { status: 413, rpc: -32600, text: 'Payload too large' },
  GATEWAY_BACKEND_UNAVAILABLE: { status: 502, rpc: -32010, text: 'Backend unavailable' },
  GATEWAY_BACKEND_EXITED: { status: 502, rpc: -32011, text: 'Backend exited' },
  GATEWAY_SESSION_CLOSED: { status: 404, rpc: -32012, text: 'Session closed' },
  GATEWAY_SHUTTING_DOWN: { status: 503, rpc: -32013, text: 'Gateway shutting down' },
  GATEWAY_CAPACITY: { status: 503, rpc: -32014, text: 'At capacity' },
  GATEWAY_TOO_MANY_SESSIONS: { status: 429, rpc: -32015, text: 'Too many sessions' },
  GATEWAY_BACKEND_DISABLED: { status: 404, rpc: -32016, text: 'Backend not served' },
  GATEWAY_UNAUTHORIZED: { status: 401, rpc: -32030, text: 'Unauthorized' },
  GATEWAY_FORBIDDEN: { status: 403, rpc: -32031, text: 'Forbidden' },
  // The authorization server that checks tokens (auth.introspection) did not answer: the caller
  // may be fine, so not 401, and the gateway does not let it in unchecked.
  GATEWAY_AUTH_UNAVAILABLE: { status: 503, rpc: -32032, text: 'Token check unavailable' },
  GATEWAY_RATE_LIMITED: { status: 429, rpc: -32029, text: 'Rate limit exceeded' },
  GATEWAY_CIRCUIT_OPEN: { status: 503, rpc: -32017, text: 'Backend circuit open' },
  GATEWAY_TIMEOUT: { status: 504, rpc: -32018, text: 'Backend timed out' },
  GATEWAY_NAME_COLLISION: { status: 500, rpc: -32019, text: 'Name offered by two backends' },
  GATEWAY_INTERNAL: { status: 500, rpc: -32603, text: 'Internal error' },
  // The 2026-07-28 path's (src/era/, docs/protocol-eras.md): a well-formed retry whose
  // continuation is gone, answered in a 200 so that the client sends the request again.
  GATEWAY_CONTINUATION_LOST: { status: 200, rpc: -32603, text: 'Continuation lost' },
  // A cluster's (src/cluster/, docs/scaling.md).
  GATEWAY_BACKEND_RESTARTED: { status: 503, rpc: -32603, text: 'Backend restarted' },
  GATEWAY_CLUSTER_UNAVAILABLE: { status: 503, rpc: -32024, text: 'Session store unavailable' },
  // The connector's own (src/connector/): what a desktop client sees when the link fails it.
  CONNECTOR_QUEUE_FULL: { status: 503, rpc: -32020, text: 'Connector queue full' },
  CONNECTOR_QUEUE_TIMEOUT: { status: 504, rpc: -32021, text: 'Remote not reachable in time' },
  CONNECTOR_LINK_LOST: { status: 502, rpc: -32022, text: 'Connection lost during the request' },
  CONNECTOR_REMOTE_REFUSED: { status: 502, rpc: -32023, text: 'Remote refused the request' },
} as const satisfies Record<string, { status: number; rpc: number; text: string }>;

export type GatewayErrorCode = keyof typeof ERROR_TABLE;

/** A failure of the gateway's own, carrying one of the stable codes above. */
export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  /** Extra fields for the JSON-RPC error's `data` (a `retryAfter`, say). */
  readonly data: Readonly<Record<string, unknown>> | undefined;
  /** The id of the request refused, when the error is raised before it has a caller to answer. */
  readonly requestId: RequestId | undefined;

  constructor(
    code: GatewayErrorCode,
    detail?: string,
    options?: { cause?: unknown; data?: Record<string, unknown>; requestId?: RequestId | null },
  ) {
    const text = ERROR_TABLE[code].text;
    super(detail ? `${text}: ${detail}` : text, options);
    this.name = 'GatewayError';
    this.code = code;
    this.data = options?.data;
    this.requestId = options?.requestId ?? undefined;
  }

  get status(): number {
    return ERROR_TABLE[this.code].status;
  }

  get rpcCode(): number {
    return ERROR_TABLE[this.code].rpc;
  }
}

/** Any thrown value as a GatewayError; unknown failures become GATEWAY_INTERNAL without leaking detail. */
export function asGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  return new GatewayError('GATEWAY_INTERNAL', undefined, { cause: error });
}

/**
 * The error for a client message that failed `checkClientMessage`, answering `id` (the id it
 * carried when readable); `where` prefixes the problem (`message 2` of a batch).
 */
export function invalidMessage(
  { problem, params }: MessageProblem,
  id: RequestId | null,
  where?: string,
): GatewayError {
  return new GatewayError(
    params ? 'GATEWAY_INVALID_PARAMS' : 'GATEWAY_INVALID_REQUEST',
    where ? `${where}: ${problem}` : problem,
    { requestId: id },
  );
}

/** The error for client input nested deeper than `max` (`limits.maxDepth`), before it is parsed. */
export function tooDeep(max: number): GatewayError {
  return new GatewayError(
    'GATEWAY_INVALID_REQUEST',
    `the message nests arrays and objects more than ${max} deep (limits.maxDepth)`,
  );
}

/**
 * The JSON-RPC error reply a client sees for `error`, answering request `id` (or, without one,
 * the request the error names).
 */
export function toErrorReply(id: RequestId | null, error: unknown): JSONRPCErrorResponse {
  const e = asGatewayError(error);
  return errorReply(
    id ?? e.requestId ?? null,
    e.rpcCode,
    e.message,
    e.data ? { ...e.data, code: e.code } : { code: e.code },
  );
}
