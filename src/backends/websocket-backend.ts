import type { BackendTransport } from './transport.js';
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import { describeInvalidMessage } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';
import { lazyReply } from '../core/raw-json.js';

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

  constructor(private readonly options: WebSocketBackendOptions) {
    this.log = options.log.child({ backend: options.name });
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
        resolve();
      });
      socket.once('unexpected-response', (_req, res) => {
        reject(unavailable(`${url} answered the WebSocket upgrade with HTTP ${res.statusCode}`));
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
    const bytes = Buffer.isBuffer(data) ? data : undefined;
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
    const problem = describeInvalidMessage(value);
    if (problem) {
      this.log.warn({ problem }, 'backend sent a message that is not JSON-RPC; ignored');
      return;
    }
    this.onmessage?.(value as JSONRPCMessage);
  }

  send(message: JSONRPCMessage): Promise<void> {
    const socket = this.socket;
    if (socket?.readyState !== WebSocket.OPEN || this.closing)
      return Promise.reject(this.unavailable());
    socket.send(JSON.stringify(message));
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
