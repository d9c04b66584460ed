import type { JSONRPCNotification } from '../core/jsonrpc.js';
import type { RequestContext } from '../core/context.js';
import type { Outcome } from '../core/policy.js';
import type { GatewayError } from '../core/errors.js';

/** What serves a session, for the session list, `/stats` and the dashboard. */
export interface TargetDescription {
  /** The backend process, for a session bound to one stdio backend. */
  pid?: number | undefined;
  /** For aggregated sessions: each backend's process id. */
  pids?: Record<string, number | undefined>;
  /** For a remote backend with replicas: the one the session was placed on. */
  replica?: string | undefined;
}

/**
 * What a session is bound to: one backend (a backend target's binding) or several (a federated
 * target). It answers the client's requests; what the backend side sends of its own reaches the
 * session through the Upstream the target was made with.
 */
export interface SessionTarget {
  /** Connects what must be there before the first request. Rejects if it cannot be reached. */
  start(): Promise<void>;
  /** Runs one client request to its outcome. */
  dispatch(ctx: RequestContext): Promise<Outcome>;
  /** A client's notification (cancellations are the session's: it cancels the request's context). */
  notify(message: JSONRPCNotification): Promise<void>;
  /** The protocol revision the session agreed on, for transports that put it in headers. */
  setProtocolVersion(version: string): void;
  /** Told once when the target can serve no more (its one backend went away). */
  onclose?: (error: GatewayError) => void;
  describe(): TargetDescription;
  close(): Promise<void>;
}
