// PLACEHOLDER: being written (stdio frontend and Unix socket listener).
import type { Readable, Writable } from 'node:stream';
import type { ClientTransport } from '../core/session.js';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import type { FrontendOptions } from './types.js';

export interface StdioServerTransportOptions {
  input: Readable;
  output: Writable;
  log: Logger;
  maxMessageBytes: number;
}

export class StdioServerTransport implements ClientTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  constructor(private readonly options: StdioServerTransportOptions) {}
  async start(): Promise<void> {}
  async send(_message: JSONRPCMessage): Promise<void> {}
  async close(): Promise<void> {}
}

export interface UnixSocketOptions extends FrontendOptions {
  path: string;
}

export class UnixSocketFrontend {
  constructor(private readonly options: UnixSocketOptions) {}
  async listen(): Promise<void> {}
  async close(): Promise<void> {}
}
