import type { JSONRPCNotification, JSONRPCRequest } from '../core/jsonrpc.js';
import { LOG_LEVELS } from '../core/jsonrpc.js';

/**
 * What the connector remembers of the client's session, to restore it on a remote that lost it:
 * the client's own `initialize` params (never ones of our making), whether it sent
 * `notifications/initialized`, its resource subscriptions and its log level.
 */
export class RestoreMemo {
  /** The remote answered the client's initialize: a session exists, and may be restored. */
  established = false;
  initialized = false;
  protocolVersion: string | undefined;
  logLevel: string | undefined;
  readonly subscriptions = new Set<string>();
  private initialize: Record<string, unknown> | undefined;

  /** Notes what a client request changes in the session's state. */
  note(request: JSONRPCRequest): void {
    const params = request.params as Record<string, unknown> | undefined;
    switch (request.method) {
      case 'initialize':
        // A structured clone: the params are replayed as they were, whatever happens to them.
        this.initialize = params === undefined ? undefined : structuredClone(params);
        return;
      case 'logging/setLevel':
        if (typeof params?.level === 'string') this.logLevel = params.level;
        return;
      case 'resources/subscribe':
        if (typeof params?.uri === 'string') this.subscriptions.add(params.uri);
        return;
      case 'resources/unsubscribe':
        if (typeof params?.uri === 'string') this.subscriptions.delete(params.uri);
        return;
    }
  }

  /**
   * A log notification of the connector's own for the client, or undefined when the client has
   * no session yet or asked for a level above `level`.
   */
  logNotification(level: 'info' | 'warning', text: string): JSONRPCNotification | undefined {
    if (!this.established || !this.initialized) return undefined;
    const wanted = LOG_LEVELS.indexOf(this.logLevel ?? 'debug');
    if (LOG_LEVELS.indexOf(level) < wanted) return undefined;
    return {
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: { level, logger: 'mcp-bridge-connector', data: text },
    };
  }

  /** The client's original initialize params. */
  initializeParams(): Record<string, unknown> | undefined {
    return this.initialize === undefined ? undefined : structuredClone(this.initialize);
  }
}
