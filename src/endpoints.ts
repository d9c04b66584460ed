import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GatewayConfig } from './config/schema.js';
import type { Logger } from './core/logger.js';
import { StreamableHttpHandler } from './frontends/streamable-http.js';
import { LegacySseHandler } from './frontends/legacy-sse.js';
import { WebSocketFrontend } from './frontends/websocket.js';
import type { OpenSession } from './frontends/types.js';
import type { Principal } from './core/policy.js';

/**
 * One MCP endpoint on every HTTP transport: Streamable HTTP at `<base>/mcp` (or the configured
 * root path), legacy SSE at `<base>/sse` with messages to `<base>/messages`, WebSocket at
 * `<base>/ws`. The aggregated endpoint has base `''`; each backend has `/servers/<name>`.
 */
export class Endpoint {
  readonly mcp: StreamableHttpHandler | undefined;
  readonly sse: LegacySseHandler | undefined;
  readonly ws: WebSocketFrontend | undefined;

  constructor(
    readonly base: string,
    openSession: OpenSession,
    config: Readonly<GatewayConfig>,
    log: Logger,
    /** Checks the auth_token of WebSocket envelope messages, when authentication is on. */
    verifyMessageToken?: (token: string) => Promise<Principal>,
  ) {
    const { maxMessageBytes, maxDepth } = config.limits;
    const frontend = { openSession, log, maxMessageBytes, maxDepth };
    this.mcp = config.server.http ? new StreamableHttpHandler(frontend) : undefined;
    this.sse = config.server.sse
      ? new LegacySseHandler({ ...frontend, messagesPath: `${base}/messages` })
      : undefined;
    this.ws = config.server.websocket
      ? new WebSocketFrontend({
          ...frontend,
          maxConnectionsPerIp: config.rateLimits.websocketConnectionsPerIp,
          verifyMessageToken,
        })
      : undefined;
  }

  /** Serves `rest` (the path after the base); false if it is not one of this endpoint's paths. */
  handle(rest: string, req: IncomingMessage, res: ServerResponse): boolean {
    if (rest === '/mcp' && this.mcp) void this.mcp.handle(req, res);
    else if (rest === '/sse' && req.method === 'GET' && this.sse) this.sse.handleStream(req, res);
    else if (rest === '/messages' && req.method === 'POST' && this.sse)
      void this.sse.handleMessage(req, res);
    else return false;
    return true;
  }

  upgrade(rest: string, req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (rest !== '/ws' || !this.ws) return false;
    this.ws.handleUpgrade(req, socket, head);
    return true;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.mcp?.close(), this.sse?.close(), this.ws?.close()]);
  }
}
