import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { StreamableHttpHandler } from '../frontends/streamable-http.js';
import { LegacySseHandler } from '../frontends/legacy-sse.js';
import { WebSocketFrontend } from '../frontends/websocket.js';
import type { OpenSession } from '../frontends/types.js';
import type { Principal } from '../core/policy.js';

/**
 * One MCP endpoint on every HTTP transport: Streamable HTTP at `<base>/mcp` (or the configured
 * root path), legacy SSE at `<base>/sse` with messages to `<base>/messages`, WebSocket at
 * `<base>/ws`. The aggregated endpoint has base `''`; each backend has `/servers/<name>`. Which
 * request reaches which handler is the route table's (`routes.ts`); a transport that is off has
 * no handler here and no route there.
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

  async close(): Promise<void> {
    await Promise.allSettled([this.mcp?.close(), this.sse?.close(), this.ws?.close()]);
  }
}
