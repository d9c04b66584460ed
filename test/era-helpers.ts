/*
 * Raw 2026-07-28 requests over HTTP, for what a client library hides: the exact status, the
 * notifications on a request's stream, tampered retries.
 */

export const MODERN = '2026-07-28';

export interface ModernCallOptions {
  capabilities?: Record<string, unknown>;
  logLevel?: string;
  headers?: Record<string, string>;
  /** Extra `_meta` keys (a progressToken, say). */
  meta?: Record<string, unknown>;
  signal?: AbortSignal;
}

export interface ModernAnswer {
  status: number;
  /** The JSON-RPC reply (the last message of a stream). */
  reply: {
    id?: unknown;
    result?: Record<string, unknown>;
    error?: { code: number; message: string; data?: unknown };
  };
  /** Notifications that came before the reply on the request's stream. */
  notifications: { method: string; params?: Record<string, unknown> }[];
}

let ids = 0;

export function modernBody(
  method: string,
  params: Record<string, unknown> = {},
  options: ModernCallOptions = {},
): Record<string, unknown> {
  return {
    jsonrpc: '2.0',
    id: ++ids,
    method,
    params: {
      ...params,
      _meta: {
        ...options.meta,
        'io.modelcontextprotocol/protocolVersion': MODERN,
        'io.modelcontextprotocol/clientCapabilities': options.capabilities ?? {},
        'io.modelcontextprotocol/clientInfo': { name: 'raw-modern-test', version: '1' },
        ...(options.logLevel !== undefined && {
          'io.modelcontextprotocol/logLevel': options.logLevel,
        }),
      },
    },
  };
}

/** POSTs one body and reads the answer, JSON or SSE. */
export async function postModern(
  url: URL | string,
  body: unknown,
  options: ModernCallOptions = {},
): Promise<ModernAnswer> {
  const method = (body as { method?: string }).method;
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN,
      ...(method && { 'mcp-method': method }),
      ...options.headers,
    },
    body: JSON.stringify(body),
    signal: options.signal,
  });
  const text = await res.text();
  if (res.status === 202) return { status: 202, reply: {}, notifications: [] };
  if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream'))
    return {
      status: res.status,
      reply: JSON.parse(text) as ModernAnswer['reply'],
      notifications: [],
    };
  const messages = text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>);
  const reply = messages.pop() as ModernAnswer['reply'];
  return {
    status: res.status,
    reply,
    notifications: messages as ModernAnswer['notifications'],
  };
}

/** One modern request: the body made and posted. */
export function callModern(
  url: URL | string,
  method: string,
  params: Record<string, unknown> = {},
  options: ModernCallOptions = {},
): Promise<ModernAnswer> {
  return postModern(url, modernBody(method, params, options), options);
}
