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
  const params = message.params;
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
