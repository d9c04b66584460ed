// PLACEHOLDER: being written (WebSocket frontend).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FrontendOptions } from './types.js';

export interface WebSocketFrontendOptions extends FrontendOptions {
  pingIntervalMs?: number;
}

export class WebSocketFrontend {
  constructor(private readonly options: WebSocketFrontendOptions) {}
  get connectionCount(): number {
    return 0;
  }
  handleUpgrade(_req: IncomingMessage, socket: Duplex, _head: Buffer): void {
    socket.destroy();
  }
  async close(): Promise<void> {}
}
