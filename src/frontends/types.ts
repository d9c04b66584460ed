import type { ClientTransport } from '../session/session.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/policy.js';

/** The client-facing transports, by the name used in logs, events and the policy context. */
export type FrontendKind =
  'streamable-http' | 'sse' | 'websocket' | 'stdio' | 'unix' | 'rest' | 'tcp';

/** What a frontend holds of a session the gateway opened for it. */
export interface SessionHandle {
  readonly id: string;
  /** Who opened it: only they may use it (`claimSession`). */
  readonly principal: Principal | undefined;
  /** Requests in flight in either direction; an idle sweep leaves busy sessions alone. */
  readonly inFlight: number;
  close(reason: string): Promise<void>;
}

/**
 * Opens a session for a new client connection: connects the backend and binds it to `client`.
 * Rejects with a GatewayError when the backend cannot be reached; the frontend reports that
 * error in its own terms (an HTTP status, a close code, a JSON-RPC error) and drops the client.
 */
export type OpenSession = (
  client: ClientTransport,
  kind: FrontendKind,
  peer?: PeerInfo,
) => Promise<SessionHandle>;

/** What is known of the client's connection. */
export interface PeerInfo {
  /** The client's IP address, for per-client limits and logs. */
  remoteAddress?: string;
  /** The authenticated caller, when authentication is on. */
  principal?: Principal;
}

/** What every frontend is built with. */
export interface FrontendOptions {
  openSession: OpenSession;
  log: Logger;
  /** Largest message accepted from a client, in bytes. */
  maxMessageBytes: number;
  /** Deepest nesting of arrays and objects accepted in a client's message (`limits.maxDepth`). */
  maxDepth: number;
}
