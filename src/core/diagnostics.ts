import diagnostics from 'node:diagnostics_channel';
import type { Route } from './context.js';
import type { RequestId } from './jsonrpc.js';

/** A diagnostics channel that says what it carries. */
export interface Topic<T> {
  readonly hasSubscribers: boolean;
  publish(event: T): void;
  subscribe(listener: (event: T) => void): void;
  unsubscribe(listener: (event: T) => void): void;
}

function topic<T>(name: string): Topic<T> {
  // Node's channels carry `unknown`; every publisher goes through this typed face, so what a
  // subscriber receives is what the type says.
  return diagnostics.channel(name) as unknown as Topic<T>;
}

export interface SessionOpenEvent {
  sessionId: string;
  transport: string;
  /** What the session is bound to: a backend's name, or `*` for the aggregated endpoint. */
  backend: string;
}
export interface SessionCloseEvent {
  sessionId: string;
  transport: string;
  reason: string;
}
export interface RequestStartEvent {
  sessionId: string;
  direction: 'to-server' | 'to-client';
  method: string;
  id: RequestId;
  /** The backend as known when the request starts: the session's, or `*` before routing. */
  backend: string;
}
export interface RequestEndEvent extends RequestStartEvent {
  /** Where the request went, when a target routed it. */
  route: Route | undefined;
  durationMs: number;
  /** The gateway's error code, or the JSON-RPC code of a backend's error. */
  error: string | number | undefined;
}
export interface BackendState {
  backend: string;
  /** `failing`: its sessions die before their handshake, and new ones wait for a backoff. */
  state: 'unknown' | 'up' | 'down' | 'failed' | 'failing';
  restarts: number;
}

export interface ConnectorLinkEvent {
  state: string;
  reconnects: number;
  queueDepth: number;
  inFlight: number;
  transport: string;
}
export interface ConnectorRequestEvent {
  method: string;
  /** From the client's request reaching the connector to its reply leaving it. */
  durationMs: number;
  /** `ok`, `error` (the remote answered with one) or the connector's own error code. */
  outcome: string;
}

/**
 * Every event the core publishes, in one place. Metrics, audit, tracing and the dashboard
 * subscribe here; the message path never calls them. Publishing is guarded by `hasSubscribers`,
 * so an event nobody listens to costs one property read.
 */
export const channels = {
  sessionOpen: topic<SessionOpenEvent>('mcp-bridge:session:open'),
  sessionClose: topic<SessionCloseEvent>('mcp-bridge:session:close'),
  requestStart: topic<RequestStartEvent>('mcp-bridge:request:start'),
  requestEnd: topic<RequestEndEvent>('mcp-bridge:request:end'),
  backendSpawn: topic<{ backend: string; pid: number | undefined }>('mcp-bridge:backend:spawn'),
  backendExit: topic<{
    backend: string;
    pid: number | undefined;
    code: number | null;
    signal: string | null;
  }>('mcp-bridge:backend:exit'),
  backendState: topic<BackendState>('mcp-bridge:backend:state'),
  breakerState: topic<{ backend: string; state: 'closed' | 'open' | 'half-open' }>(
    'mcp-bridge:breaker:state',
  ),
  /** The key never holds a secret. */
  rateLimited: topic<{ scope: string; key: string | undefined; sessionId?: string }>(
    'mcp-bridge:ratelimit:reject',
  ),
  /** Which store rate limits are counted in now, told when it changes. */
  rateLimitStore: topic<{ store: 'redis' | 'memory' }>('mcp-bridge:ratelimit:store'),
  /** A cacheable request was looked up in the response cache. */
  cacheLookup: topic<{ backend: string; method: string; result: 'hit' | 'miss' }>(
    'mcp-bridge:cache:lookup',
  ),
  /** A backend's change notification dropped cached results. */
  cacheInvalidate: topic<{ backend: string; notification: string }>('mcp-bridge:cache:invalidate'),
  authFailure: topic<{ reason: string; transport: string }>('mcp-bridge:auth:failure'),
  /** A caller was let in. */
  authSuccess: topic<{ principal: string; via: string; transport: string }>(
    'mcp-bridge:auth:success',
  ),
  /** A client connection (HTTP request stream, WebSocket, socket) opened. */
  connectionOpen: topic<{ transport: string }>('mcp-bridge:connection:open'),
  connectionClose: topic<{ transport: string }>('mcp-bridge:connection:close'),
  /** JSON-RPC payload bytes crossing a frontend. */
  bytes: topic<{ transport: string; direction: 'in' | 'out'; bytes: number }>('mcp-bridge:bytes'),
  /** A connection refused before any session (a per-address cap, say): `reason` says which. */
  connectionRejected: topic<{ transport: string; reason: string }>('mcp-bridge:connection:reject'),
  /**
   * A frame that carries no JSON-RPC: WebSocket `ping`, `pong`, `binary`; TCP `health_check`,
   * `version_negotiation`, `version_ack`, `control`, `error`. Rare; JSON-RPC frames are `bytes`.
   */
  frame: topic<{ transport: 'websocket' | 'tcp'; direction: 'in' | 'out'; type: string }>(
    'mcp-bridge:frame',
  ),
  /** A framed TCP connection broke the protocol; `type` is its code (`frame_too_large`, …). */
  tcpProtocolError: topic<{ type: string }>('mcp-bridge:tcp:protocol-error'),
  /** The connector's link changed (state, queue, requests in flight), as its status file shows. */
  connectorLink: topic<ConnectorLinkEvent>('mcp-bridge:connector:link'),
  /** A client request the connector carried was answered (by the remote, or by the connector). */
  connectorRequest: topic<ConnectorRequestEvent>('mcp-bridge:connector:request'),
} as const;
