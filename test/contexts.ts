import type { MessageContext } from '../src/core/policy.js';
import { createLogger } from '../src/core/logger.js';

/** A policy's view of a request, for unit tests of policies: a `tools/call` unless overridden. */
export function messageContext(overrides: Partial<MessageContext> = {}): MessageContext {
  return {
    message: { jsonrpc: '2.0', id: 1, method: 'tools/call' },
    direction: 'to-server',
    sessionId: 's',
    transport: 'test',
    principal: undefined,
    signal: new AbortController().signal,
    log: createLogger({ level: 'silent' }),
    ...overrides,
  };
}
