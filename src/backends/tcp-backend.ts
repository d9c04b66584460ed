import { connect as connectNet, isIP } from 'node:net';
import type { Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import type { BackendTransport } from './transport.js';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import { describeInvalidMessage } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';
import { encodeMessage, lazyReply } from '../core/raw-json.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FrameDecoder,
  FrameError,
  FrameType,
  encodeFrame,
  encodeHeader,
  encodeJsonFrame,
  parsePayload,
  versionOffer,
} from '../core/frames.js';
import type { Frame } from '../core/frames.js';

export interface TcpBackendOptions {
  /** Backend (or remote) name, for logs and errors. */
  name: string;
  /** `tcp://host:port`, or `tcps://host:port` for TLS. */
  url: string;
  /**
   * Sent as every request frame's `auth_token` (`{"auth_token","message"}`); never logged.
   * @default undefined
   */
  authToken?: string | (() => string | undefined);
  log: Logger;
  /** A larger frame from the server ends the connection. @default 10 MiB */
  maxFrameBytes?: number;
  /**
   * Interval of health check frames; a server that has not answered the previous one by the
   * next is taken as gone. 0: none.
   * @default 30_000
   */
  healthIntervalMs?: number;
  /** How long connecting and version negotiation may take. @default 10_000 */
  connectTimeoutMs?: number;
  /** TLS settings for `tcps://` (a private CA, say). @default {} */
  tls?: Pick<ConnectionOptions, 'ca' | 'rejectUnauthorized' | 'servername' | 'cert' | 'key'>;
}

/**
 * A client of the framed TCP protocol (docs/tcp-protocol.md) as the SDK's Transport: for `tcp://`
 * backends of the gateway and for the connector. `start` connects and negotiates the version;
 * then each message leaves as a request frame and each response frame is a message.
 */
export class TcpBackendTransport implements BackendTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  private socket: Socket | undefined;
  private open = false;
  private closing = false;
  private ended: Promise<void> = Promise.resolve();
  private pinger: NodeJS.Timeout | undefined;
  /** Why the connection ended, when the server or a protocol failure said. */
  private why: string | undefined;
  private readonly log: Logger;
  private readonly maxFrameBytes: number;

  constructor(private readonly options: TcpBackendOptions) {
    this.log = options.log.child({ remote: options.name });
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  start(): Promise<void> {
    if (this.socket) throw new Error('TcpBackendTransport already started');
    let url: URL;
    try {
      url = new URL(this.options.url);
    } catch {
      return Promise.reject(this.fault(`"${this.options.url}" is not a URL`));
    }
    const secure = url.protocol === 'tcps:';
    if (!secure && url.protocol !== 'tcp:')
      return Promise.reject(this.fault(`expected a tcp:// or tcps:// URL, got ${url.protocol}//`));
    const port = Number(url.port || 8444);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    return new Promise<void>((resolve, reject) => {
      const socket = secure
        ? connectTls({
            host,
            port,
            ...(isIP(host) === 0 && { servername: host }),
            ...this.options.tls,
          })
        : connectNet({ host, port });
      this.socket = socket;
      this.ended = new Promise<void>((done) => socket.once('close', () => done()));
      const decoder = new FrameDecoder({ maxPayloadBytes: this.maxFrameBytes });
      const timer = setTimeout(() => {
        this.why = `no version acknowledgement within ${this.options.connectTimeoutMs ?? 10_000} ms`;
        socket.destroy();
      }, this.options.connectTimeoutMs ?? 10_000);
      const settle = (error?: Error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        socket.setNoDelay(true);
        socket.write(encodeJsonFrame(FrameType.version, versionOffer()));
      });
      socket.on('data', (chunk: Buffer) => {
        try {
          for (const frame of decoder.push(chunk)) {
            if (!this.open) {
              this.handshake(frame, settle);
              continue;
            }
            this.onFrame(frame);
          }
        } catch (error) {
          this.protocolFailure(error);
        }
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        this.why ??= error.message;
        if (this.open) this.log.debug({ err: error }, 'TCP connection error');
      });
      socket.once('close', () => {
        clearInterval(this.pinger);
        if (!this.open) {
          settle(this.fault(`cannot connect to ${this.options.url}: ${this.why ?? 'closed'}`));
          return;
        }
        this.open = false;
        this.log[this.closing ? 'debug' : 'warn']({ reason: this.why }, 'TCP connection closed');
        this.onclose?.();
      });
    });
  }

  private handshake(frame: Frame, settle: (error?: Error) => void): void {
    if (frame.type === FrameType.error) {
      this.why = frame.payload.toString('utf8');
      this.socket?.destroy();
      return;
    }
    if (frame.type !== FrameType.versionAck) return;
    const ack = parsePayload(frame) as { agreed_version?: unknown };
    if (ack?.agreed_version !== 1)
      throw new FrameError(
        'TCP_NO_COMMON_VERSION',
        `the server agreed to ${String(ack?.agreed_version)}`,
      );
    this.open = true;
    this.keepalive();
    settle();
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case FrameType.response:
        return this.receive(frame.payload);
      case FrameType.health: {
        const probe =
          frame.payload.length === 0
            ? {}
            : (parsePayload(frame) as { kind?: unknown; id?: unknown });
        if (probe?.kind === 'pong') {
          this.answered = true;
          return;
        }
        this.write(
          encodeJsonFrame(FrameType.health, { kind: 'pong', id: probe?.id, status: 'ok' }),
        );
        return;
      }
      case FrameType.error:
        this.why = frame.payload.toString('utf8');
        this.socket?.destroy();
        return;
      case FrameType.control:
        this.log.debug({ control: frame.payload.toString('utf8').slice(0, 200) }, 'control frame');
        return;
      case FrameType.versionAck:
        return;
      case FrameType.request:
      case FrameType.version:
        throw new FrameError(
          'TCP_UNEXPECTED_FRAME',
          `a server does not send frame type ${frame.type}`,
        );
    }
  }

  private receive(payload: Buffer): void {
    const lazy = lazyReply(payload, 0, payload.length);
    if (lazy) return void this.onmessage?.(lazy);
    let value: unknown;
    try {
      value = JSON.parse(payload.toString('utf8'));
    } catch {
      throw new FrameError('TCP_BAD_PAYLOAD', 'a response frame must carry JSON');
    }
    const problem = describeInvalidMessage(value);
    if (problem) {
      this.log.warn({ problem }, 'server sent a message that is not JSON-RPC; ignored');
      return;
    }
    this.onmessage?.(value as JSONRPCMessage);
  }

  private answered = true;

  private keepalive(): void {
    const every = this.options.healthIntervalMs ?? 30_000;
    if (every <= 0) return;
    let sequence = 0;
    this.pinger = setInterval(() => {
      if (!this.answered) {
        this.why = 'it did not answer a health check';
        this.socket?.destroy();
        return;
      }
      this.answered = false;
      this.write(encodeJsonFrame(FrameType.health, { kind: 'ping', id: ++sequence }));
    }, every).unref();
  }

  private protocolFailure(error: unknown): void {
    const text = error instanceof FrameError ? error.message : String(error);
    this.why = text;
    this.log.warn({ reason: text }, 'TCP protocol failure; closing');
    this.write(encodeFrame(FrameType.error, text));
    this.socket?.end();
    this.socket?.destroy();
  }

  private write(frame: Buffer): boolean {
    const socket = this.socket;
    if (!socket || socket.destroyed || socket.writableEnded) return false;
    return socket.write(frame);
  }

  send(message: JSONRPCMessage): Promise<void> {
    const socket = this.socket;
    if (!this.open || this.closing || !socket || socket.destroyed)
      return Promise.reject(this.unavailable());
    const json = encodeMessage(message);
    const given = this.options.authToken;
    // A function is asked for each frame, so that a token refreshed meanwhile is the one sent.
    const token = typeof given === 'function' ? given() : given;
    const payload = Buffer.from(
      token === undefined ? json : `{"auth_token":${JSON.stringify(token)},"message":${json}}`,
      'utf8',
    );
    if (payload.length > this.maxFrameBytes) {
      return Promise.reject(
        new GatewayError(
          'GATEWAY_PAYLOAD_TOO_LARGE',
          `${this.options.name}: a message of ${payload.length} bytes exceeds the TCP frame limit of ${this.maxFrameBytes} bytes`,
        ),
      );
    }
    socket.cork();
    socket.write(encodeHeader(FrameType.request, payload.length));
    const flowing = socket.write(payload);
    process.nextTick(() => socket.uncork());
    if (flowing) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  private fault(detail: string): GatewayError {
    return new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', `${this.options.name}: ${detail}`);
  }

  unavailable(): GatewayError {
    if (!this.socket) return this.fault('not connected');
    return this.fault(`the TCP connection closed${this.why ? `: ${this.why}` : ''}`);
  }

  /** Ends the connection and resolves once it is closed. */
  async close(): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    this.closing = true;
    clearInterval(this.pinger);
    socket.end();
    const timer = setTimeout(() => socket.destroy(), 2000);
    await this.ended;
    clearTimeout(timer);
  }
}
