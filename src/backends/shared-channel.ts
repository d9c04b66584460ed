import type { BackendTransport } from './transport.js';
import type { JSONRPCMessage, RequestId } from '../core/jsonrpc.js';
import { isReply, isRequest } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';
import type { JSONRPCNotification, JSONRPCReply, JSONRPCRequest } from '../core/jsonrpc.js';

/** What a channel needs of the process it shares (SharedProcess is the one). */
export interface ChannelHost {
  readonly pid: number | undefined;
  ensureReady(): Promise<Record<string, unknown>>;
  attach(channel: Channel): void;
  detach(channel: Channel): void;
  request(channel: Channel, message: JSONRPCRequest): Promise<void>;
  notify(channel: Channel, message: JSONRPCNotification): Promise<void>;
  answer(channel: Channel, reply: JSONRPCReply): Promise<void>;
  /** Whether the process must hear of it: the first subscriber in, or the last out. */
  subscribe(channel: Channel, uri: string, on: boolean): boolean;
  sendOwn(method: string, params: Record<string, unknown>): Promise<void>;
  lowestLogLevel(): string | undefined;
}

/** One session's view of a shared process, as a Transport of its own. */
export class Channel implements BackendTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  logLevel: string | undefined;
  private initializeResult: Record<string, unknown> | undefined;
  private ended: GatewayError | undefined;
  private closed = false;

  constructor(
    private readonly shared: ChannelHost,
    private readonly log: Logger,
    private readonly released: () => void,
  ) {}

  get pid(): number | undefined {
    return this.shared.pid;
  }

  async start(): Promise<void> {
    this.initializeResult = await this.shared.ensureReady();
    this.shared.attach(this);
  }

  unavailable(): GatewayError {
    return (
      this.ended ??
      new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', 'the shared backend process is not running')
    );
  }

  deliver(message: JSONRPCMessage): void {
    if (!this.closed) this.onmessage?.(message);
  }

  private replyLocally(id: RequestId, result: Record<string, unknown>): void {
    queueMicrotask(() => this.deliver({ jsonrpc: '2.0', id, result }));
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) throw this.unavailable();
    if (isReply(message)) return this.shared.answer(this, message);
    if (!isRequest(message)) {
      // The process was initialized once, by the gateway.
      if (message.method === 'notifications/initialized') return;
      return this.shared.notify(this, message);
    }
    const params = (message.params ?? {}) as Record<string, unknown>;
    switch (message.method) {
      case 'initialize': {
        // The session's own handshake, answered from the process's: same server, same
        // capabilities, in the revision the client asked for when the server speaks a later one.
        const result = { ...this.initializeResult! };
        const asked = params.protocolVersion;
        if (typeof asked === 'string' && asked < String(result.protocolVersion))
          result.protocolVersion = asked;
        this.replyLocally(message.id, result);
        return;
      }
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const on = message.method === 'resources/subscribe';
        if (this.shared.subscribe(this, String(params.uri), on))
          return this.shared.request(this, message);
        this.replyLocally(message.id, {});
        return;
      }
      case 'logging/setLevel': {
        this.logLevel = String(params.level);
        await this.shared.sendOwn('logging/setLevel', {
          level: this.shared.lowestLogLevel() ?? this.logLevel,
        });
        this.replyLocally(message.id, {});
        return;
      }
      default:
        return this.shared.request(this, message);
    }
  }

  backendEnded(error: GatewayError): void {
    this.ended = error;
    void this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.released();
    this.shared.detach(this);
    this.log.debug('left the shared backend process');
    this.onclose?.();
  }
}
