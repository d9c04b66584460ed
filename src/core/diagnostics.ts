import diagnostics from 'node:diagnostics_channel';

/**
 * Every event the core publishes, in one place. Metrics, audit, tracing and the dashboard
 * subscribe here; the message path never calls them. Publishing is guarded by `hasSubscribers`,
 * so an event nobody listens to costs one property read.
 */
export const channels = {
  /** `{ sessionId, transport, backend }` (backend: its name, or `*` for the aggregated endpoint) */
  sessionOpen: diagnostics.channel('mcp-bridge:session:open'),
  /** `{ sessionId, transport, reason }` */
  sessionClose: diagnostics.channel('mcp-bridge:session:close'),
  /** `{ sessionId, direction, method, id }` */
  requestStart: diagnostics.channel('mcp-bridge:request:start'),
  /** `{ sessionId, direction, method, id, durationMs, error?: code }` */
  requestEnd: diagnostics.channel('mcp-bridge:request:end'),
  /** `{ backend, pid }` */
  backendSpawn: diagnostics.channel('mcp-bridge:backend:spawn'),
  /** `{ backend, pid, code, signal }` */
  backendExit: diagnostics.channel('mcp-bridge:backend:exit'),
  /** `{ backend, state: 'unknown'|'up'|'down'|'failed', restarts }` */
  backendState: diagnostics.channel('mcp-bridge:backend:state'),
  /** `{ backend, state: 'closed'|'open'|'half-open' }` */
  breakerState: diagnostics.channel('mcp-bridge:breaker:state'),
  /** `{ scope: 'ip'|'principal'|'key'|'backend'|'tool'|'connection', key, sessionId? }` (the key never holds a secret) */
  rateLimited: diagnostics.channel('mcp-bridge:ratelimit:reject'),
  /** `{ reason, transport }` */
  authFailure: diagnostics.channel('mcp-bridge:auth:failure'),
  /** `{ principal, via: 'api-key'|'jwt'|'certificate', transport }`: a caller was let in */
  authSuccess: diagnostics.channel('mcp-bridge:auth:success'),
  /** `{ transport }`: a client connection (HTTP request stream, WebSocket, socket) opened */
  connectionOpen: diagnostics.channel('mcp-bridge:connection:open'),
  /** `{ transport }` */
  connectionClose: diagnostics.channel('mcp-bridge:connection:close'),
  /** `{ transport, direction: 'in'|'out', bytes }`: JSON-RPC payload bytes crossing a frontend */
  bytes: diagnostics.channel('mcp-bridge:bytes'),
} as const;
