import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport, SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  StdioClientTransport,
  getDefaultEnvironment,
} from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Logger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';
import { UpgradeRefused, WebSocketBackendTransport } from '../backends/websocket-backend.js';
import { TcpBackendTransport } from '../backends/tcp-backend.js';
import { bearerTokenOf } from '../backends/remote.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { Agent } from 'undici';
import { leanFetch, plainLeanFetch } from '../core/lean-fetch.js';
import { schemeFamily } from '../core/url-schemes.js';
import type { CredentialsProvider } from './credentials.js';

/** How the connector reaches its remote. */
export const CONNECT_TRANSPORTS = [
  'auto',
  'streamable-http',
  'sse',
  'websocket',
  'websocket-envelope',
  'websocket-control',
  'tcp',
] as const;
export type ConnectTransport = (typeof CONNECT_TRANSPORTS)[number];
/** A transport once `auto` has been decided. */
export type ResolvedTransport = Exclude<ConnectTransport, 'auto'>;

/** The transports a URL's scheme allows, and what `auto` means for it. */
export function transportsFor(url: URL): { allowed: ResolvedTransport[]; auto: ConnectTransport } {
  switch (schemeFamily(url)) {
    case 'http':
      return { allowed: ['streamable-http', 'sse'], auto: 'auto' };
    case 'websocket':
      return {
        allowed: ['websocket', 'websocket-envelope', 'websocket-control'],
        auto: 'websocket',
      };
    case 'tcp':
      return { allowed: ['tcp'], auto: 'tcp' };
    case undefined:
      throw new Error(
        `expected an http(s)://, ws(s):// or tcp(s):// URL, got ${url.protocol}// (${url.protocol.replace(':', '')} is not a transport the connector speaks)`,
      );
  }
}

/**
 * Opens the standalone GET stream of a Streamable HTTP session the connector went on with after
 * a break (the SDK opens it only after `notifications/initialized`, which a resumed session does
 * not send again): from `lastEventId` when one is known, so the remote replays what it sent
 * meanwhile, else from now. A remote without one (405) is fine; any other failure is logged.
 */
export function reopenGetStream(
  link: StreamableHTTPClientTransport,
  lastEventId: string | undefined,
  onEventId: (id: string) => void,
  log: Logger,
): void {
  link
    .resumeStream(lastEventId ?? '', { onresumptiontoken: onEventId })
    .catch((error: unknown) => log.debug({ err: error }, 'the GET stream could not be reopened'));
}

/** A connection attempt the remote refused for its credentials: no outage, waiting won't help. */
export function isAuthRefusal(error: unknown): boolean {
  return error instanceof UpgradeRefused && (error.httpStatus === 401 || error.httpStatus === 403);
}

/** `a`, `a or b`, `a, b or c`: the transports a URL takes, in words. */
export function oneOf(names: readonly string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}

/** TLS of the connection to the remote, PEM texts read: a private CA, a client certificate. */
export interface ClientTls {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

export interface LinkSettings {
  url: string;
  /** The credentials' headers as they stood when the attempt began. */
  headers: Record<string, string>;
  /** Asked again before each HTTP request, so that a refreshed token is the one sent. */
  credentials: CredentialsProvider;
  log: Logger;
  maxMessageBytes: number;
  /** @default undefined: the system's CAs, no client certificate */
  tls?: ClientTls;
  /** The server to run, for a `stdio` link. */
  direct?: DirectServer;
  /**
   * Over Streamable HTTP, or WebSocket in the control dialect: go on with this session (to
   * resume its streams, or attach to it). @default a new one
   */
  sessionId?: string;
  /** In the control dialect, called the moment the remote takes `sessionId` back. */
  onAttached?: () => void;
}

/** One undici Agent per TLS setting, for the life of the process (connections are pooled). */
const agents = new WeakMap<ClientTls, FetchLike>();

/**
 * The fetch behind the HTTP transports (src/core/lean-fetch.ts): the credentials' current
 * headers on every request, and the TLS settings (an undici Agent) when given.
 */
function linkFetch(credentials: CredentialsProvider, tls: ClientTls | undefined): FetchLike {
  let base = plainLeanFetch;
  if (tls) {
    let fetchWithTls = agents.get(tls);
    if (!fetchWithTls)
      agents.set(tls, (fetchWithTls = leanFetch(new Agent({ connect: { ...tls } }))));
    base = fetchWithTls;
  }
  return async (url, init) => {
    let fresh: Record<string, string>;
    try {
      fresh = await credentials.headers();
    } catch (error) {
      // Nothing was sent: the request may go again once credentials can be had.
      throw new GatewayError(
        'GATEWAY_BACKEND_UNAVAILABLE',
        `no credentials for the remote: ${(error as Error).message}`,
      );
    }
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(fresh)) headers.set(name, value);
    const response = await base(url, { ...init, headers });
    if (response.status !== 401 || !credentials.unauthorized) return response;
    // The request was refused before it ran: once authorized, it goes again, once.
    let again: boolean;
    try {
      again = await credentials.unauthorized(response);
    } catch (error) {
      throw new GatewayError(
        'GATEWAY_BACKEND_UNAVAILABLE',
        `the remote needs authorization, which failed: ${(error as Error).message}`,
      );
    }
    if (!again) return response;
    await response.body?.cancel().catch(() => {});
    for (const [name, value] of Object.entries(await credentials.headers()))
      headers.set(name, value);
    return base(url, { ...init, headers });
  };
}

/** A local stdio MCP server the connector runs itself (direct mode). */
export interface DirectServer {
  command: string;
  /** @default [] */
  args?: string[];
  /** Added to the SDK's safe default environment (PATH, HOME, ...). @default {} */
  env?: Record<string, string>;
  /** @default the connector's */
  cwd?: string;
}

/** What a link is carried over: a remote transport, or a child process's stdio. */
export type LinkKind = ResolvedTransport | 'stdio';

/** A new, unstarted transport to the remote: one per connection attempt. */
export function createLink(kind: LinkKind, settings: LinkSettings): Transport {
  const { url, headers, log, maxMessageBytes, credentials, tls } = settings;
  switch (kind) {
    case 'stdio': {
      const direct = settings.direct!;
      return new StdioClientTransport({
        command: direct.command,
        args: direct.args ?? [],
        env: { ...getDefaultEnvironment(), ...direct.env },
        ...(direct.cwd !== undefined && { cwd: direct.cwd }),
        // Its log lines go where the connector's go; stdout is the MCP channel to it.
        stderr: 'inherit',
      });
    }
    case 'streamable-http':
      return new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers },
        ...(settings.sessionId !== undefined && { sessionId: settings.sessionId }),
        fetch: linkFetch(credentials, tls),
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
      return new SSEClientTransport(new URL(url), {
        requestInit: { headers },
        fetch: linkFetch(credentials, tls),
      });
    case 'websocket':
    case 'websocket-envelope':
    case 'websocket-control':
      return new WebSocketBackendTransport({
        name: 'remote',
        url,
        headers,
        log,
        maxMessageBytes,
        pingIntervalMs: 15_000,
        ...(tls && { tls }),
        // The seed's control dialect: a session asked for, and attached to again after a drop.
        ...(kind === 'websocket-control' && {
          control: { sessionId: settings.sessionId, onAttached: settings.onAttached },
        }),
        // The seed's envelope: the current token in every message (per-message auth).
        ...(kind === 'websocket-envelope' && {
          envelope: {
            source: 'mcp-bridge-connector',
            authToken: () => bearerTokenOf(credentials.current()) ?? bearerTokenOf(headers),
          },
        }),
      });
    case 'tcp':
      return new TcpBackendTransport({
        name: 'remote',
        url,
        authToken: () => bearerTokenOf(credentials.current()) ?? bearerTokenOf(headers),
        log,
        maxFrameBytes: maxMessageBytes,
        healthIntervalMs: 15_000,
        ...(tls && { tls }),
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

/** A resumption (GET with Last-Event-ID) that the remote refused, other than for a lost session. */
export function isResumeRefusal(error: Error): boolean {
  return (
    error instanceof StreamableHTTPError &&
    error.code !== 404 &&
    /Failed to open SSE stream/.test(error.message)
  );
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
