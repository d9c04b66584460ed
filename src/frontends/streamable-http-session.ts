import type { ServerResponse } from 'node:http';
import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ClientTransport } from '../core/session.js';
import type { JSONRPCMessage, JSONRPCReply, RequestId } from '../core/jsonrpc.js';
import { isReply } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import { SseStream, sendJson } from './http-io.js';
import { ERROR_TABLE } from '../core/errors.js';
import type { GatewayErrorCode } from '../core/errors.js';

/**
 * One POST that carried requests. It answers with plain JSON when the replies are all it has to
 * say, and turns into an SSE stream the moment anything else (progress, a server request) has to
 * go out before the last reply. Most calls so cost one JSON write, and nothing is ever held back.
 */
class Exchange {
  private stream: SseStream | undefined;
  private readonly replies: JSONRPCReply[] = [];
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly waiting: Set<RequestId>,
    private readonly batch: boolean,
    private readonly headers: Record<string, string>,
    private readonly opensSession: boolean,
  ) {}

  get isOpen(): boolean {
    return !this.done && !this.res.destroyed;
  }

  /** Sends a message that is not one of this exchange's replies. */
  push(message: JSONRPCMessage): boolean {
    if (!this.isOpen) return false;
    this.toStream().write(JSON.stringify(message));
    return true;
  }

  /** Delivers one of this exchange's replies; finishes the response after the last. */
  reply(message: JSONRPCReply & { id: RequestId }): void {
    this.waiting.delete(message.id);
    if (this.stream) this.stream.write(JSON.stringify(message));
    else this.replies.push(message);
    if (this.waiting.size === 0) this.finish();
  }

  /** A request of this exchange ended without a reply (it was cancelled). */
  abandon(id: RequestId): void {
    if (!this.waiting.delete(id)) return;
    if (this.waiting.size === 0) this.finish();
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.stream) {
      this.stream.end();
    } else if (this.replies.length === 0) {
      // Every request was cancelled: nothing to say, but the POST must still end.
      this.res.writeHead(202, this.headers).end();
    } else if (this.opensSession && gatewayErrorOf(this.replies[0]!)) {
      // The backend failed before it answered initialize: there is no session to name.
      const code = gatewayErrorOf(this.replies[0]!)!;
      sendJson(this.res, ERROR_TABLE[code].status, this.replies[0]);
    } else {
      sendJson(this.res, 200, this.batch ? this.replies : this.replies[0], this.headers);
    }
  }

  private toStream(): SseStream {
    if (!this.stream) {
      this.stream = new SseStream(this.res, this.headers);
      for (const earlier of this.replies) this.stream.write(JSON.stringify(earlier));
      this.replies.length = 0;
    }
    return this.stream;
  }
}

function gatewayErrorOf(reply: JSONRPCReply): GatewayErrorCode | undefined {
  if (!('error' in reply)) return undefined;
  const code = (reply.error.data as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code in ERROR_TABLE ? (code as GatewayErrorCode) : undefined;
}

/** Undelivered messages kept for a client that has no stream open yet. */
const MAX_BACKLOG = 1000;

/**
 * The server side of one Streamable HTTP session as an SDK Transport: the handler feeds it what
 * clients POST, and it routes what the session sends to the right open response: a reply to the
 * POST that asked, a progress notification to its request's stream, anything else to the GET
 * stream, or (when there is none) to an open POST stream, or a bounded backlog until one opens.
 */
export class StreamableHttpSessionTransport implements ClientTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  /** When the client last did anything; the idle sweep reads it. */
  lastActivity = Date.now();
  /** Negotiated in `initialize`; set by the session. */
  protocolVersion: string | undefined;

  private readonly exchanges = new Map<RequestId, Exchange>();
  private readonly open = new Set<Exchange>();
  private getStream: SseStream | undefined;
  private backlog: string[] = [];
  private closed = false;

  constructor(
    readonly sessionId: string,
    private readonly log: Logger,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  get hasGetStream(): boolean {
    return this.getStream?.isOpen === true;
  }

  async start(): Promise<void> {}

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  /** Whether `id` is already waiting for a reply in this session. */
  isPending(id: RequestId): boolean {
    return this.exchanges.has(id);
  }

  /** Registers a POST carrying `requests` (their ids) before its messages are delivered. */
  openExchange(res: ServerResponse, ids: RequestId[], batch: boolean, opensSession = false): void {
    const headers: Record<string, string> = opensSession
      ? { 'mcp-session-id': this.sessionId }
      : {};
    const exchange = new Exchange(res, new Set(ids), batch, headers, opensSession);
    for (const id of ids) this.exchanges.set(id, exchange);
    this.open.add(exchange);
    res.once('close', () => {
      this.open.delete(exchange);
      // Replies that arrive after the client went away have nowhere to go: the spec does not
      // let them travel on the GET stream. Resumable streams will keep them for a reconnect.
      for (const id of ids) if (this.exchanges.get(id) === exchange) this.exchanges.delete(id);
    });
  }

  /** Hands messages the client sent to the session. */
  deliver(messages: JSONRPCMessage[]): void {
    this.lastActivity = Date.now();
    for (const message of messages) this.onmessage?.(message);
  }

  attachGetStream(res: ServerResponse): void {
    const stream = new SseStream(res);
    this.getStream = stream;
    res.once('close', () => {
      if (this.getStream === stream) this.getStream = undefined;
    });
    const backlog = this.backlog;
    this.backlog = [];
    for (const json of backlog) stream.write(json);
  }

  keepalive(): void {
    this.getStream?.keepalive();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closed) return;
    if (isReply(message) && message.id !== undefined) {
      const exchange = this.exchanges.get(message.id);
      if (!exchange) {
        this.log.debug({ id: message.id }, 'reply for a request whose POST has gone; dropped');
        return;
      }
      this.exchanges.delete(message.id);
      exchange.reply(message as JSONRPCReply & { id: RequestId });
      if (!exchange.isOpen) this.open.delete(exchange);
      return;
    }
    const related = options?.relatedRequestId;
    if (related !== undefined && this.exchanges.get(related)?.push(message)) return;
    const json = JSON.stringify(message);
    if (this.getStream?.write(json)) return;
    for (const exchange of this.open) {
      if (exchange.push(message)) return;
    }
    if (this.backlog.push(json) > MAX_BACKLOG) {
      this.backlog.shift();
      this.log.warn('client has no open stream; oldest undelivered message dropped');
    }
  }

  requestEnded(id: RequestId): void {
    const exchange = this.exchanges.get(id);
    if (!exchange) return;
    this.exchanges.delete(id);
    exchange.abandon(id);
    if (!exchange.isOpen) this.open.delete(exchange);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const exchange of this.open) exchange.finish();
    this.open.clear();
    this.exchanges.clear();
    this.getStream?.end();
    this.getStream = undefined;
    this.backlog = [];
    this.onclose?.();
  }
}
