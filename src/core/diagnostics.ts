import diagnostics from 'node:diagnostics_channel';

/**
 * Every event the core publishes, in one place. Metrics, audit, tracing and the dashboard
 * subscribe here; the message path never calls them. Publishing is guarded by `hasSubscribers`,
 * so an event nobody listens to costs one property read.
 */
export const channels = {
  /** `{ sessionId, transport }` */
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
} as const;
