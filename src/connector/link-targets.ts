import type { CredentialsProvider } from './credentials.js';
import { StaticCredentials } from './credentials.js';
import { transportsFor } from './remote-link.js';
import type { ClientTls, ConnectTransport, DirectServer, LinkKind } from './remote-link.js';
import { displayUrl } from './status-file.js';

/*
 * Where the connector's link may go, in order: the remote (or, in direct mode, a local stdio
 * server it runs itself), then the fallbacks. A failed attempt moves to the next one at once;
 * after the last, the backoff delay, and the primary again. A link that was up and broke starts
 * over from the primary too, so that the connector goes back to it once it is back.
 */

/** A remote the link may reach. */
export interface RemoteTarget {
  /** http(s)://, ws(s):// or tcp(s)://. */
  url: string;
  /** @default by the URL's scheme */
  transport?: ConnectTransport;
  /** @default no credentials */
  credentials?: CredentialsProvider;
  /** @default the system's CAs, no client certificate */
  tls?: ClientTls;
}

export interface LinkTarget {
  /** For logs, errors and the status file: no credentials, no query. */
  display: string;
  url: string;
  kind: LinkKind;
  /** `auto` has not yet seen which HTTP transport the remote speaks. */
  autoPending: boolean;
  credentials: CredentialsProvider;
  tls?: ClientTls;
  direct?: DirectServer;
}

export function remoteTarget(remote: RemoteTarget): LinkTarget {
  const inferred = transportsFor(new URL(remote.url)).auto;
  const transport =
    remote.transport === undefined || remote.transport === 'auto' ? inferred : remote.transport;
  return {
    display: displayUrl(remote.url),
    url: remote.url,
    kind: transport === 'auto' ? 'streamable-http' : transport,
    autoPending: transport === 'auto',
    credentials: remote.credentials ?? new StaticCredentials(),
    ...(remote.tls && { tls: remote.tls }),
  };
}

export function directTarget(direct: DirectServer): LinkTarget {
  const display = `stdio:${[direct.command, ...(direct.args ?? [])].join(' ')}`.slice(0, 200);
  return {
    display,
    url: display,
    kind: 'stdio',
    autoPending: false,
    credentials: new StaticCredentials(),
    direct,
  };
}
