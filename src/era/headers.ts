import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { META } from './modern.js';

/*
 * The headers a 2026-07-28 POST must carry besides its body: `MCP-Protocol-Version` equal to the
 * envelope's, `Mcp-Method`, and `Mcp-Name` for the requests that name a tool, prompt or resource.
 * The SDK's v1 client transport knows none of them, so the gateway's fetch adds them from the
 * body it is about to send, for backends spoken to in the modern era only.
 */

const SENTINEL = /^=\?base64\?.*\?=$/;

/** A value as an HTTP header may carry it: as is when safe, else in the base64 sentinel form. */
export function headerValue(value: string): string {
  const safe = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(value) && !SENTINEL.test(value);
  return safe ? value : `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** What `Mcp-Name` carries for a method, or undefined when the method names nothing. */
function nameOf(method: string, params: Record<string, unknown> | undefined): unknown {
  if (method === 'tools/call' || method === 'prompts/get') return params?.name;
  if (method === 'resources/read') return params?.uri;
  return undefined;
}

/** A fetch that adds the modern request headers to each POST whose body makes the modern claim. */
export function modernHeaderFetch(base: FetchLike): FetchLike {
  return (url, init) => {
    const body = init?.body;
    if (init?.method !== 'POST' || typeof body !== 'string' || !body.includes(META.protocolVersion))
      return base(url, init);
    let message: { method?: unknown; params?: Record<string, unknown> };
    try {
      message = JSON.parse(body) as typeof message;
    } catch {
      return base(url, init);
    }
    const headers = new Headers(init.headers);
    const version = (message.params?._meta as Record<string, unknown> | undefined)?.[
      META.protocolVersion
    ];
    if (typeof version === 'string') headers.set('mcp-protocol-version', version);
    if (typeof message.method === 'string') {
      headers.set('mcp-method', message.method);
      const name = nameOf(message.method, message.params);
      if (typeof name === 'string') headers.set('mcp-name', headerValue(name));
    }
    return base(url, { ...init, headers }).then(errorAsReply);
  };
}

/**
 * A modern server answers a request it refuses (an unknown method, a missing capability) with a
 * 4xx whose body is the JSON-RPC error; the v1 SDK client would turn that into a transport
 * failure. The error is the request's answer, so it is handed on as one.
 */
async function errorAsReply(response: Response): Promise<Response> {
  if (response.status < 400 || response.status >= 500) return response;
  if (!(response.headers.get('content-type') ?? '').includes('application/json')) return response;
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { id?: unknown; error?: unknown };
    if (body.error !== undefined && body.id !== undefined && body.id !== null)
      return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
  } catch {
    // Not JSON after all: the failure it is.
  }
  return new Response(text, { status: response.status, headers: response.headers });
}
