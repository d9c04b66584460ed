import type { BackendTransport } from './transport.js';
import type {
  Transport,
  TransportSendOptions,
} from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import type { RemoteBackendConfig } from '../config/schema.js';
import { GatewayError } from '../core/errors.js';
import { WebSocketBackendTransport } from './websocket-backend.js';
import { TcpBackendTransport } from './tcp-backend.js';
import { GetStreamGate } from './get-stream-gate.js';
import { modernHeaderFetch } from '../era/headers.js';
import { plainLeanFetch } from '../core/lean-fetch.js';

/*
 * Remote backends speak HTTP or WebSocket. For HTTP the SDK's client transports do the work
 * (session ids, the GET stream, resumption with Last-Event-ID); these wrappers add what a
 * gateway needs: our error codes, ending the remote session on close, and the fallback from
 * Streamable HTTP to legacy SSE.
 */

/** Relays a wrapped transport's callbacks to the wrapper's, whatever the wrapped one is now. */
abstract class RelayTransport implements BackendTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  protected closed = false;

  constructor(
    protected readonly name: string,
    protected readonly log: Logger,
  ) {}

  protected adopt(inner: Transport): void {
    inner.onmessage = (message) => this.onmessage?.(message);
    inner.onerror = (error) => this.onerror?.(error);
    inner.onclose = () => {
      if (this.closed) return;
      this.closed = true;
      this.onclose?.();
    };
  }

  abstract start(): Promise<void>;
  abstract send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void>;
  abstract close(): Promise<void>;

  /** The error a client sees when this backend cannot be reached. */
  protected unreachable(error: unknown): GatewayError {
    if (error instanceof GatewayError) return error;
    const detail = error instanceof Error ? error.message : String(error);
    return new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', `${this.name}: ${detail}`, {
      cause: error,
    });
  }

  unavailable(): GatewayError {
    return new GatewayError(
      'GATEWAY_BACKEND_UNAVAILABLE',
      `${this.name}: the connection to the backend closed`,
    );
  }
}

/** Streamable HTTP, ending the remote session (DELETE) when ours ends. */
export class StreamableHttpBackendTransport extends RelayTransport {
  private readonly inner: StreamableHTTPClientTransport;
  private readonly getStream = new GetStreamGate();

  constructor(
    name: string,
    url: string,
    headers: Record<string, string>,
    log: Logger,
    /** Add the 2026-07-28 request headers (a backend that is, or may be, modern). */
    modern = false,
  ) {
    super(name, log);
    const gated = this.getStream.wrap(plainLeanFetch);
    this.inner = new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers },
      fetch: modern ? modernHeaderFetch(gated) : gated,
    });
    this.adopt(this.inner);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    try {
      await this.getStream.send(message, () => this.inner.send(message, options));
    } catch (error) {
      throw this.unreachable(error);
    }
  }

  setProtocolVersion(version: string): void {
    this.inner.setProtocolVersion(version);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.inner.sessionId) await this.inner.terminateSession().catch(() => {});
    await this.inner.close();
  }
}

function sseTransport(url: string, headers: Record<string, string>): SSEClientTransport {
  return new SSEClientTransport(new URL(url), { requestInit: { headers }, fetch: plainLeanFetch });
}

/** Legacy HTTP+SSE (2024-11-05). */
export class SseBackendTransport extends RelayTransport {
  private readonly inner: SSEClientTransport;

  constructor(name: string, url: string, headers: Record<string, string>, log: Logger) {
    super(name, log);
    this.inner = sseTransport(url, headers);
    this.adopt(this.inner);
  }

  async start(): Promise<void> {
    try {
      await this.inner.start();
    } catch (error) {
      throw this.unreachable(error);
    }
  }

  async send(message: JSONRPCMessage): Promise<void> {
    try {
      await this.inner.send(message);
    } catch (error) {
      throw this.unreachable(error);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inner.close();
  }
}

/**
 * An http(s) URL whose transport was not given: Streamable HTTP first; if the server answers the
 * first POST (the client's initialize) with 400, 404 or 405, legacy SSE at the same URL, as the
 * specification's backwards-compatibility section describes.
 */
export class AutoHttpBackendTransport extends RelayTransport {
  private current: StreamableHTTPClientTransport | SSEClientTransport;
  private decided = false;
  private readonly getStream = new GetStreamGate();

  constructor(
    name: string,
    private readonly url: string,
    private readonly headers: Record<string, string>,
    log: Logger,
  ) {
    super(name, log);
    this.current = new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers },
      fetch: this.getStream.wrap(plainLeanFetch),
    });
    this.adopt(this.current);
  }

  start(): Promise<void> {
    return this.current.start();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    try {
      if (this.current instanceof SSEClientTransport) {
        await this.current.send(message);
        return;
      }
      const streamable = this.current;
      await this.getStream.send(message, () => streamable.send(message, options));
      this.decided = true;
    } catch (error) {
      const status = error instanceof StreamableHTTPError ? error.code : undefined;
      if (this.decided || (status !== 400 && status !== 404 && status !== 405))
        throw this.unreachable(error);
      this.decided = true;
      this.log.info(
        { backend: this.name, status },
        'backend does not speak Streamable HTTP; trying legacy SSE',
      );
      const streamable = this.current;
      streamable.onclose = undefined;
      await streamable.close().catch(() => {});
      const sse = sseTransport(this.url, this.headers);
      this.current = sse;
      this.adopt(sse);
      try {
        await sse.start();
        await sse.send(message);
      } catch (fallbackError) {
        throw this.unreachable(fallbackError);
      }
    }
  }

  setProtocolVersion(version: string): void {
    if (this.current instanceof StreamableHTTPClientTransport)
      this.current.setProtocolVersion(version);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const current = this.current;
    if (current instanceof StreamableHTTPClientTransport && current.sessionId) {
      await current.terminateSession().catch(() => {});
    }
    await current.close();
  }
}

/** Where a remote transport goes and how: a backend's own URL or one of its replicas'. */
export interface RemoteEndpoint {
  transport: RemoteBackendConfig['transport'];
  url: string;
  headers: Record<string, string>;
  protocol: RemoteBackendConfig['protocol'];
}

export function createRemoteTransport(
  name: string,
  config: RemoteEndpoint,
  log: Logger,
  maxMessageBytes: number,
): BackendTransport {
  switch (config.transport) {
    case 'streamable-http':
      return new StreamableHttpBackendTransport(
        name,
        config.url,
        config.headers,
        log,
        config.protocol !== 'legacy',
      );
    case 'sse':
      return new SseBackendTransport(name, config.url, config.headers, log);
    case 'auto':
      return new AutoHttpBackendTransport(name, config.url, config.headers, log);
    case 'websocket':
      return new WebSocketBackendTransport({
        name,
        url: config.url,
        headers: config.headers,
        log,
        maxMessageBytes,
      });
    case 'tcp':
      return new TcpBackendTransport({
        name,
        url: config.url,
        authToken: bearerTokenOf(config.headers),
        log,
      });
  }
}

/** The token of an `Authorization: Bearer …` header, which a TCP request frame carries instead. */
export function bearerTokenOf(headers: Record<string, string>): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== 'authorization') continue;
    const match = /^Bearer\s+(.+)$/i.exec(value.trim());
    if (match) return match[1];
  }
  return undefined;
}
