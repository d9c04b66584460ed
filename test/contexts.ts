import { RequestContext } from '../src/core/context.js';
import type { ContextInit, Route } from '../src/core/context.js';
import { createLogger } from '../src/core/logger.js';

/**
 * A request as policies and targets see it, for unit tests: a `tools/call` in session `s` unless
 * overridden; `route` as a target would have recorded it.
 */
export function messageContext(
  overrides: Partial<ContextInit> & { route?: Route } = {},
): RequestContext {
  const { route, ...init } = overrides;
  const ctx = new RequestContext({
    message: { jsonrpc: '2.0', id: 1, method: 'tools/call' },
    transport: 'test',
    session: { id: 's', endpoint: 'b' },
    log: createLogger({ level: 'silent' }),
    ...init,
  });
  ctx.route = route;
  return ctx;
}
