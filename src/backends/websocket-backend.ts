// PLACEHOLDER: being written (WebSocket backend transport).
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';

export interface WebSocketBackendOptions {
  name: string;
  url: string;
  headers: Record<string, string>;
  log: Logger;
  maxMessageBytes: number;
}

export class WebSocketBackendTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  constructor(private readonly options: WebSocketBackendOptions) {}
  async start(): Promise<void> {
    throw new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', 'not yet');
  }
  async send(_message: JSONRPCMessage): Promise<void> {}
  async close(): Promise<void> {}
}
