import { randomUUID } from 'node:crypto';
import { noteTransport } from './coalesce.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';
import type { JSONRPCMessage, RequestId } from '../core/jsonrpc.js';
import { isRequest } from '../core/jsonrpc.js';
import { GatewayError, asGatewayError, toErrorReply, tooDeep } from '../core/errors.js';
import { nestsDeeperThan } from '../core/json-depth.js';
import { channels } from '../core/diagnostics.js';
import type { Logger } from '../core/logger.js';
import type { DialectName } from './websocket-dialects.js';
import {
  controlError,
  decode,
  detectDialect,
  encodeBatch,
  encodeError,
} from './websocket-dialects.js';
import { WebSocketSessionTransport, closeReason } from './websocket-session.js';
import type { FrontendOptions, PeerInfo, SessionHandle } from './types.js';
import { claimSession } from '../session/ownership.js';
import { sendHttpError } from '../http/error-reply.js';
import type { Principal } from '../core/policy.js';

export interface WebSocketFrontendOptions extends FrontendOptions {
  /**
   * Interval of keepalive pings. A connection that has not answered the previous ping by the
   * next one is dropped.
   * @default 30_000
   */
  pingIntervalMs?: number;
  /**
   * Checks the `auth_token` an envelope message carries; a message whose token fails is refused
   * with a JSON-RPC error, and so is one whose token names another caller than the connection's.
   * Without it, tokens in messages are kept but not checked. @default undefined
   */
  verifyMessageToken?: (token: string) => Promise<Principal>;
  /** Connections one client address may hold at once; more get HTTP 429. 0: no limit. @default 0 */
  maxConnectionsPerIp?: number;
  /**
   * How long a control-dialect session outlives its connection, waiting for `attach_session`.
   * @default 60_000
   */
  reattachGraceMs?: number;
  /**
   * Messages kept for a control-dialect session while it has no connection; past this, the
   * oldest are dropped.
   * @default 1000
   */
  reattachBacklog?: number;
}

/** A session and, once it is open, its handle. Shared by the connections it lives on. */
interface Entry {
  readonly transport: WebSocketSessionTransport;
  handle: SessionHandle | undefined;
  /** Who opened it, known before the session is: `attach_session` checks it. */
  readonly principal: Principal | undefined;
}

interface Connection {
  readonly socket: WebSocket;
  readonly peer: PeerInfo;
  /** Per-message token checks in progress, in order. */
  checking?: Promise<void>;
  /** Fixed by the first message that fits a dialect. */
  dialect: DialectName | undefined;
  entry: Entry | undefined;
  /** Whether the socket answered the last ping. */
  alive: boolean;
}

/** The control frames counted in `mcp_gateway_websocket_messages_total`. */
const PING_OUT = { transport: 'websocket', direction: 'out', type: 'ping' } as const;
const PING_IN = { transport: 'websocket', direction: 'in', type: 'ping' } as const;
const PONG_IN = { transport: 'websocket', direction: 'in', type: 'pong' } as const;

const SHUTDOWN = { code: 1001, reason: 'gateway shutting down' };
/** How long shutdown waits for clients to finish the close handshake before cutting them off. */
const CLOSE_WAIT_MS = 2000;

/**
 * MCP over WebSocket at /ws, sharing the gateway's HTTP server. Each connection is one session,
 * opened on its first usable message (which also tells its dialect: plain JSON-RPC, or one of
 * the seed systems' wrappers, see websocket-dialects.ts). Bad input is answered, not fatal; only
 * binary frames (1003) and the protocol errors `ws` handles itself (1007, 1009) end a connection.
 */
export class WebSocketFrontend {
  private readonly server: WebSocketServer;
  private readonly connections = new Set<Connection>();
  /** Control-dialect sessions, which attach_session may find by id. */
  private readonly resumable = new Map<string, Entry>();
  private readonly log: Logger;
  private readonly graceMs: number;
  private readonly backlogLimit: number;
  private readonly pinger: NodeJS.Timeout;
  private closing = false;
  private stopped: Promise<void> | undefined;

  constructor(private readonly options: WebSocketFrontendOptions) {
    this.log = options.log;
    this.graceMs = options.reattachGraceMs ?? 60_000;
    this.backlogLimit = options.reattachBacklog ?? 1000;
    this.server = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes,
      handleProtocols: (offered) => (offered.has('mcp') ? 'mcp' : false),
    });
    // One timer for every connection, not one per connection.
    this.pinger = setInterval(() => this.ping(), options.pingIntervalMs ?? 30_000).unref();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Takes an upgrade of `peer` (its address, and its principal once authenticated). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, peer: PeerInfo = {}): void {
    if (this.closing) {
      if (channels.connectionRejected.hasSubscribers)
        channels.connectionRejected.publish({ transport: 'websocket', reason: 'shutting_down' });
      sendHttpError(socket, new GatewayError('GATEWAY_SHUTTING_DOWN'));
      return;
    }
    const cap = this.options.maxConnectionsPerIp ?? 0;
    if (cap > 0 && peer.remoteAddress !== undefined) {
      let held = 0;
      for (const conn of this.connections)
        if (conn.peer.remoteAddress === peer.remoteAddress) held++;
      if (held >= cap) {
        if (channels.rateLimited.hasSubscribers) {
          channels.rateLimited.publish({ scope: 'connection', key: peer.remoteAddress });
        }
        if (channels.connectionRejected.hasSubscribers)
          channels.connectionRejected.publish({ transport: 'websocket', reason: 'per_ip_limit' });
        sendHttpError(
          socket,
          new GatewayError(
            'GATEWAY_RATE_LIMITED',
            `at most ${cap} WebSocket connections per client address`,
          ),
          { headers: { 'retry-after': '1' } },
        );
        return;
      }
    }
    this.server.handleUpgrade(req, socket, head, (ws) => {
      noteTransport(ws, socket);
      this.accept(ws, peer);
    });
  }

  private accept(socket: WebSocket, peer: PeerInfo): void {
    const conn: Connection = { socket, peer, dialect: undefined, entry: undefined, alive: true };
    this.connections.add(conn);
    if (channels.connectionOpen.hasSubscribers) {
      channels.connectionOpen.publish({ transport: 'websocket' });
      socket.once('close', () => channels.connectionClose.publish({ transport: 'websocket' }));
    }
    socket.on('pong', () => {
      conn.alive = true;
      if (channels.frame.hasSubscribers) channels.frame.publish(PONG_IN);
    });
    socket.on('ping', () => {
      if (channels.frame.hasSubscribers) channels.frame.publish(PING_IN);
    });
    socket.on('message', (data, isBinary) => this.onFrame(conn, data, isBinary));
    // ws closes the connection itself on these (1009 too large, 1007 bad UTF-8, ...).
    socket.on('error', (error) => this.log.debug({ err: error }, 'WebSocket protocol error'));
    socket.on('close', () => this.onSocketClose(conn));
  }

  private onFrame(conn: Connection, data: RawData, isBinary: boolean): void {
    if (isBinary) {
      if (channels.frame.hasSubscribers)
        channels.frame.publish({ transport: 'websocket', direction: 'in', type: 'binary' });
      conn.socket.close(1003, 'binary frames are not accepted; send JSON text frames');
      return;
    }
    if (channels.bytes.hasSubscribers) {
      const bytes = Array.isArray(data)
        ? data.reduce((sum, part) => sum + part.length, 0)
        : data.byteLength;
      channels.bytes.publish({ transport: 'websocket', direction: 'in', bytes });
    }
    const text = data.toString();
    if (nestsDeeperThan(text, this.options.maxDepth)) {
      this.reject(conn, null, tooDeep(this.options.maxDepth));
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.reject(conn, null, new GatewayError('GATEWAY_PARSE_ERROR', (error as Error).message));
      return;
    }
    // An array of seed frames (envelopes, control messages) is taken item by item, each answered
    // on its own; an array of JSON-RPC messages is a batch (decode), answered in one frame.
    if (Array.isArray(value) && value.length > 0) {
      const dialect = detectDialect(value[0]);
      if (
        (dialect === 'control' || dialect === 'envelope') &&
        (conn.dialect ?? dialect) === dialect
      ) {
        conn.dialect ??= dialect;
        for (const item of value) this.onValue(conn, item);
        return;
      }
    }
    this.onValue(conn, value);
  }

  private onValue(conn: Connection, value: unknown): void {
    conn.dialect ??= detectDialect(value);
    const inbound = decode(conn.dialect ?? 'jsonrpc', value);
    switch (inbound.kind) {
      case 'message':
        if (this.options.verifyMessageToken && (inbound.authToken !== undefined || conn.checking)) {
          // Checked in arrival order: a message waits for the ones before it.
          const { message, authToken } = inbound;
          conn.checking = (conn.checking ?? Promise.resolve()).then(() =>
            this.checkAndDeliver(conn, message, authToken),
          );
          return;
        }
        return this.deliver(conn, inbound.message, inbound.authToken);
      case 'batch': {
        const { messages, authToken, envelopeId } = inbound;
        if (this.options.verifyMessageToken && (authToken !== undefined || conn.checking)) {
          conn.checking = (conn.checking ?? Promise.resolve()).then(() =>
            this.checkAndDeliverBatch(conn, messages, authToken, envelopeId),
          );
          return;
        }
        return this.deliverBatch(conn, messages, authToken, envelopeId);
      }
      case 'invalid':
        return this.reject(
          conn,
          inbound.id,
          new GatewayError(
            inbound.params ? 'GATEWAY_INVALID_PARAMS' : 'GATEWAY_INVALID_REQUEST',
            inbound.problem,
          ),
          inbound.envelopeId,
        );
      case 'create':
        if (conn.entry)
          return this.send(conn, controlError('this connection already has a session'));
        return this.open(conn, this.transportFor(conn, 'control'));
      case 'attach':
        return this.attach(conn, inbound.sessionId);
    }
  }

  private async checkAndDeliver(
    conn: Connection,
    message: JSONRPCMessage,
    authToken: string | undefined,
  ): Promise<void> {
    if (authToken !== undefined) {
      const refusal = await this.checkToken(conn, authToken);
      if (refusal) return this.reject(conn, isRequest(message) ? message.id : null, refusal);
    }
    this.deliver(conn, message, authToken);
  }

  private async checkAndDeliverBatch(
    conn: Connection,
    messages: JSONRPCMessage[],
    authToken: string | undefined,
    envelopeId: RequestId | null,
  ): Promise<void> {
    if (authToken !== undefined) {
      const refusal = await this.checkToken(conn, authToken);
      if (refusal) return this.rejectBatch(conn, messages, refusal, envelopeId);
    }
    this.deliverBatch(conn, messages, authToken, envelopeId);
  }

  /** Why a message token is refused for this connection, or undefined when it is good. */
  private async checkToken(conn: Connection, token: string): Promise<GatewayError | undefined> {
    let principal: Principal;
    try {
      principal = await this.options.verifyMessageToken!(token);
    } catch (error) {
      return error instanceof GatewayError
        ? error
        : new GatewayError('GATEWAY_UNAUTHORIZED', 'the message token is not valid');
    }
    const owner = conn.peer.principal;
    if (owner && owner.id !== principal.id)
      return new GatewayError(
        'GATEWAY_FORBIDDEN',
        'the message token names another caller than this connection',
      );
    return undefined;
  }

  /** One batch: its messages go to the session in order, and its replies come back in one frame. */
  private deliverBatch(
    conn: Connection,
    messages: JSONRPCMessage[],
    authToken: string | undefined,
    envelopeId: RequestId | null,
  ): void {
    const ids = messages.filter(isRequest).map((m) => m.id);
    let transport = conn.entry?.transport;
    if (transport && !transport.owns(conn.socket)) return;
    if (!transport && conn.dialect === 'control') {
      const error = new GatewayError(
        'GATEWAY_SESSION_REQUIRED',
        'send create_session or attach_session first',
      );
      return this.rejectBatch(conn, messages, error, envelopeId);
    }
    const opening = !transport;
    // A session opened by a batch fixes the connection's dialect, as its first message would.
    conn.dialect ??= 'jsonrpc';
    transport ??= this.transportFor(conn, conn.dialect);
    const problem = transport.expectBatch(ids, envelopeId);
    if (problem)
      return this.rejectBatch(
        conn,
        messages,
        new GatewayError('GATEWAY_INVALID_REQUEST', problem),
        envelopeId,
      );
    if (authToken !== undefined) transport.lastAuthToken = authToken;
    for (const message of messages) transport.receive(message);
    if (opening) this.open(conn, transport);
  }

  /** Answers every request of a batch with `error`, in one frame; a batch of notifications once. */
  private rejectBatch(
    conn: Connection,
    messages: JSONRPCMessage[],
    error: GatewayError,
    envelopeId: RequestId | null,
  ): void {
    const dialect = conn.dialect ?? 'jsonrpc';
    const replies = messages.filter(isRequest).map((m) => toErrorReply(m.id, error));
    if (replies.length === 0) return this.reject(conn, null, error, envelopeId);
    this.send(conn, encodeBatch(dialect, replies, envelopeId));
  }

  private deliver(conn: Connection, message: JSONRPCMessage, authToken?: string): void {
    const entry = conn.entry;
    if (entry) {
      // A connection that lost its session to attach_session elsewhere is being closed.
      if (!entry.transport.owns(conn.socket)) return;
      if (authToken !== undefined) entry.transport.lastAuthToken = authToken;
      entry.transport.receive(message);
      return;
    }
    if (conn.dialect === 'control') {
      const id = isRequest(message) ? message.id : null;
      return this.reject(
        conn,
        id,
        new GatewayError('GATEWAY_SESSION_REQUIRED', 'send create_session or attach_session first'),
      );
    }
    const transport = this.transportFor(conn, conn.dialect ?? 'jsonrpc');
    // Set before the session opens, so that whatever checks it then can read it.
    if (authToken !== undefined) transport.lastAuthToken = authToken;
    transport.receive(message);
    this.open(conn, transport);
  }

  private transportFor(conn: Connection, dialect: DialectName): WebSocketSessionTransport {
    const sessionId = randomUUID();
    return new WebSocketSessionTransport({
      sessionId,
      dialect,
      socket: conn.socket,
      log: this.log.child({ session: sessionId }),
      backlogLimit: this.backlogLimit,
    });
  }

  private open(conn: Connection, transport: WebSocketSessionTransport): void {
    const entry: Entry = { transport, handle: undefined, principal: conn.peer.principal };
    conn.entry = entry;
    this.options.openSession(transport, 'websocket', conn.peer).then(
      (handle) => this.opened(entry, handle),
      (error: unknown) => this.openFailed(conn, entry, error),
    );
  }

  private opened(entry: Entry, handle: SessionHandle): void {
    entry.handle = handle;
    const { transport } = entry;
    if (transport.dialect === 'control' && !transport.isClosed) {
      const id = transport.sessionId;
      this.resumable.set(id, entry);
      const previous = transport.onclose;
      transport.onclose = () => {
        if (this.resumable.get(id) === entry) this.resumable.delete(id);
        previous?.();
      };
    }
    if (this.closing) {
      transport.endWith(SHUTDOWN.code, SHUTDOWN.reason);
      void handle.close(SHUTDOWN.reason);
    } else if (!transport.isAttached) {
      // Gone while the backend started: the client cannot have learnt the session's id.
      void handle.close('client closed the connection');
    }
  }

  private openFailed(conn: Connection, entry: Entry, error: unknown): void {
    const failure = asGatewayError(error);
    if (failure.code !== 'GATEWAY_SHUTTING_DOWN')
      this.log.warn({ err: error }, 'could not open a session');
    if (conn.entry === entry) conn.entry = undefined;
    const { dialect } = entry.transport;
    const replies = entry.transport
      .takeQueued()
      .filter(isRequest)
      .map((message) => toErrorReply(message.id, failure));
    for (const frame of entry.transport.framesFor(replies)) this.send(conn, frame);
    if (dialect === 'control') this.send(conn, controlError(failure.message, failure.rpcCode));
    const code = this.closing ? SHUTDOWN.code : 1011;
    conn.socket.close(code, closeReason(failure.message));
  }

  private attach(conn: Connection, sessionId: string | undefined): void {
    if (conn.entry) return this.send(conn, controlError('this connection already has a session'));
    const entry = sessionId === undefined ? undefined : this.resumable.get(sessionId);
    if (!entry || entry.transport.isClosed) {
      const why =
        sessionId === undefined
          ? 'attach_session needs a session_id'
          : 'session not found: it has ended or never existed; send create_session';
      return this.send(conn, controlError(why));
    }
    try {
      claimSession(entry, conn.peer.principal, 'websocket');
    } catch (error) {
      return this.send(conn, controlError((error as Error).message, -32031));
    }
    conn.entry = entry;
    const previous = entry.transport.attach(conn.socket);
    // Whoever holds the id holds the session: a client that reconnects before its old
    // connection is noticed dead must not be locked out.
    previous?.close(1000, 'the session was attached to another connection');
  }

  private onSocketClose(conn: Connection): void {
    this.connections.delete(conn);
    const entry = conn.entry;
    // Moved to another connection, or still opening (opened() will see it detached).
    if (!entry || !entry.transport.detach(conn.socket) || !entry.handle) return;
    if (entry.transport.dialect === 'control' && !this.closing) {
      const handle = entry.handle;
      entry.transport.awaitReattach(
        this.graceMs,
        () => void handle.close('no attach_session in time'),
      );
    } else {
      void entry.handle.close('client closed the connection');
    }
  }

  private reject(
    conn: Connection,
    id: RequestId | null,
    error: GatewayError,
    envelopeId?: RequestId | null,
  ): void {
    this.send(conn, encodeError(conn.dialect ?? 'jsonrpc', toErrorReply(id, error), envelopeId));
  }

  private send(conn: Connection, json: string): void {
    if (conn.socket.readyState !== WebSocket.OPEN) return;
    conn.socket.send(json);
    if (channels.bytes.hasSubscribers)
      channels.bytes.publish({
        transport: 'websocket',
        direction: 'out',
        bytes: Buffer.byteLength(json),
      });
  }

  private ping(): void {
    const counted = channels.frame.hasSubscribers;
    for (const conn of this.connections) {
      if (!conn.alive) {
        this.log.debug('WebSocket client did not answer a ping; dropping it');
        conn.socket.terminate();
        continue;
      }
      conn.alive = false;
      conn.socket.ping();
      if (counted) channels.frame.publish(PING_OUT);
    }
  }

  /** Ends every session and connection (gateway shutdown), with close code 1001. */
  close(): Promise<void> {
    if (!this.stopped) {
      this.closing = true;
      this.stopped = this.shutdown();
    }
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.pinger);
    const entries = new Set(this.resumable.values());
    for (const conn of this.connections) if (conn.entry) entries.add(conn.entry);
    // Before any session closes, so that each closes its socket with 1001 whoever ends it.
    for (const entry of entries) entry.transport.endWith(SHUTDOWN.code, SHUTDOWN.reason);
    await Promise.allSettled([...entries].map((entry) => entry.handle?.close(SHUTDOWN.reason)));
    const sockets = [...this.connections].map((conn) => conn.socket);
    await Promise.all(sockets.map((socket) => closeSocket(socket)));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Closes `socket` with 1001, cutting it off if the peer does not finish the handshake in time. */
function closeSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => socket.terminate(), CLOSE_WAIT_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.close(SHUTDOWN.code, SHUTDOWN.reason);
  });
}
