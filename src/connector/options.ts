import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Logger } from '../core/logger.js';
import type { BackoffOptions } from './backoff.js';
import type { CredentialsProvider } from './credentials.js';
import type { RemoteTarget } from './link-targets.js';
import type { WaitQueueOptions } from './queue.js';
import type { ClientTls, ConnectTransport, DirectServer } from './remote-link.js';

/* What a Connector (connector.ts) is made with. */

export interface ConnectorOptions {
  /** The remote gateway or server: http(s)://, ws(s):// or tcp(s)://. Unused with `direct`. */
  url: string;
  /**
   * How to reach it; `auto` tries Streamable HTTP, then legacy SSE.
   * @default by the URL's scheme: `auto` for http(s), `websocket` for ws(s), `tcp` for tcp(s)
   */
  transport?: ConnectTransport;
  /** The desktop client's side: the stdio server transport, started by the connector. */
  client: Transport;
  log: Logger;
  /** Headers and tokens, asked for on every (re)connect. @default no credentials */
  credentials?: CredentialsProvider;
  /** Bounds of the queue of requests made while the link is down. @default { maxSize: 100, maxWaitMs: 60_000 } */
  queue?: WaitQueueOptions;
  /** Delays between reconnection attempts. @default { initialMs: 500, maxMs: 30_000 } */
  backoff?: BackoffOptions;
  /** How long one attempt (connect, and the restore handshake) may take. @default 10_000 */
  connectTimeoutMs?: number;
  /** Where to keep a JSON status file (state, since, reconnects, queue depth). @default undefined */
  statusFile?: string;
  /** Largest message accepted from the remote (WebSocket, TCP), in bytes. @default 16 MiB */
  maxMessageBytes?: number;
  /** A private CA, a client certificate (mTLS). @default the system's CAs, no certificate */
  tls?: ClientTls;
  /** Run this local stdio server instead of reaching `url` (direct mode). @default undefined */
  direct?: DirectServer;
  /** Remotes to fall back to, in order, when the first cannot be reached. @default [] */
  fallbacks?: RemoteTarget[];
}

export type LinkState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';
