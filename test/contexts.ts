import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { RequestContext } from '../src/core/context.js';
import { GatewayError } from '../src/core/errors.js';
import type { Backend } from '../src/backends/backend.js';
import type { BackendTransport } from '../src/backends/transport.js';
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

/** A backend whose one connection is `transport` (an in-memory one, say), for unit tests of targets. */
export function inMemoryBackend(name: string, transport: Transport): Backend {
  const connection: BackendTransport = Object.assign(transport, {
    unavailable: () =>
      new GatewayError('GATEWAY_BACKEND_EXITED', `${name}: the in-memory server closed`),
  });
  return {
    name,
    connect: () => connection,
    warm: async () => {},
    reapIdle: () => {},
    close: async () => {},
  };
}
