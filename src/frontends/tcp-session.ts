import type { Socket } from 'node:net';
import type { ClientTransport } from '../session/session.js';
import type { JSONRPCMessage, RequestId } from '../core/jsonrpc.js';
import { isReply } from '../core/jsonrpc.js';
import { GatewayError, toErrorReply } from '../core/errors.js';
import { channels } from '../core/diagnostics.js';
import type { Logger } from '../core/logger.js';
import { encodeMessage } from '../core/raw-json.js';
import { FrameType, encodeFrame, encodeHeader } from '../core/frames.js';

export interface TcpSessionTransportOptions {
  socket: Socket;
  log: Logger;
  /** A message to the client larger than this is replaced by an error reply (or dropped). */
  maxFrameBytes: number;
  /** Told when a reply to the client's request leaves, so its slot in flight is free again. */
  onReplied(id: RequestId): void;
}

/**
 * The session side of one framed TCP connection: messages from the client arrive through
 * `receive` (the frontend parses frames, authenticates and counts requests in flight), and every
 * message to the client leaves as one response frame (type 2). Messages that arrive before the
 * session starts are held and delivered by `start`.
 */
export class TcpSessionTransport implements ClientTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  private started = false;
  private closed = false;
  private announced = false;
  private held: JSONRPCMessage[] = [];
  private draining: Promise<void> | undefined;
  private readonly socket: Socket;

  constructor(private readonly options: TcpSessionTransportOptions) {
    this.socket = options.socket;
    this.socket.once('close', () => this.announceClose());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Messages waiting for the session to start (answered with errors if it never does). */
  takeHeld(): JSONRPCMessage[] {
    const held = this.held;
    this.held = [];
    return held;
  }

  async start(): Promise<void> {
    this.started = true;
    for (const message of this.takeHeld()) this.onmessage?.(message);
  }

  receive(message: JSONRPCMessage): void {
    if (this.closed) return;
    if (this.started) this.onmessage?.(message);
    else this.held.push(message);
  }

  send(message: JSONRPCMessage): Promise<void> {
    const { socket } = this;
    if (this.closed || socket.destroyed || socket.writableEnded) {
      return Promise.reject(
        new GatewayError('GATEWAY_SESSION_CLOSED', 'the client connection has closed'),
      );
    }
    let payload = Buffer.from(encodeMessage(message), 'utf8');
    if (payload.length > this.options.maxFrameBytes) {
      // The client's decoder would refuse the frame and the connection with it: a reply becomes
      // an error the client can act on; anything else is dropped.
      this.options.log.warn(
        { bytes: payload.length, limit: this.options.maxFrameBytes },
        'a message to the TCP client exceeds the frame limit',
      );
      if (!isReply(message)) return Promise.resolve();
      const error = new GatewayError(
        'GATEWAY_PAYLOAD_TOO_LARGE',
        `the reply of ${payload.length} bytes exceeds the TCP frame limit of ${this.options.maxFrameBytes} bytes`,
      );
      payload = Buffer.from(JSON.stringify(toErrorReply(message.id ?? null, error)), 'utf8');
    }
    if (isReply(message) && message.id !== undefined && message.id !== null)
      this.options.onReplied(message.id);
    socket.cork();
    socket.write(encodeHeader(FrameType.response, payload.length));
    const flowing = socket.write(payload);
    process.nextTick(() => socket.uncork());
    if (channels.bytes.hasSubscribers)
      channels.bytes.publish({ transport: 'tcp', direction: 'out', bytes: payload.length });
    return flowing ? Promise.resolve() : this.waitForDrain();
  }

  requestEnded(id: RequestId): void {
    this.options.onReplied(id);
  }

  /** The backend went away: the client is told why in an error frame before the connection ends. */
  ending(end: { reason: string; backendFailed: boolean }): void {
    if (!end.backendFailed || this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(encodeFrame(FrameType.error, `session ended: ${end.reason}`));
  }

  private waitForDrain(): Promise<void> {
    this.draining ??= new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        this.draining = undefined;
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
    return this.draining;
  }

  private announceClose(): void {
    if (this.announced) return;
    this.announced = true;
    this.onclose?.();
  }

  /** Ends the connection after what was written, and tells the session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.end();
    this.announceClose();
  }
}
