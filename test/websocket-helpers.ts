import { WebSocket } from 'ws';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';

/**
 * A WebSocket that delivers each message in its own task, as browsers do. `ws` by default emits
 * every frame of one TCP read in the same tick, and the SDK client handles a reply at once but a
 * notification a microtask later: a progress notification read together with its request's
 * reply would then be dropped as late, by the client, whatever the server did.
 */
class BrowserLikeWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols, { allowSynchronousEvents: false });
  }
}

// The SDK's WebSocket client transport uses the global WebSocket, which Node 20 lacks.
globalThis.WebSocket ??= BrowserLikeWebSocket as unknown as typeof globalThis.WebSocket;

/** The /ws endpoint of a gateway whose Streamable HTTP endpoint is `url`. */
export function wsUrl(url: URL): string {
  return `ws://127.0.0.1:${url.port}/ws`;
}

/** The official SDK client over WebSocket. */
export async function connectWsClient(
  url: string,
  capabilities: ClientCapabilities = {},
  setup?: (client: Client) => void,
): Promise<Client> {
  const client = new Client({ name: 'mcp-bridge-ws-test', version: '1.0.0' }, { capabilities });
  setup?.(client);
  await client.connect(new WebSocketClientTransport(new URL(url)));
  return client;
}

export interface Closed {
  code: number;
  reason: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test frames are read loosely
type Frame = any;

/** A raw `ws` client that queues what it receives, for tests that look at the wire. */
export class RawClient {
  readonly closed: Promise<Closed>;
  private readonly frames: Frame[] = [];
  private waiter: (() => void) | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()));
      this.waiter?.();
    });
    this.closed = new Promise<Closed>((resolve) =>
      socket.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.waiter?.();
      }),
    );
    // A refused or cut connection shows in `closed`.
    socket.on('error', () => {});
  }

  static open(url: string, protocol: string | undefined = 'mcp'): Promise<RawClient> {
    const socket = new WebSocket(url, protocol === undefined ? [] : [protocol]);
    const client = new RawClient(socket);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(client));
      socket.once('error', reject);
    });
  }

  send(value: unknown): void {
    this.socket.send(JSON.stringify(value));
  }

  /** The next frame that satisfies `match` (earlier ones that do not stay queued). */
  async next(match: (frame: Frame) => boolean = () => true, ms = 10_000): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex(match);
      if (i !== -1) return this.frames.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0 || this.socket.readyState === WebSocket.CLOSED)
        throw new Error(`no matching frame; queued: ${JSON.stringify(this.frames).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Closes (if still open) and waits until the socket is closed. */
  async close(): Promise<Closed> {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000);
    else if (this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
    return this.closed;
  }
}

/** Waits for `promise`, failing after `ms` with `what` (a generous bound for "promptly"). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const initializeParams = {
  protocolVersion: '2025-06-18',
  capabilities: {},
  clientInfo: { name: 'raw-ws', version: '1' },
};
