import type { BackendTransport } from './transport.js';
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import { describeInvalidMessage } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';
import { lazyReply } from '../core/raw-json.js';
import type { ConnectionOptions } from 'node:tls';
import { randomUUID } from 'node:crypto';

export interface WebSocketBackendOptions {
  /** Backend name, for logs and errors. */
  name: string;
  /** A ws: or wss: URL. */
  url: string;
  /** Sent with the upgrade request (an Authorization header, say). Never logged. */
  headers: Record<string, string>;
  log: Logger;
  /** A larger message from the server ends the connection (close code 1009). */
  maxMessageBytes: number;
  /**
   * Interval of keepalive pings; a server that has not answered the previous one by the next is
   * taken as gone.
   * @default 30_000
   */
  pingIntervalMs?: number;
  /** How long the opening handshake may take. @default 10_000 */
  handshakeTimeoutMs?: number;
  /** TLS settings for `wss://`: a private CA, a client certificate (mTLS). @default {} */
  tls?: Pick<ConnectionOptions, 'ca' | 'servername' | 'cert' | 'key'>;
  /**
   * Speak the seed's envelope dialect (docs/transports.md): each message wrapped as
   * `{"id","timestamp","source","auth_token"?,"mcp_payload"}`, the token asked for per message.
   * @default undefined: plain JSON-RPC
   */
  envelope?: { source?: string; authToken?: () => string | undefined };
  /**
   * Speak the seed's control dialect (docs/transports.md): the connection first asks for a
   * session (`create_session`), or for the one it had (`attach_session`, which the gateway keeps
   * for a while after a connection drops, with what it sent meanwhile); replies come wrapped as
   * `{"type":"response","data":{...}}`. start() resolves once `session_created` is in.
   * @default undefined: plain JSON-RPC
   */
  control?: {
    sessionId?: string;
    /**
     * Called when attach_session succeeds, before any frame after `session_created` is read:
     * what the remote kept for the session comes right behind it.
     */
    onAttached?: () => void;
  };
}

/** The server answered the upgrade with an HTTP status instead (401, say). */
export class UpgradeRefused extends GatewayError {
  constructor(
    name: string,
    url: string,
    readonly httpStatus: number,
  ) {
    super(
      'GATEWAY_BACKEND_UNAVAILABLE',
      `${name}: ${url} answered the WebSocket upgrade with HTTP ${httpStatus}`,
    );
  }
}

/** The remote no longer has the session that attach_session asked for. */
export class SessionNotAttached extends GatewayError {
  constructor(name: string, why: string) {
    super('GATEWAY_SESSION_NOT_FOUND', `${name}: attach_session refused: ${why}`);
  }
}

/** How long close() waits for the server's half of the close handshake. */
const CLOSE_WAIT_MS = 2000;

/**
 * A backend MCP server spoken to over WebSocket (subprotocol `mcp`, one JSON-RPC message per text
 * frame), as the SDK's client Transport. One connection per session.
 */
export class WebSocketBackendTransport implements BackendTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  private socket: WebSocket | undefined;
  private ended: Promise<void> = Promise.resolve();
  private pinger: NodeJS.Timeout | undefined;
  private closeInfo: { code: number; reason: string } | undefined;
  /** Why we cut the connection ourselves, when we did. */
  private dropped: string | undefined;
  private closing = false;
  private readonly log: Logger;
  /** In the control dialect, the session the remote gave this connection. */
  private session: string | undefined;
  /** In the control dialect, until session_created: what settles start(). */
  private awaitingSession: { resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(private readonly options: WebSocketBackendOptions) {
    this.log = options.log.child({ backend: options.name });
  }

  /** In the control dialect, the remote's id of the session (for attach_session next time). */
  get sessionId(): string | undefined {
    return this.session;
  }

  start(): Promise<void> {
    if (this.socket) throw new Error('WebSocketBackendTransport already started');
    const { name, url, headers, maxMessageBytes } = this.options;
    const unavailable = (why: string, cause?: unknown) =>
      new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', `${name}: ${why}`, { cause });
    return new Promise<void>((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new WebSocket(url, 'mcp', {
          headers,
          maxPayload: maxMessageBytes,
          handshakeTimeout: this.options.handshakeTimeoutMs ?? 10_000,
          ...this.options.tls,
        });
      } catch (error) {
        // A URL ws cannot use throws here rather than failing the connection.
        reject(unavailable((error as Error).message, error));
        return;
      }
      this.socket = socket;
      let open = false;
      this.ended = new Promise<void>((done) => socket.once('close', () => done()));

      socket.once('open', () => {
        open = true;
        this.keepalive(socket);
        this.log.debug({ url, protocol: socket.protocol }, 'backend WebSocket open');
        const control = this.options.control;
        if (!control) return resolve();
        this.awaitingSession = { resolve, reject };
        socket.send(
          JSON.stringify(
            control.sessionId === undefined
              ? { type: 'create_session' }
              : { type: 'attach_session', session_id: control.sessionId },
          ),
        );
      });
      socket.once('unexpected-response', (_req, res) => {
        reject(new UpgradeRefused(name, url, res.statusCode ?? 0));
        res.resume();
        socket.terminate();
      });
      socket.on('error', (error) => {
        if (!open) {
          // After a rejection above this is ws reporting the abort; the first reason stands.
          reject(unavailable(`cannot connect to ${url}: ${error.message}`, error));
          return;
        }
        this.log.warn({ err: error }, 'backend WebSocket error');
        this.onerror?.(error);
      });
      socket.on('close', (code, reason) => {
        clearInterval(this.pinger);
        this.closeInfo = { code, reason: reason.toString() };
        if (!open) {
          reject(unavailable(`the connection to ${url} closed before it opened (code ${code})`));
          return;
        }
        this.log[this.closing ? 'debug' : 'warn'](
          { code, reason: this.closeInfo.reason },
          'backend WebSocket closed',
        );
        const awaiting = this.awaitingSession;
        this.awaitingSession = undefined;
        if (awaiting) return awaiting.reject(this.unavailable());
        this.onclose?.();
      });
      socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    });
  }

  private keepalive(socket: WebSocket): void {
    let answered = true;
    socket.on('pong', () => (answered = true));
    this.pinger = setInterval(() => {
      if (!answered) {
        this.dropped = 'it did not answer a keepalive ping';
        socket.terminate();
        return;
      }
      answered = false;
      socket.ping();
    }, this.options.pingIntervalMs ?? 30_000).unref();
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.log.warn('backend sent a binary frame; MCP messages travel as text; ignored');
      return;
    }
    // A large reply is checked as bytes and its result parsed only if read.
    const plain = !this.options.envelope && !this.options.control;
    const bytes = Buffer.isBuffer(data) && plain ? data : undefined;
    const lazy = bytes && lazyReply(bytes, 0, bytes.length);
    if (lazy) {
      this.onmessage?.(lazy);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(data.toString());
    } catch {
      this.log.warn('backend sent a frame that is not JSON; ignored');
      return;
    }
    if (
      this.options.envelope &&
      typeof value === 'object' &&
      value !== null &&
      'mcp_payload' in value
    )
      value = (value as { mcp_payload: unknown }).mcp_payload;
    if (this.options.control) {
      value = this.unwrapControl(value);
      if (value === undefined) return;
    }
    const problem = describeInvalidMessage(value);
    if (problem) {
      this.log.warn({ problem }, 'backend sent a message that is not JSON-RPC; ignored');
      return;
    }
    this.onmessage?.(value as JSONRPCMessage);
  }

  /**
   * A control-dialect frame: the JSON-RPC message it carries, or undefined when it was about the
   * session (session_created, an error) and has been dealt with here.
   */
  private unwrapControl(value: unknown): unknown {
    if (typeof value !== 'object' || value === null || 'jsonrpc' in value) return value;
    const frame = value as {
      type?: unknown;
      data?: unknown;
      session_id?: unknown;
      error?: unknown;
    };
    const awaiting = this.awaitingSession;
    if (frame.type === 'session_created' && typeof frame.session_id === 'string') {
      this.session = frame.session_id;
      this.awaitingSession = undefined;
      if (awaiting && this.options.control?.sessionId !== undefined)
        this.options.control.onAttached?.();
      awaiting?.resolve();
      return undefined;
    }
    if (frame.type === 'error') {
      const why = typeof frame.error === 'string' ? frame.error : JSON.stringify(frame.error);
      if (awaiting) {
        this.awaitingSession = undefined;
        const { name, control } = this.options;
        awaiting.reject(
          control?.sessionId !== undefined
            ? new SessionNotAttached(name, why)
            : new GatewayError(
                'GATEWAY_BACKEND_UNAVAILABLE',
                `${name}: create_session refused: ${why}`,
              ),
        );
        this.socket?.close(1000);
      } else {
        this.log.warn({ problem: why }, 'the remote reported an error in the control dialect');
      }
      return undefined;
    }
    if (frame.type === 'response' || frame.type === 'request' || frame.type === 'notification')
      return frame.data;
    this.log.warn({ type: frame.type }, 'backend sent a control frame of an unknown type; ignored');
    return undefined;
  }

  send(message: JSONRPCMessage): Promise<void> {
    const socket = this.socket;
    if (socket?.readyState !== WebSocket.OPEN || this.closing || this.awaitingSession)
      return Promise.reject(this.unavailable());
    const envelope = this.options.envelope;
    if (!envelope) {
      socket.send(JSON.stringify(message));
      return Promise.resolve();
    }
    const token = envelope.authToken?.();
    socket.send(
      JSON.stringify({
        id: randomUUID(),
        timestamp: new Date().toISOString(),
        source: envelope.source ?? 'mcp-bridge',
        ...(token !== undefined && { auth_token: token }),
        mcp_payload: message,
      }),
    );
    return Promise.resolve();
  }

  /** The error to report for a connection that is not (or no longer) open. */
  unavailable(): GatewayError {
    const { name } = this.options;
    const info = this.closeInfo;
    let detail: string;
    if (this.dropped) detail = `connection dropped: ${this.dropped}`;
    else if (!info) detail = 'not connected';
    else if (info.code === 1006) detail = 'the WebSocket connection was lost (code 1006)';
    else
      detail = `the WebSocket closed with code ${info.code}${info.reason ? `: ${info.reason}` : ''}`;
    return new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', `${name}: ${detail}`);
  }

  /** Closes with 1000 and resolves once the connection is closed. */
  async close(): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    this.closing = true;
    clearInterval(this.pinger);
    const timer = setTimeout(() => socket.terminate(), CLOSE_WAIT_MS);
    socket.close(1000);
    await this.ended;
    clearTimeout(timer);
  }
}
