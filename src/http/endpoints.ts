import type { GatewayConfig } from '../config/schema.js';
import { messageLimit } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { StreamableHttpHandler } from '../frontends/streamable-http.js';
import { LegacySseHandler } from '../frontends/legacy-sse.js';
import { WebSocketFrontend } from '../frontends/websocket.js';
import type { OpenSession } from '../frontends/types.js';
import type { Principal } from '../core/policy.js';
import type { ClusterNode } from '../cluster/node.js';
import { ModernService } from '../era/service.js';
import type { RequestStateSealer } from '../era/request-state.js';

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
  /** Serves 2026-07-28 requests on this endpoint's Streamable HTTP path. */
  readonly modern: ModernService | undefined;

  constructor(
    readonly base: string,
    openSession: OpenSession,
    config: Readonly<GatewayConfig>,
    log: Logger,
    /** Checks the auth_token of WebSocket envelope messages, when authentication is on. */
    verifyMessageToken?: (token: string) => Promise<Principal>,
    /** What serving 2026-07-28 clients needs from the gateway: its state sealer, its name. */
    era?: { sealer: RequestStateSealer; replica: string },

    /** The replicas Streamable HTTP sessions are shared with (src/cluster), when clustered. */
    cluster?: ClusterNode,
  ) {
    const { maxDepth } = config.limits;
    const frontend = {
      openSession,
      log,
      maxMessageBytes: messageLimit(config.limits, 'http'),
      maxDepth,
    };
    this.modern =
      era && config.modern.enabled
        ? new ModernService({
            openSession,
            kind: 'streamable-http',
            log,
            sealer: era.sealer,
            replica: era.replica,
            settings: () => ({
              poolMaxPerKey: config.modern.poolMaxPerKey,
              continuationTtlMs: config.modern.continuationTtlMs,
              cache: { ttlMs: config.modern.cache.ttlMs, cacheScope: config.modern.cache.scope },
            }),
          })
        : undefined;
    this.mcp = config.server.http
      ? new StreamableHttpHandler({
          ...frontend,
          modern: this.modern,
          ...(cluster && cluster.forEndpoint(base)),
        })
      : undefined;
    if (cluster && this.mcp) cluster.attach(base, this.mcp);
    this.sse = config.server.sse
      ? new LegacySseHandler({ ...frontend, messagesPath: `${base}/messages` })
      : undefined;
    this.ws = config.server.websocket
      ? new WebSocketFrontend({
          ...frontend,
          maxMessageBytes: messageLimit(config.limits, 'websocket'),
          maxConnectionsPerIp: config.rateLimits.websocketConnectionsPerIp,
          verifyMessageToken,
        })
      : undefined;
  }

  async close(): Promise<void> {
    await Promise.allSettled([
      this.modern?.close(),
      this.mcp?.close(),
      this.sse?.close(),
      this.ws?.close(),
    ]);
  }
}
