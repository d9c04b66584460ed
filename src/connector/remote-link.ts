import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport, SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import type { Logger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';
import { WebSocketBackendTransport } from '../backends/websocket-backend.js';
import { TcpBackendTransport } from '../backends/tcp-backend.js';
import { bearerTokenOf } from '../backends/remote.js';

/** How the connector reaches its remote. */
export const CONNECT_TRANSPORTS = ['auto', 'streamable-http', 'sse', 'websocket', 'tcp'] as const;
export type ConnectTransport = (typeof CONNECT_TRANSPORTS)[number];
/** A transport once `auto` has been decided. */
export type ResolvedTransport = Exclude<ConnectTransport, 'auto'>;

/** The transports a URL's scheme allows, and what `auto` means for it. */
export function transportsFor(url: URL): { allowed: ResolvedTransport[]; auto: ConnectTransport } {
  switch (url.protocol) {
    case 'http:':
    case 'https:':
      return { allowed: ['streamable-http', 'sse'], auto: 'auto' };
    case 'ws:':
    case 'wss:':
      return { allowed: ['websocket'], auto: 'websocket' };
    case 'tcp:':
    case 'tcps:':
      return { allowed: ['tcp'], auto: 'tcp' };
    default:
      throw new Error(
        `expected an http(s)://, ws(s):// or tcp(s):// URL, got ${url.protocol}// (${url.protocol.replace(':', '')} is not a transport the connector speaks)`,
      );
  }
}

export interface LinkSettings {
  url: string;
  headers: Record<string, string>;
  log: Logger;
  maxMessageBytes: number;
}

/** A new, unstarted transport to the remote: one per connection attempt. */
export function createLink(kind: ResolvedTransport, settings: LinkSettings): Transport {
  const { url, headers, log, maxMessageBytes } = settings;
  switch (kind) {
    case 'streamable-http':
      return new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers },
        // The connector reconnects itself, with the session restore the SDK does not do; a GET
        // stream that ends is reported at once instead of retried behind its back.
        reconnectionOptions: {
          maxRetries: 0,
          initialReconnectionDelay: 1000,
          maxReconnectionDelay: 1000,
          reconnectionDelayGrowFactor: 1,
        },
      });
    case 'sse':
      return new SSEClientTransport(new URL(url), { requestInit: { headers } });
    case 'websocket':
      return new WebSocketBackendTransport({
        name: 'remote',
        url,
        headers,
        log,
        maxMessageBytes,
        pingIntervalMs: 15_000,
      });
    case 'tcp':
      return new TcpBackendTransport({
        name: 'remote',
        url,
        authToken: bearerTokenOf(headers),
        log,
        maxFrameBytes: maxMessageBytes,
        healthIntervalMs: 15_000,
      });
  }
}

/**
 * What a failed send says about the message and the link:
 * - `session-lost`: the remote answered that it does not know the session (HTTP 404); the
 *   message was not run, and a restored session may take it;
 * - `not-delivered`: the remote could not be reached at all (refused, no route, not connected);
 *   the message was not run;
 * - `link-lost`: the connection broke while the message travelled: it may have been run;
 * - `refused`: the remote answered with an error of its own (401, 400, 500...): a reply for the
 *   client, not a reason to reconnect;
 * - `closed`: we closed the link ourselves.
 */
export type SendFailure = 'session-lost' | 'not-delivered' | 'link-lost' | 'refused' | 'closed';

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export function classifySendFailure(error: unknown): SendFailure {
  if (error instanceof StreamableHTTPError)
    return error.code === 404 ? 'session-lost' : error.code === -1 ? 'link-lost' : 'refused';
  if (error instanceof GatewayError)
    return error.code === 'GATEWAY_BACKEND_UNAVAILABLE' ? 'not-delivered' : 'refused';
  if (!(error instanceof Error)) return 'link-lost';
  if (error.name === 'AbortError') return 'closed';
  const match = /^Error POSTing to endpoint \(HTTP (\d+)\)/.exec(error.message);
  if (match) return match[1] === '404' ? 'session-lost' : 'refused';
  if (error.message === 'Not connected') return 'not-delivered';
  const code = (error.cause as { code?: string } | undefined)?.code;
  if (code && UNREACHABLE.has(code)) return 'not-delivered';
  return 'link-lost';
}

/**
 * Whether an error the transport reported on its own (not from a send) means the link is gone:
 * a Streamable HTTP GET stream that broke or ended, an SSE stream that failed.
 */
export function isLinkFailure(error: Error): 'session-lost' | 'link-lost' | undefined {
  if (error instanceof SseError) return 'link-lost';
  // A failed send is reported here too, before its promise rejects; only the GET stream's own
  // failures matter here (sends are judged by classifySendFailure).
  if (error instanceof StreamableHTTPError)
    return error.code === 404 && /Failed to open SSE stream/.test(error.message)
      ? 'session-lost'
      : undefined;
  if (
    /^(SSE stream disconnected|Failed to reconnect|Maximum reconnection attempts)/.test(
      error.message,
    )
  )
    return 'link-lost';
  return undefined;
}

/** Whether `auto` should fall back from Streamable HTTP to SSE after this first-send failure. */
export function meansNoStreamableHttp(error: unknown): boolean {
  return (
    error instanceof StreamableHTTPError &&
    (error.code === 400 || error.code === 404 || error.code === 405)
  );
}

/** A send failure in words for the client: with the HTTP status when the remote gave one. */
export function describeSendFailure(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  if (error instanceof StreamableHTTPError && (error.code ?? 0) > 0)
    return `the remote answered HTTP ${error.code}: ${text.replace(/^Streamable HTTP error: /, '')}`;
  return text;
}
