import type { GatewayConfig } from '../config/schema.js';
import { ConfigError } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/policy.js';
import type { OpenSession } from '../frontends/types.js';
import { TcpFrontend } from '../frontends/tcp.js';
import type { TcpFrontendOptions } from '../frontends/tcp.js';
import { certificatePrincipal, readPem } from '../tls.js';

export interface TcpWiring {
  openSession: OpenSession;
  log: Logger;
  verifyMessageToken: ((token: string) => Promise<Principal>) | undefined;
  authRequired: boolean;
}

/**
 * The framed TCP frontend `server.tcp` describes, or undefined when it is off. With
 * `server.tcp.tls` it serves TLS with `server.tls`'s certificate, key and client CA.
 */
export function createTcpFrontend(
  config: Readonly<GatewayConfig>,
  wiring: TcpWiring,
): TcpFrontend | undefined {
  const tcp = config.server.tcp;
  if (!tcp.enabled) return undefined;
  let tls: TcpFrontendOptions['tls'];
  if (tcp.tls) {
    const server = config.server.tls;
    if (!server)
      throw new ConfigError([
        'server.tcp.tls: expected server.tls (its cert and key) to serve TLS with',
      ]);
    const ca = server.ca === undefined ? undefined : readPem(server.ca, 'server.tls.ca');
    tls = {
      cert: readPem(server.cert, 'server.tls.cert'),
      key: readPem(server.key, 'server.tls.key'),
      ca,
      minVersion: server.minVersion,
      ciphers: server.ciphers,
      requestCert: ca !== undefined,
      rejectUnauthorized: server.requireClientCert,
    };
  }
  return new TcpFrontend({
    ...wiring,
    maxMessageBytes: config.limits.maxMessageBytes,
    maxDepth: config.limits.maxDepth,
    port: tcp.port,
    host: tcp.host ?? config.server.host,
    tls,
    maxFrameBytes: tcp.maxFrameBytes,
    maxInFlight: tcp.maxInFlight,
    certificatePrincipal: tls ? certificatePrincipal : undefined,
  });
}
