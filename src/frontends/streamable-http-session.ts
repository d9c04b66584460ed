import type { ServerResponse } from 'node:http';
import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ClientTransport } from '../session/session.js';
import type { JSONRPCMessage, JSONRPCReply, RequestId } from '../core/jsonrpc.js';
import { gatewayCodeOf, isReply } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import { ERROR_TABLE, GatewayError } from '../core/errors.js';
import { channels } from '../core/diagnostics.js';
import type { GatewayErrorCode } from '../core/errors.js';
import { SseStream, sendJson, sendJsonBytes, sendJsonText } from './http-io.js';
import type { EventStore } from './event-store.js';
import { eventId, parseEventId } from './event-store.js';
import { encodeMessage, encodeMessageBytes, encodeMessages } from '../core/raw-json.js';

/**
 * An SSE stream that can outlive the HTTP response it started on. Its events are numbered and
 * kept in the event store; a client that loses the connection reconnects with Last-Event-ID and
 * gets what it missed, then the rest, on the new response.
 */
class ResumableStream {
  private seq = 0;
  private sse: SseStream | undefined;
  private finished = false;

  constructor(
    readonly id: string,
    private readonly sessionId: string,
    private readonly store: EventStore,
    private readonly retryMs: number,
  ) {}

  /** Sequence number of the last event sent. */
  get lastSeq(): number {
    return this.seq;
  }

  get connected(): boolean {
    return this.sse?.isOpen === true;
  }

  get isFinished(): boolean {
    return this.finished;
  }

  /** Starts the stream on its first response, with the priming event. */
  open(res: ServerResponse, headers?: Record<string, string>): void {
    this.sse?.end();
    this.sse = new SseStream(res, headers);
    // The priming id names the last event sent, so a resume from it replays nothing twice.
    this.sse.prime(eventId(this.id, this.seq), this.retryMs);
  }

  /** Continues the stream on a reconnecting client's response, after the replayed events. */
  reattach(sse: SseStream): void {
    this.sse?.end();
    this.sse = sse;
    if (this.finished) sse.end();
  }

  send(json: string): void {
    if (channels.bytes.hasSubscribers) countOut(Buffer.byteLength(json));
    const seq = ++this.seq;
    this.store.append(this.sessionId, this.id, seq, json);
    this.sse?.write(json, eventId(this.id, seq));
  }

  keepalive(): void {
    this.sse?.keepalive();
  }

  end(): void {
    this.finished = true;
    this.sse?.end();
  }
}

/**
 * One POST that carried requests. It answers with plain JSON when the replies are all it has to
 * say, and turns into a resumable SSE stream the moment anything else (progress, a server
 * request) has to go out before the last reply. Most calls so cost one JSON write, and nothing is
 * ever held back.
 */
class Exchange {
  stream: ResumableStream | undefined;
  private readonly replies: JSONRPCReply[] = [];
  private done = false;
  /** The ids still waiting: a set for several requests; for one (the usual POST), `ids[0]`. */
  private readonly waiting: Set<RequestId> | undefined;
  private remaining: number;

  constructor(
    readonly owner: StreamableHttpSessionTransport,
    private readonly res: ServerResponse,
    readonly ids: readonly RequestId[],
    private readonly batch: boolean,
    private readonly headers: Record<string, string> | undefined,
    readonly opensSession: boolean,
    private readonly newStream: (ids: readonly RequestId[]) => ResumableStream,
  ) {
    this.waiting = ids.length > 1 ? new Set(ids) : undefined;
    this.remaining = ids.length;
  }

  /** Takes `id` off the waiting list; false if it was not on it. */
  private take(id: RequestId): boolean {
    if (this.waiting ? !this.waiting.delete(id) : this.remaining === 0 || id !== this.ids[0])
      return false;
    this.remaining--;
    return true;
  }

  get isDone(): boolean {
    return this.done;
  }

  /** Whether a message pushed now reaches the client without waiting for a reconnect. */
  get isLive(): boolean {
    return !this.done && (this.stream ? this.stream.connected : !this.res.destroyed);
  }

  /**
   * Sends a message that is not one of this exchange's replies. A stream keeps it for a
   * reconnect even while its client is away; a JSON response that has gone cannot take it.
   */
  push(json: string): boolean {
    if (this.done) return false;
    if (!this.stream && this.res.destroyed) return false;
    this.toStream().send(json);
    return true;
  }

  /** Delivers one of this exchange's replies; finishes the response after the last. */
  reply(message: JSONRPCReply & { id: RequestId }): void {
    this.take(message.id);
    if (this.stream) this.stream.send(encodeMessage(message));
    else this.replies.push(message);
    if (this.remaining === 0) this.finish();
  }

  /** A request of this exchange ended without a reply (it was cancelled). */
  abandon(id: RequestId): void {
    if (!this.take(id)) return;
    if (this.remaining === 0) this.finish();
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.stream) {
      this.stream.end();
    } else if (this.res.destroyed) {
      // The client went away before its JSON reply; there is nothing to resume.
    } else if (this.replies.length === 0) {
      // Every request was cancelled: nothing to say, but the POST must still end.
      this.res.writeHead(202, this.headers).end();
    } else if (!this.batch && gatewayErrorOf(this.replies[0]!) === 'GATEWAY_RATE_LIMITED') {
      // Said in HTTP too, so that clients and proxies that know 429 back off.
      const reply = this.replies[0]!;
      const data: unknown = 'error' in reply ? reply.error.data : undefined;
      const after =
        typeof data === 'object' && data !== null && 'retryAfter' in data ? data.retryAfter : 1;
      const retryAfter = String(after);
      sendJson(this.res, 429, this.replies[0], { ...this.headers, 'retry-after': retryAfter });
    } else if (this.opensSession && 'error' in this.replies[0]!) {
      // initialize failed (the gateway could not reach the backend, or the backend refused it):
      // the session ends with it, so there is no session to name.
      const code = gatewayErrorOf(this.replies[0]!);
      const bytes = sendJson(this.res, code ? ERROR_TABLE[code].status : 200, this.replies[0]);
      if (channels.bytes.hasSubscribers) countOut(bytes);
    } else {
      const parts = this.batch ? undefined : encodeMessageBytes(this.replies[0]!);
      const bytes = parts
        ? sendJsonBytes(this.res, 200, parts, this.headers)
        : sendJsonText(
            this.res,
            200,
            this.batch ? encodeMessages(this.replies) : encodeMessage(this.replies[0]!),
            this.headers,
          );
      if (channels.bytes.hasSubscribers) countOut(bytes);
    }
  }

  private toStream(): ResumableStream {
    if (!this.stream) {
      this.stream = this.newStream(this.ids);
      this.stream.open(this.res, this.headers);
      for (const earlier of this.replies) this.stream.send(encodeMessage(earlier));
      this.replies.length = 0;
    }
    return this.stream;
  }
}

function countOut(bytes: number): void {
  channels.bytes.publish({ transport: 'streamable-http', direction: 'out', bytes });
}

/** The exchange a POST's response belongs to, so that one shared listener serves every response. */
const EXCHANGE = Symbol('exchange');
type ExchangeResponse = ServerResponse & { [EXCHANGE]?: Exchange };

/** A POST's response closed (the normal end, or the client left). */
function exchangeResponseClosed(this: ExchangeResponse): void {
  const exchange = this[EXCHANGE];
  // A stream waits for its client to resume; a JSON response that is gone cannot be resumed.
  if (!exchange || exchange.stream || exchange.isDone) return;
  exchange.owner.clientLeft(exchange);
}

function gatewayErrorOf(reply: JSONRPCReply): GatewayErrorCode | undefined {
  const code = gatewayCodeOf(reply);
  return code !== undefined && Object.hasOwn(ERROR_TABLE, code)
    ? (code as GatewayErrorCode)
    : undefined;
}

/** Undelivered messages kept for a client that has never opened a stream. */
const MAX_BACKLOG = 1000;

export interface StreamableHttpSessionOptions {
  store: EventStore;
  /** The `retry` a client is told to wait before reconnecting a lost stream. @default 1000 */
  retryMs?: number;
  log: Logger;
  /**
   * Where stream numbering starts: a session continued on another replica (src/cluster) numbers
   * its streams after the ones its events in a shared store already use. @default 0
   */
  firstStream?: number;
  /** Told when the replies to `ids` go out on a stream from now on (src/cluster records it). */
  onStream?: (streamId: string, ids: readonly RequestId[]) => void;
}

/**
 * The server side of one Streamable HTTP session as an SDK Transport: the handler feeds it what
 * clients POST, and it routes what the session sends to the right response: a reply to the POST
 * that asked, a progress notification to its request's stream, anything else to the GET stream,
 * or (when there is none) to an open POST stream, or a bounded backlog until one opens.
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
  /** Streams that can still be resumed or written: POST streams in progress and the GET stream. */
  private readonly streams = new Map<string, ResumableStream>();
  private getStream: ResumableStream | undefined;
  private streamCount = 0;
  private backlog: string[] = [];
  private closed = false;
  private readonly store: EventStore;
  private readonly retryMs: number;
  private readonly log: Logger;
  /** Opens a POST's stream; one function for every exchange of the session. */
  private readonly newPostStream: (ids: readonly RequestId[]) => ResumableStream;

  constructor(
    readonly sessionId: string,
    options: StreamableHttpSessionOptions,
  ) {
    this.store = options.store;
    this.retryMs = options.retryMs ?? 1000;
    this.log = options.log;
    this.streamCount = options.firstStream ?? 0;
    const onStream = options.onStream;
    this.newPostStream = onStream
      ? (ids) => {
          const stream = this.newStream('p');
          onStream(stream.id, ids);
          return stream;
        }
      : () => this.newStream('p');
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get hasGetStream(): boolean {
    return this.getStream?.connected === true;
  }

  /** A GET stream, or a POST whose replies are still coming. */
  get streamOpen(): boolean {
    return this.hasGetStream || this.exchanges.size > 0;
  }

  async start(): Promise<void> {}

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  /** Whether `id` is already waiting for a reply in this session. */
  isPending(id: RequestId): boolean {
    return this.exchanges.has(id);
  }

  private newStream(prefix: string): ResumableStream {
    const stream = new ResumableStream(
      `${prefix}${++this.streamCount}`,
      this.sessionId,
      this.store,
      this.retryMs,
    );
    this.streams.set(stream.id, stream);
    return stream;
  }

  /** Registers a POST carrying `requests` (their ids) before its messages are delivered. */
  openExchange(res: ServerResponse, ids: RequestId[], batch: boolean, opensSession = false): void {
    const headers = opensSession ? { 'mcp-session-id': this.sessionId } : undefined;
    const exchange = new Exchange(this, res, ids, batch, headers, opensSession, this.newPostStream);
    for (const id of ids) this.exchanges.set(id, exchange);
    this.open.add(exchange);
    (res as ExchangeResponse)[EXCHANGE] = exchange;
    res.on('close', exchangeResponseClosed);
  }

  /** The client of a JSON exchange left before its replies: they will be dropped. */
  clientLeft(exchange: Exchange): void {
    this.open.delete(exchange);
    for (const id of exchange.ids)
      if (this.exchanges.get(id) === exchange) this.exchanges.delete(id);
    if (exchange.opensSession) {
      // The session id goes out with that reply: no client can ever name this session, so it
      // would only hold its backend until the idle timeout.
      this.log.info('the client left before the answer to its initialize; the session is closed');
      void this.close();
      return;
    }
    this.log.debug('client left before its JSON reply; the reply will be dropped');
  }

  /** Hands messages the client sent to the session. */
  deliver(messages: JSONRPCMessage[]): void {
    this.lastActivity = Date.now();
    for (const message of messages) this.onmessage?.(message);
  }

  attachGetStream(res: ServerResponse): void {
    this.getStream ??= this.newStream('g');
    this.getStream.open(res, {});
    const backlog = this.backlog;
    this.backlog = [];
    for (const json of backlog) this.getStream.send(json);
  }

  /**
   * A client reconnecting with Last-Event-ID: replays what followed that event on its stream,
   * then carries the rest of the stream on this response (or ends it, if the stream is over).
   */
  async resume(res: ServerResponse, lastEventId: string): Promise<void> {
    const parsed = parseEventId(lastEventId);
    const stream = parsed && this.streams.get(parsed.streamId);
    if (
      !parsed ||
      (!stream && !parsed.streamId.startsWith('p') && !parsed.streamId.startsWith('g'))
    ) {
      throw new GatewayError(
        'GATEWAY_INVALID_REQUEST',
        `Last-Event-ID "${lastEventId}" is not an event id of this session`,
      );
    }
    let after = parsed.seq;
    const pending: string[] = [];
    // Replay until caught up; events sent while a replay was read are picked up by the next round.
    for (;;) {
      if (stream && after >= stream.lastSeq) break;
      const events = await this.store.replay(this.sessionId, parsed.streamId, after);
      if (!events) {
        throw new GatewayError(
          'GATEWAY_INVALID_REQUEST',
          `the events after "${lastEventId}" are no longer kept; start a new request`,
        );
      }
      for (const event of events) pending.push(event.json);
      if (events.length === 0) break;
      after = events[events.length - 1]!.seq;
      if (!stream) break;
    }
    const sse = new SseStream(res);
    let seq = parsed.seq;
    for (const json of pending) sse.write(json, eventId(parsed.streamId, ++seq));
    this.lastActivity = Date.now();
    if (stream && !stream.isFinished) stream.reattach(sse);
    else sse.end();
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
      if (exchange.isDone) this.retire(exchange);
      return;
    }
    const json = encodeMessage(message);
    const related = options?.relatedRequestId;
    if (related !== undefined && this.exchanges.get(related)?.push(json)) return;
    if (this.getStream?.connected) return this.getStream.send(json);
    for (const exchange of this.open) {
      if (exchange.isLive && exchange.push(json)) return;
    }
    // The GET stream's client is away; it will resume and replay this.
    if (this.getStream) return this.getStream.send(json);
    if (this.backlog.push(json) > MAX_BACKLOG) {
      this.backlog.shift();
      this.log.warn('client has no open stream; oldest undelivered message dropped');
    }
  }

  private retire(exchange: Exchange): void {
    this.open.delete(exchange);
    if (exchange.stream) this.streams.delete(exchange.stream.id);
  }

  requestEnded(id: RequestId): void {
    const exchange = this.exchanges.get(id);
    if (!exchange) return;
    this.exchanges.delete(id);
    exchange.abandon(id);
    if (exchange.isDone) this.retire(exchange);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const exchange of this.open) exchange.finish();
    this.open.clear();
    this.exchanges.clear();
    this.getStream?.end();
    this.streams.clear();
    this.backlog = [];
    this.store.drop(this.sessionId);
    this.onclose?.();
  }
}
