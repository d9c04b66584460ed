import type { GatewayConfig } from '../config/schema.js';
import { ConfigError } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/policy.js';
import type { OpenSession } from '../frontends/types.js';
import { TcpFrontend } from '../frontends/tcp.js';
import type { TcpFrontendOptions } from '../frontends/tcp.js';
import type { TcpHealthStatus } from '../frontends/tcp-health.js';
import { healthyState } from '../http/ops.js';
import type { OpsView } from '../http/ops.js';
import { certificatePrincipal, readPem } from '../tls.js';

export interface TcpWiring {
  openSession: OpenSession;
  log: Logger;
  verifyMessageToken: ((token: string) => Promise<Principal>) | undefined;
  authRequired: boolean;
  /** The gateway's health, for the probes of `server.tcp.healthPort`. */
  healthStatus: () => TcpHealthStatus;
}

/**
 * What a probe of the TCP health port is told: healthy as `/health` says (every enabled,
 * required backend healthy), and a line per backend.
 */
export function tcpHealthOf(view: OpsView): TcpHealthStatus {
  const backends = view.backends();
  const checks: TcpHealthStatus['checks'] = {};
  for (const b of backends) {
    checks[b.name] = {
      healthy: healthyState(b.state),
      message: b.lastError && !healthyState(b.state) ? `${b.state}: ${b.lastError}` : b.state,
      ...(b.lastChange !== undefined && { last_check: b.lastChange }),
    };
  }
  const healthy = backends.every((b) => !b.enabled || !b.required || healthyState(b.state));
  return { healthy, checks };
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
    healthPort: tcp.healthPort,
  });
}
