import type { IncomingMessage, ServerResponse } from 'node:http';
import { classifyInboundRequest } from '@modelcontextprotocol/server';
import type {
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCReply,
  JSONRPCRequest,
} from '../core/jsonrpc.js';
import { errorReply, isRequest } from '../core/jsonrpc.js';
import { channels } from '../core/diagnostics.js';
import type { PeerInfo } from '../frontends/types.js';
import { MODERN_VERSIONS, isModernMessage } from './modern.js';
import type { ModernService } from './service.js';

const VERSION_HEADER = 'mcp-protocol-version';

/** Whether a POST goes the modern way: its body claims it, or its version header does. */
export function isModernPost(req: IncomingMessage, messages: readonly JSONRPCMessage[]): boolean {
  const header = req.headers[VERSION_HEADER];
  if (typeof header === 'string' && MODERN_VERSIONS.includes(header.trim())) return true;
  for (const message of messages) if (isModernMessage(message)) return true;
  return false;
}

const single = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value.join(',') : value;

/**
 * Serves one modern POST: the SDK's classifier checks the headers against the body (`-32020` on
 * a mismatch); a notification is accepted; a request is answered as JSON, or as an SSE stream
 * once something must go before the reply (progress, log messages). Closing that stream before
 * the reply cancels the request, as the 2026-07-28 transport defines.
 */
export async function serveModernPost(
  service: ModernService,
  req: IncomingMessage,
  res: ServerResponse,
  peer: PeerInfo,
  messages: readonly JSONRPCMessage[],
  batch: boolean,
): Promise<void> {
  const first = messages[0];
  const id = first !== undefined && isRequest(first) ? first.id : null;
  if (batch || messages.length !== 1 || first === undefined) {
    return json(
      res,
      400,
      errorReply(id, -32600, 'a 2026-07-28 request is one JSON-RPC message, not a batch'),
    );
  }
  const outcome = classifyInboundRequest({
    httpMethod: 'POST',
    protocolVersionHeader: single(req.headers[VERSION_HEADER]),
    mcpMethodHeader: single(req.headers['mcp-method']),
    mcpNameHeader: single(req.headers['mcp-name']),
    body: first,
  });
  if (outcome.kind === 'reject') {
    return json(
      res,
      outcome.httpStatus,
      errorReply(id, outcome.code, outcome.message, outcome.data),
    );
  }
  if (outcome.kind === 'legacy') {
    return json(
      res,
      400,
      errorReply(id, -32600, 'a posted response or a message without the 2026-07-28 envelope'),
    );
  }
  if (outcome.messageKind === 'notification') {
    // Cancellation is the closing of a stream now; other notifications have nothing to reach.
    res.writeHead(202).end();
    return;
  }
  let streaming = false;
  let abandon: (() => void) | undefined;
  res.once('close', () => {
    if (!res.writableEnded) abandon?.();
  });
  const sink = {
    notify(message: JSONRPCNotification) {
      if (res.writableEnded || res.destroyed) return;
      if (!streaming) {
        streaming = true;
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          'x-accel-buffering': 'no',
        });
      }
      res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
    },
    keepalive() {
      if (streaming && !res.writableEnded && !res.destroyed) res.write(': keepalive\n\n');
    },
  };
  const { status, reply } = await service.serve({
    // The classifier proved it a request: the body as parsed, not the SDK's copy of it.
    message: first as JSONRPCRequest,
    peer,
    sink,
    onAbandon: (listener) => (abandon = listener),
  });
  if (res.destroyed) return;
  if (streaming) {
    res.end(`event: message\ndata: ${JSON.stringify(reply)}\n\n`);
    return;
  }
  json(res, statusOf(status, reply), reply);
}

/**
 * The HTTP status of a reply: the one the modern path chose, or, for a backend's error, the
 * status the 2026-07-28 transport gives its code (unknown method 404; version, header and
 * capability errors 400).
 */
function statusOf(status: number, reply: JSONRPCReply): number {
  if (status !== 200 || !('error' in reply)) return status;
  switch (reply.error.code) {
    case -32601:
      return 404;
    case -32020:
    case -32021:
    case -32022:
      return 400;
    default:
      return 200;
  }
}

function json(res: ServerResponse, status: number, reply: JSONRPCReply): void {
  const body = JSON.stringify(reply);
  if (channels.bytes.hasSubscribers)
    channels.bytes.publish({ transport: 'streamable-http', direction: 'out', bytes: body.length });
  res.writeHead(status, { 'content-type': 'application/json' }).end(body);
}
