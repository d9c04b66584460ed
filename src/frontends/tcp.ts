import type { AddressInfo, Server, Socket } from 'node:net';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { JSONRPCMessage, RequestId } from '../core/jsonrpc.js';
import { checkClientMessage, isRequest } from '../core/jsonrpc.js';
import { nestsDeeperThan } from '../core/json-depth.js';
import {
  asGatewayError,
  GatewayError,
  invalidMessage,
  toErrorReply,
  tooDeep,
} from '../core/errors.js';
import { channels } from '../core/diagnostics.js';
import { listenTcp } from './tcp-listen.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/policy.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameError,
  FrameType,
  agreeVersion,
  encodeFrame,
  encodeJsonFrame,
  frameTypeName,
  parsePayload,
  protocolErrorType,
} from '../core/frames.js';
import type { Frame, FrameTypeNumber } from '../core/frames.js';
import { TcpSessionTransport } from './tcp-session.js';
import { TcpHealthListener } from './tcp-health.js';
import type { TcpHealthStatus } from './tcp-health.js';
import type { FrontendOptions, PeerInfo, SessionHandle } from './types.js';

export interface TcpFrontendOptions extends FrontendOptions {
  /** Port to listen on; 0 for any free port. @default 8444 */
  port?: number;
  /** Address to bind. @default '127.0.0.1' */
  host?: string;
  /** Serve TLS with these (certificate, key, CA...) instead of plain TCP. @default undefined */
  tls?: SecureContextOptions & Pick<TlsOptions, 'requestCert' | 'rejectUnauthorized'>;
  /** Largest frame payload accepted from a client, in bytes. @default 10 MiB */
  maxFrameBytes?: number;
  /** Requests one connection may have in flight; more are answered with GATEWAY_CAPACITY. @default 1024 */
  maxInFlight?: number;
  /** Checks an `auth_token` (request frame envelope or control `auth`). @default undefined */
  verifyMessageToken?: (token: string) => Promise<Principal>;
  /** When true, a connection must authenticate before its first request. @default false */
  authRequired?: boolean;
  /** The caller a TLS client certificate names, when one was verified. @default undefined */
  certificatePrincipal?: (socket: Socket) => Principal | undefined;
  /** Also answer health probes on this port (seed 003's `tcp_health_port`). @default undefined (off) */
  healthPort?: number;
  /** The gateway's health, for those probes. @default healthy, with no checks */
  healthStatus?: () => TcpHealthStatus;
}

/** Per connection: where it is in the protocol, who it is, its session once opened. */
interface Connection {
  readonly socket: Socket;
  readonly decoder: FrameDecoder;
  readonly peer: PeerInfo;
  state: 'negotiating' | 'open' | 'closed';
  transport: TcpSessionTransport | undefined;
  handle: SessionHandle | undefined;
  /** Client requests waiting for their reply. */
  readonly inFlight: Set<RequestId>;
  /** Token checks in progress, in arrival order: a message waits for the ones before it. */
  checking: Promise<void> | undefined;
}

/** How long a closing connection may take to flush what it was sent. */
const END_GRACE_MS = 1000;

/**
 * The framed TCP protocol (docs/tcp-protocol.md), one session per connection, opened on the first
 * request. Every frame that breaks the protocol (bad magic, unknown version or type, an oversized
 * payload, a payload that is not JSON, a frame the client may not send) is answered with an error
 * frame and the connection is closed; the gateway itself never fails on a client's bytes.
 */
export class TcpFrontend {
  private server: Server | undefined;
  private healthListener: TcpHealthListener | undefined;
  private readonly connections = new Set<Connection>();
  private readonly log: Logger;
  private readonly maxFrameBytes: number;
  private readonly maxInFlight: number;
  private closing = false;

  constructor(private readonly options: TcpFrontendOptions) {
    this.log = options.log.child({ frontend: 'tcp' });
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxInFlight = options.maxInFlight ?? 1024;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Where it listens, once listening. */
  address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  /** Where the health port listens, once listening. */
  healthAddress(): AddressInfo | undefined {
    return this.healthListener?.address();
  }

  async listen(): Promise<AddressInfo> {
    if (this.server) throw new Error('the TCP frontend is already listening');
    const { healthPort } = this.options;
    if (healthPort !== undefined) {
      const health = new TcpHealthListener({
        port: healthPort,
        host: this.options.host ?? '127.0.0.1',
        tls: this.options.tls,
        status: () =>
          this.closing
            ? { healthy: false, checks: {} }
            : (this.options.healthStatus?.() ?? { healthy: true, checks: {} }),
        log: this.log,
      });
      // Its own port: a failure names it, so that the CLI's message says which port it was.
      await health.listen();
      this.healthListener = health;
    }
    const server = await listenTcp(
      {
        port: this.options.port ?? 8444,
        host: this.options.host ?? '127.0.0.1',
        tls: this.options.tls,
        log: this.log,
      },
      (socket) => this.accept(socket),
    );
    this.server = server;
    return server.address() as AddressInfo;
  }

  private accept(socket: Socket): void {
    socket.on('error', (error) => this.log.debug({ err: error }, 'TCP connection error'));
    if (this.closing) {
      if (channels.connectionRejected.hasSubscribers)
        channels.connectionRejected.publish({ transport: 'tcp', reason: 'shutting_down' });
      return void socket.destroy();
    }
    socket.setNoDelay(true);
    const conn: Connection = {
      socket,
      decoder: new FrameDecoder({ maxPayloadBytes: this.maxFrameBytes }),
      peer: {
        remoteAddress: socket.remoteAddress,
        principal: this.options.certificatePrincipal?.(socket),
      },
      state: 'negotiating',
      transport: undefined,
      handle: undefined,
      inFlight: new Set(),
      checking: undefined,
    };
    this.connections.add(conn);
    if (channels.connectionOpen.hasSubscribers)
      channels.connectionOpen.publish({ transport: 'tcp' });
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.once('close', () => this.onClose(conn));
  }

  private onData(conn: Connection, chunk: Buffer): void {
    if (conn.state === 'closed') return;
    try {
      for (const frame of conn.decoder.push(chunk)) {
        this.onFrame(conn, frame);
        if ((conn.state as Connection['state']) === 'closed') return;
      }
    } catch (error) {
      this.fail(conn, error);
    }
  }

  private onFrame(conn: Connection, frame: Frame): void {
    if (frame.type !== FrameType.request && channels.frame.hasSubscribers)
      channels.frame.publish({
        transport: 'tcp',
        direction: 'in',
        type: frameTypeName(frame.type),
      });
    switch (frame.type) {
      case FrameType.version: {
        if (conn.state !== 'negotiating')
          throw new FrameError('TCP_UNEXPECTED_FRAME', 'the version was already negotiated');
        const agreed = agreeVersion(parsePayload(frame));
        conn.state = 'open';
        this.write(conn, encodeJsonFrame(FrameType.versionAck, { agreed_version: agreed }));
        return;
      }
      case FrameType.health:
        return this.health(conn, frame);
      case FrameType.control:
        return this.control(conn, parsePayload(frame));
      case FrameType.request: {
        // A client that skips negotiation speaks version 1.
        conn.state = 'open';
        if (channels.bytes.hasSubscribers)
          channels.bytes.publish({
            transport: 'tcp',
            direction: 'in',
            bytes: frame.payload.length,
          });
        // Bounded before it is parsed, as on every other frontend (limits.maxDepth).
        const text = frame.payload.toString('utf8');
        if (nestsDeeperThan(text, this.options.maxDepth))
          return this.reply(conn, null, tooDeep(this.options.maxDepth));
        return this.request(conn, parsePayload(frame));
      }
      case FrameType.error:
        this.log.warn(
          { reason: frame.payload.toString('utf8').slice(0, 500) },
          'TCP client sent an error frame; closing',
        );
        return this.end(conn);
      case FrameType.response:
      case FrameType.versionAck:
        throw new FrameError(
          'TCP_UNEXPECTED_FRAME',
          `frame type ${frame.type} travels from the gateway to the client, not the other way`,
        );
    }
  }

  private health(conn: Connection, frame: Frame): void {
    const value = frame.payload.length === 0 ? {} : parsePayload(frame);
    const probe =
      typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
    if (probe.kind === 'pong') return;
    this.write(
      conn,
      encodeJsonFrame(FrameType.health, {
        kind: 'pong',
        ...(probe.id !== undefined && { id: probe.id }),
        status: this.closing ? 'shutting_down' : 'ok',
      }),
    );
  }

  private control(conn: Connection, value: unknown): void {
    const control =
      typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
    if (control.type === 'auth' && typeof control.auth_token === 'string') {
      conn.checking = (conn.checking ?? Promise.resolve()).then(async () => {
        try {
          await this.authenticate(conn, control.auth_token as string);
        } catch (error) {
          return this.fail(conn, new FrameError('TCP_UNAUTHORIZED', (error as Error).message));
        }
        this.write(
          conn,
          encodeJsonFrame(FrameType.control, {
            type: 'auth_ok',
            principal: conn.peer.principal?.id,
          }),
        );
      });
      return;
    }
    this.write(
      conn,
      encodeJsonFrame(FrameType.control, {
        type: 'error',
        error: `unknown control message; the gateway understands {"type":"auth","auth_token":"..."}`,
      }),
    );
  }

  /** Checks `token`; the connection's caller is fixed by the first token and may not change. */
  private async authenticate(conn: Connection, token: string): Promise<void> {
    const verify = this.options.verifyMessageToken;
    if (!verify) return;
    let principal: Principal;
    try {
      principal = await verify(token);
    } catch (error) {
      throw error instanceof GatewayError
        ? error
        : new GatewayError('GATEWAY_UNAUTHORIZED', 'the token is not valid');
    }
    const owner = conn.peer.principal;
    if (owner && owner.id !== principal.id) {
      throw new GatewayError(
        'GATEWAY_FORBIDDEN',
        'the token names another caller than this connection',
      );
    }
    conn.peer.principal = principal;
  }

  private request(conn: Connection, value: unknown): void {
    let message: unknown = value;
    let token: string | undefined;
    if (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      'message' in value &&
      !('jsonrpc' in value)
    ) {
      const envelope = value as { auth_token?: unknown; message: unknown };
      message = envelope.message;
      if (typeof envelope.auth_token === 'string') token = envelope.auth_token;
    }
    const id = idOf(message);
    if (Array.isArray(message)) {
      const batch = 'a request frame carries one JSON-RPC message, not a batch';
      return this.reply(conn, id, new GatewayError('GATEWAY_INVALID_REQUEST', batch));
    }
    // The same check as every frontend's: what a backend would drop silently is refused here.
    const problem = checkClientMessage(message);
    if (problem) return this.reply(conn, id, invalidMessage(problem, id));
    const rpc = message as JSONRPCMessage;
    if (this.options.verifyMessageToken && (token !== undefined || conn.checking)) {
      conn.checking = (conn.checking ?? Promise.resolve()).then(() => this.admit(conn, rpc, token));
      return;
    }
    void this.admit(conn, rpc, token);
  }

  private async admit(conn: Connection, message: JSONRPCMessage, token: string | undefined) {
    if (conn.state === 'closed') return;
    const id = isRequest(message) ? message.id : null;
    if (token !== undefined) {
      try {
        await this.authenticate(conn, token);
      } catch (error) {
        return isRequest(message) ? this.reply(conn, id, asGatewayError(error)) : undefined;
      }
    }
    if (this.options.authRequired && !conn.peer.principal) {
      if (!isRequest(message)) return;
      return this.reply(
        conn,
        id,
        new GatewayError(
          'GATEWAY_UNAUTHORIZED',
          'authenticate first: an "auth_token" in the request frame, or a control frame {"type":"auth","auth_token":"..."}',
        ),
      );
    }
    if (isRequest(message)) {
      if (conn.inFlight.size >= this.maxInFlight) {
        return this.reply(
          conn,
          id,
          new GatewayError(
            'GATEWAY_CAPACITY',
            `this connection already has ${this.maxInFlight} requests in flight (server.tcp.maxInFlight)`,
          ),
        );
      }
      conn.inFlight.add(message.id);
    }
    (conn.transport ?? this.open(conn)).receive(message);
  }

  private open(conn: Connection): TcpSessionTransport {
    const transport = new TcpSessionTransport({
      socket: conn.socket,
      log: this.log,
      maxFrameBytes: this.maxFrameBytes,
      onReplied: (id) => conn.inFlight.delete(id),
    });
    conn.transport = transport;
    this.options.openSession(transport, 'tcp', conn.peer).then(
      (handle) => {
        conn.handle = handle;
        if (conn.state === 'closed' || this.closing)
          void handle.close(this.closing ? 'gateway shutting down' : 'client left');
      },
      (error: unknown) => {
        const failure = asGatewayError(error);
        this.log.warn({ err: error }, 'could not open a session for a TCP client');
        for (const message of transport.takeHeld())
          if (isRequest(message)) this.reply(conn, message.id, failure);
        this.fail(conn, failure);
      },
    );
    return transport;
  }

  private reply(conn: Connection, id: RequestId | null, error: GatewayError): void {
    this.write(conn, encodeJsonFrame(FrameType.response, toErrorReply(id, error)));
  }

  /** Writes a frame the gateway makes itself (never a session's message: those are the transport's). */
  private write(conn: Connection, frame: Buffer): void {
    if (conn.state === 'closed' || conn.socket.destroyed || conn.socket.writableEnded) return;
    conn.socket.write(frame);
    if (!channels.frame.hasSubscribers && !channels.bytes.hasSubscribers) return;
    const type = frame.readUInt16BE(6) as FrameTypeNumber;
    if (type !== FrameType.response)
      channels.frame.publish({ transport: 'tcp', direction: 'out', type: frameTypeName(type) });
    else
      channels.bytes.publish({
        transport: 'tcp',
        direction: 'out',
        bytes: frame.length - FRAME_HEADER_BYTES,
      });
  }

  /** Answers a broken protocol with an error frame, then closes. Never throws. */
  private fail(conn: Connection, error: unknown): void {
    const text =
      error instanceof FrameError || error instanceof GatewayError
        ? error.message
        : 'TCP_INTERNAL: the connection failed';
    if (channels.tcpProtocolError.hasSubscribers && !(error instanceof GatewayError))
      channels.tcpProtocolError.publish({
        type: error instanceof FrameError ? protocolErrorType(error.code) : 'internal',
      });
    if (!(error instanceof FrameError || error instanceof GatewayError))
      this.log.error({ err: error }, 'TCP connection failed');
    else this.log.debug({ reason: text }, 'closing a TCP connection');
    this.write(conn, encodeFrame(FrameType.error, text));
    this.end(conn);
  }

  private end(conn: Connection): void {
    if (conn.state === 'closed') return;
    conn.state = 'closed';
    conn.socket.end();
    setTimeout(() => conn.socket.destroy(), END_GRACE_MS).unref();
    void conn.handle?.close('client connection closed');
  }

  private onClose(conn: Connection): void {
    this.connections.delete(conn);
    conn.state = 'closed';
    if (channels.connectionClose.hasSubscribers)
      channels.connectionClose.publish({ transport: 'tcp' });
    void conn.handle?.close('client closed the connection');
  }

  /** Stops listening and ends every connection and its session. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const server = this.server;
    this.server = undefined;
    await this.healthListener?.close();
    const stopped = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    await Promise.allSettled(
      [...this.connections].map((c) => c.handle?.close('gateway shutting down')),
    );
    for (const conn of this.connections) {
      conn.state = 'closed';
      conn.socket.end();
      setTimeout(() => conn.socket.destroy(), END_GRACE_MS).unref();
    }
    await stopped;
  }
}

function idOf(value: unknown): RequestId | null {
  if (typeof value !== 'object' || value === null || !('id' in value)) return null;
  const id = value.id;
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null;
}
