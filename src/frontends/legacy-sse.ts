// PLACEHOLDER: being written (legacy HTTP+SSE frontend).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FrontendOptions } from './types.js';
import { GatewayError } from '../core/errors.js';
import { sendError } from './http-io.js';

export interface LegacySseOptions extends FrontendOptions {
  messagesPath: string;
  keepaliveMs?: number;
}

export class LegacySseHandler {
  constructor(private readonly options: LegacySseOptions) {}
  get sessionCount(): number {
    return 0;
  }
  handleStream(_req: IncomingMessage, res: ServerResponse): void {
    sendError(res, new GatewayError('GATEWAY_NOT_FOUND', 'not yet'));
  }
  async handleMessage(_req: IncomingMessage, res: ServerResponse): Promise<void> {
    sendError(res, new GatewayError('GATEWAY_NOT_FOUND', 'not yet'));
  }
  async close(): Promise<void> {}
}
