import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PeerInfo, SessionHandle } from './types.js';
import type {
  StreamableHttpSessionOptions,
  StreamableHttpSessionTransport,
} from './streamable-http-session.js';

/**
 * What a Streamable HTTP endpoint asks of a cluster of replicas (src/cluster), when there is one:
 * ids for new sessions, their transports, and what to do with a request naming a session this
 * replica does not serve (forward it to its owner, or continue the session here). Without a
 * cluster the handler does none of this and asks nothing per request.
 */
export interface SessionCluster {
  newSessionId(): string;
  transport(
    sessionId: string,
    options: StreamableHttpSessionOptions,
  ): StreamableHttpSessionTransport;
  /** Takes a request that names a session (or not); true when it has answered it. */
  route(
    req: IncomingMessage,
    res: ServerResponse,
    peer: PeerInfo,
    local: LocalSessions,
  ): Promise<boolean>;
}

/** What the cluster may do with an endpoint's own sessions. */
export interface LocalSessions {
  has(sessionId: string): boolean;
  /** Opens a session on `transport` (same id as elsewhere) and serves it here from now on. */
  adopt(transport: StreamableHttpSessionTransport, peer: PeerInfo): Promise<SessionHandle>;
  /** Serves a request (a forwarded one) as if it had come to this endpoint. */
  handle(req: IncomingMessage, res: ServerResponse, peer: PeerInfo): Promise<void>;
}
