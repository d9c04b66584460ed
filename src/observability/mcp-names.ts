import type { GatewayConfig } from '../config/schema.js';
import { channels } from '../core/diagnostics.js';
import type { JSONRPCNotification, JSONRPCRequest } from '../core/jsonrpc.js';

/*
 * What the observers need to know about a request beyond the event or policy context: a bounded
 * method label, what a call names (tool, prompt, resource), and which backend it goes to.
 */

/** Methods of the MCP specification; anything else is labelled `other`, so a client cannot grow the metric series at will. */
const KNOWN_METHODS = new Set([
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'sampling/createMessage',
  'elicitation/create',
  'roots/list',
  'tasks/get',
  'tasks/list',
  'tasks/result',
  'tasks/cancel',
]);

export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'other';
}

/** What a tool call, prompt get or resource read names; undefined for other methods. */
export function targetOf(
  message: JSONRPCRequest | JSONRPCNotification,
): { name?: string; uri?: string } | undefined {
  const params = message.params as { name?: unknown; uri?: unknown } | undefined;
  switch (message.method) {
    case 'tools/call':
    case 'prompts/get':
      return { name: typeof params?.name === 'string' ? params.name : undefined };
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return { uri: typeof params?.uri === 'string' ? params.uri : undefined };
    default:
      return undefined;
  }
}

/**
 * Which backend each session goes to (from `session:open`), and, on the aggregated endpoint,
 * which backend a tool or prompt name belongs to (by its prefix). Resources on the aggregated
 * endpoint are routed by URI inside the federation layer, which publishes no event for it: they
 * are reported as `*`.
 */
export class RouteBook {
  private readonly sessions = new Map<string, string>();
  private readonly prefixes: Array<[string, string]>;
  private readonly only: string | undefined;

  constructor(config: Readonly<GatewayConfig>) {
    const enabled = Object.entries(config.backends).filter(([, b]) => b.enabled);
    this.only = enabled.length === 1 ? enabled[0]![0] : undefined;
    const separator = config.aggregate.separator;
    // Longest prefix first, so that `git` never claims `github__…`.
    this.prefixes = enabled
      .map(([name, b]): [string, string] => [`${b.prefix ?? name}${separator}`, name])
      .sort((a, b) => b[0].length - a[0].length);
  }

  private readonly onOpen = (event: unknown) => {
    const { sessionId, backend } = event as { sessionId: string; backend?: string };
    if (backend !== undefined) this.sessions.set(sessionId, backend);
  };

  private readonly onClose = (event: unknown) => {
    this.sessions.delete((event as { sessionId: string }).sessionId);
  };

  subscribe(): void {
    channels.sessionOpen.subscribe(this.onOpen);
    channels.sessionClose.subscribe(this.onClose);
  }

  unsubscribe(): void {
    channels.sessionOpen.unsubscribe(this.onOpen);
    channels.sessionClose.unsubscribe(this.onClose);
  }

  /** The session's backend: a name, `*` for the aggregated endpoint, or `unknown` before it has opened. */
  sessionBackend(sessionId: string): string {
    return this.sessions.get(sessionId) ?? this.only ?? 'unknown';
  }

  /** The backend a request goes to, as far as can be told from outside the federation layer. */
  backendFor(sessionId: string, message: JSONRPCRequest | JSONRPCNotification): string {
    const backend = this.sessionBackend(sessionId);
    if (backend !== '*') return backend;
    const name = targetOf(message)?.name;
    if (name !== undefined) {
      for (const [prefix, owner] of this.prefixes) if (name.startsWith(prefix)) return owner;
    }
    return backend;
  }
}
