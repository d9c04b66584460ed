import { WebSocket } from 'ws';
import type { ClientTransport } from '../session/session.js';
import type { JSONRPCErrorResponse, JSONRPCMessage, RequestId } from '../core/jsonrpc.js';
import { gatewayCodeOf, isReply } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import { channels } from '../core/diagnostics.js';
import type { DialectName } from './websocket-dialects.js';
import { encode, encodeBatch, sessionCreated } from './websocket-dialects.js';
import { coalesceWrites } from './coalesce.js';

/** The longest close reason a WebSocket close frame can carry, in bytes. */
const MAX_CLOSE_REASON_BYTES = 123;

/** `text` cut to fit a close frame, on a character boundary. */
export function closeReason(text: string): string {
  let reason = text.length > MAX_CLOSE_REASON_BYTES ? text.slice(0, MAX_CLOSE_REASON_BYTES) : text;
  while (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) reason = reason.slice(0, -1);
  return reason;
}

export interface WebSocketSessionOptions {
  sessionId: string;
  dialect: DialectName;
  socket: WebSocket;
  log: Logger;
  /** Outgoing messages kept while a control-dialect session has no connection. */
  backlogLimit: number;
}

/** The requests of one batch frame, whose replies leave together. */
interface Batch {
  readonly ids: readonly RequestId[];
  /** Replies so far; `undefined` for a request that ended without one (cancelled). */
  readonly replies: Map<RequestId, JSONRPCMessage | undefined>;
  readonly envelopeId: RequestId | null;
}

const BACKEND_FAILURES = new Set(['GATEWAY_BACKEND_EXITED', 'GATEWAY_BACKEND_UNAVAILABLE']);

/**
 * One client session over WebSocket, as the SDK Transport its Session talks to. It writes what
 * the session sends in the connection's dialect, and holds what the client sends until the
 * session has started, so that nothing sent during the backend's start is lost or reordered.
 *
 * Plain and envelope sessions live and die with their socket. A control-dialect session may
 * outlive it: the frontend detaches the socket, and what the session sends meanwhile waits in a
 * bounded backlog for `attach_session` on a new connection.
 */
export class WebSocketSessionTransport implements ClientTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  readonly sessionId: string;
  readonly dialect: DialectName;
  /** Negotiated in `initialize`; set by the session. */
  protocolVersion: string | undefined;
  /**
   * The `auth_token` of the last envelope that carried one, for the authentication to come.
   * A credential: never log it.
   */
  lastAuthToken: string | undefined;

  private socket: WebSocket | undefined;
  private readonly log: Logger;
  private readonly backlogLimit: number;
  private inbound: JSONRPCMessage[] | undefined = [];
  private backlog: string[] = [];
  private graceTimer: NodeJS.Timeout | undefined;
  private closeWith: { code: number; reason: string } | undefined;
  private failure: string | undefined;
  private started = false;
  private closed = false;
  /** Request id → the batch waiting for its reply; none until a client sends a batch. */
  private batches: Map<RequestId, Batch> | undefined;

  constructor(options: WebSocketSessionOptions) {
    this.sessionId = options.sessionId;
    this.dialect = options.dialect;
    this.socket = options.socket;
    this.log = options.log;
    this.backlogLimit = options.backlogLimit;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get isAttached(): boolean {
    return this.socket !== undefined;
  }

  /** Whether `socket` is the connection this session currently talks on. */
  owns(socket: WebSocket): boolean {
    return this.socket === socket;
  }

  /**
   * Moves the session onto `socket` (attach_session) and sends it what waited meanwhile.
   * Returns the socket it replaces, if it still had one.
   */
  attach(socket: WebSocket): WebSocket | undefined {
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    const previous = this.socket;
    this.socket = socket;
    if (this.started) {
      this.write(sessionCreated(this.sessionId));
      const backlog = this.backlog;
      this.backlog = [];
      for (const json of backlog) this.write(json);
    }
    return previous;
  }

  /** The connection went away; false when the session had already moved to another one. */
  detach(socket: WebSocket): boolean {
    if (this.socket !== socket) return false;
    this.socket = undefined;
    return true;
  }

  /** Calls `expire` unless a connection attaches within `ms`. */
  awaitReattach(ms: number, expire: () => void): void {
    clearTimeout(this.graceTimer);
    this.graceTimer = setTimeout(expire, ms).unref();
  }

  /** A message from the client. */
  receive(message: JSONRPCMessage): void {
    if (this.closed) return;
    if (this.inbound) this.inbound.push(message);
    else this.onmessage?.(message);
  }

  /** What the client sent before the session started; the frontend answers it when the start fails. */
  takeQueued(): JSONRPCMessage[] {
    const queued = this.inbound ?? [];
    this.inbound = undefined;
    return queued;
  }

  /**
   * The next requests with these ids came in one batch: their replies are held and sent as one
   * frame once all have come. Returns why not, when an id is already awaited by another batch.
   */
  expectBatch(ids: readonly RequestId[], envelopeId: RequestId | null): string | undefined {
    if (ids.length === 0) return undefined;
    const batches = (this.batches ??= new Map());
    const taken = ids.find((id) => batches.has(id));
    if (taken !== undefined)
      return `the id ${JSON.stringify(taken)} is already in flight in an earlier batch`;
    const batch: Batch = { ids, replies: new Map(), envelopeId };
    for (const id of ids) batches.set(id, batch);
    return undefined;
  }

  /** The session ended a request without a reply (a cancellation). */
  requestEnded(id: RequestId): void {
    const frame = this.settle(id, undefined);
    if (frame) this.write(frame);
  }

  /** The frames that answer `replies` (a failed start's): one each, a batch's in one. */
  framesFor(replies: readonly JSONRPCMessage[]): string[] {
    const frames: string[] = [];
    for (const reply of replies) {
      const id = 'id' in reply ? reply.id : undefined;
      const frame = id === undefined || id === null ? undefined : this.settle(id, reply);
      if (frame === undefined) frames.push(encode(this.dialect, reply));
      else if (frame !== '') frames.push(frame);
    }
    return frames;
  }

  /**
   * Records a batch's reply. Undefined when `id` is in no batch; else the batch's frame once its
   * last reply is in, or '' while it waits (or when none of its requests got a reply).
   */
  private settle(id: RequestId, reply: JSONRPCMessage | undefined): string | undefined {
    const batch = this.batches?.get(id);
    if (!batch) return undefined;
    this.batches!.delete(id);
    batch.replies.set(id, reply);
    if (batch.replies.size < batch.ids.length) return '';
    const replies: JSONRPCMessage[] = [];
    for (const batchId of batch.ids) {
      const r = batch.replies.get(batchId);
      if (r) replies.push(r);
    }
    // JSON-RPC 2.0: a batch whose requests all ended without a reply gets no frame at all.
    return replies.length > 0 ? encodeBatch(this.dialect, replies, batch.envelopeId) : '';
  }

  async start(): Promise<void> {
    this.started = true;
    // The control dialect names the session before anything the session says.
    if (this.dialect === 'control') this.write(sessionCreated(this.sessionId));
    for (const message of this.takeQueued()) {
      if (this.closed) break;
      this.onmessage?.(message);
    }
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) return;
    if ('error' in message) this.noteFailure(message);
    if (this.batches?.size && isReply(message) && message.id !== null && message.id !== undefined) {
      const frame = this.settle(message.id, message);
      if (frame !== undefined) {
        if (frame !== '') this.write(frame);
        return;
      }
    }
    this.write(encode(this.dialect, message));
  }

  /** The session is about to close us: 1011 if its backend went away, 1000 for an orderly end. */
  ending(end: { reason: string; backendFailed: boolean }): void {
    if (this.closed || this.closeWith) return;
    this.closeWith = end.backendFailed
      ? { code: 1011, reason: this.failure ?? end.reason }
      : { code: 1000, reason: end.reason };
  }

  /** Sets the close code and reason for an end the frontend decided (shutdown, say). */
  endWith(code: number, reason: string): void {
    if (!this.closed) this.closeWith = { code, reason };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.graceTimer);
    // `inbound` stays: when the start failed, the frontend answers what it holds.
    this.backlog = [];
    const socket = this.socket;
    this.socket = undefined;
    // Before start, the frontend reports the failed open itself.
    if (socket && this.started) {
      // The session says why through ending(), the frontend through endWith(); a close with
      // neither is the transport failing on its own.
      const { code, reason } = this.closeWith ?? {
        code: 1011,
        reason: this.failure ?? 'the session ended unexpectedly',
      };
      socket.close(code, closeReason(reason));
    }
    this.onclose?.();
  }

  private noteFailure(reply: JSONRPCErrorResponse): void {
    const code = gatewayCodeOf(reply);
    if (code !== undefined && BACKEND_FAILURES.has(code)) this.failure = reply.error.message;
  }

  private write(json: string): void {
    const socket = this.socket;
    if (socket?.readyState === WebSocket.OPEN) {
      coalesceWrites(socket);
      socket.send(json);
      if (channels.bytes.hasSubscribers) {
        const bytes = Buffer.byteLength(json);
        channels.bytes.publish({ transport: 'websocket', direction: 'out', bytes });
      }
      return;
    }
    // A plain or envelope session ends with its socket: nobody could ever read this.
    if (this.dialect !== 'control') return;
    if (this.backlog.push(json) > this.backlogLimit) {
      this.backlog.shift();
      this.log.warn('session has no connection; oldest undelivered message dropped');
    }
  }
}
