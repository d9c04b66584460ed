import { STATUS_CODES, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RequestId } from '../core/jsonrpc.js';
import { asGatewayError, toErrorReply } from '../core/errors.js';
import { sendJson } from '../frontends/http-io.js';

/*
 * The one place where an error becomes an HTTP reply, on either listener, for a request or for a
 * refused upgrade: the error table's status and the JSON-RPC error body (`{ jsonrpc, id, error:
 * { code, message, data: { code } } }`), so that MCP clients read it like any other error. An
 * error that is not a GatewayError is a 500 GATEWAY_INTERNAL whose message says nothing of it.
 */

export interface ErrorReplyOptions {
  /** The request the error answers, when the body could be read. @default null */
  id?: RequestId | null;
  /** More headers: `www-authenticate`, `retry-after`, `allow`, the admin listener's own. */
  headers?: Readonly<Record<string, string>>;
}

/** Answers `to` (a response, or the socket of an upgrade request) with `error`. */
export function sendHttpError(
  to: ServerResponse | Duplex,
  error: unknown,
  options: ErrorReplyOptions = {},
): void {
  const e = asGatewayError(error);
  const body = toErrorReply(options.id ?? null, e);
  if (!(to instanceof ServerResponse)) {
    endSocket(to, e.status, JSON.stringify(body), options.headers);
    return;
  }
  if (to.headersSent) {
    to.destroy();
    return;
  }
  // An oversized body was drained, not kept: the connection carries no further request.
  const headers =
    e.code === 'GATEWAY_PAYLOAD_TOO_LARGE'
      ? { ...options.headers, connection: 'close' }
      : options.headers;
  sendJson(to, e.status, body, headers);
}

/**
 * Ends an upgrade request's socket with a whole HTTP response: status line, JSON body and the
 * headers given. The only raw HTTP reply in the code base; everything else goes through
 * `ServerResponse`.
 */
export function endSocket(
  socket: Duplex,
  status: number,
  json: string,
  headers?: Readonly<Record<string, string>>,
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = Buffer.from(json);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  if (headers) {
    // A value is never allowed to end the head early (ServerResponse would throw instead).
    for (const [name, value] of Object.entries(headers))
      head += `${name}: ${value.replace(/[\r\n]+/g, ' ')}\r\n`;
  }
  head += `content-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
}
