import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { SecureResponse } from './auth/security-headers.js';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { GatewayConfig } from './config/schema.js';
import { ConfigError } from './config/schema.js';
import type { Logger } from './core/logger.js';
import { channels } from './core/diagnostics.js';
import type { Principal } from './core/policy.js';

/*
 * The gateway's listener: plain HTTP, or HTTPS (and so WSS) when `server.tls` is set, with
 * client certificates checked against `ca` (mTLS). A client without a valid certificate where
 * one is required never completes the handshake, so it reaches no handler at all.
 */

export type TlsConfig = NonNullable<GatewayConfig['server']['tls']>;

/** PEM text given inline, or read from the file the value names. */
export function readPem(value: string, path: string): string {
  if (value.includes('-----BEGIN ')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (error) {
    throw new ConfigError([`${path}: cannot read ${value}: ${(error as Error).message}`]);
  }
}

/** How long a client may take, and how many connections it may hold (the `server.*` keys). */
export type ListenerLimits = Pick<
  GatewayConfig['server'],
  'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'maxConnectionsPerAddress'
>;

/**
 * Timeouts against slow clients (slowloris). Node checks them on a timer, every 30 s by
 * default: a quarter of the shortest makes a head that never ends close near its deadline.
 */
function timeoutOptions(limits: Readonly<ListenerLimits>) {
  const shortest = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(5000, Math.max(50, Math.floor(shortest / 4))),
  };
}

/**
 * Cuts a connection at once when its address already holds `max`: counted per TCP connection,
 * so that idle keep-alive and half-sent requests count as much as busy ones.
 */
function capConnectionsPerAddress(server: Server, max: number, log: Logger | undefined): void {
  if (max <= 0) return;
  const held = new Map<string, number>();
  let warned = 0;
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined) return;
    const count = (held.get(address) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      if (channels.connectionRejected.hasSubscribers)
        channels.connectionRejected.publish({ transport: 'http', reason: 'per_address_limit' });
      // One line a minute at most: a flood must not become a flood of log lines.
      if (Date.now() - warned > 60_000) {
        warned = Date.now();
        log?.warn(
          { remoteAddress: address, max },
          'refused a connection: the address holds server.maxConnectionsPerAddress',
        );
      }
      return;
    }
    held.set(address, count);
    socket.once('close', () => {
      const left = held.get(address)! - 1;
      if (left === 0) held.delete(address);
      else held.set(address, left);
    });
  });
}

/**
 * The gateway's HTTP server, HTTPS when `tls` is given. Certificate files are read here, once;
 * a file that cannot be read, or a key that does not fit its certificate, is a ConfigError.
 */
export function createListener(
  tls: Readonly<TlsConfig> | undefined,
  handler: RequestListener,
  log?: Logger,
  limits?: Readonly<ListenerLimits>,
): Server {
  const server = createServerFor(tls, handler, log, limits);
  if (limits) capConnectionsPerAddress(server, limits.maxConnectionsPerAddress, log);
  return server;
}

function createServerFor(
  tls: Readonly<TlsConfig> | undefined,
  handler: RequestListener,
  log: Logger | undefined,
  limits: Readonly<ListenerLimits> | undefined,
): Server {
  const timeouts = limits ? timeoutOptions(limits) : {};
  if (!tls) return createHttpServer({ ServerResponse: SecureResponse, ...timeouts }, handler);
  const cert = readPem(tls.cert, 'server.tls.cert');
  const key = readPem(tls.key, 'server.tls.key');
  const ca = tls.ca === undefined ? undefined : readPem(tls.ca, 'server.tls.ca');
  if (tls.requireClientCert && ca === undefined)
    throw new ConfigError([
      'server.tls.ca: expected the CA that client certificates must chain to (requireClientCert is set)',
    ]);
  let server: Server;
  try {
    server = createHttpsServer(
      {
        ServerResponse: SecureResponse,
        ...timeouts,
        cert,
        key,
        ca,
        minVersion: tls.minVersion,
        ciphers: tls.ciphers,
        // With a CA but no requirement, a certificate is asked for and used when valid; a client
        // without one (or with one the CA did not sign) still connects, as if it had sent none.
        requestCert: ca !== undefined,
        rejectUnauthorized: tls.requireClientCert,
      },
      handler,
    );
  } catch (error) {
    throw new ConfigError([`server.tls: ${(error as Error).message}`]);
  }
  server.on('tlsClientError', (error: Error, socket: Socket) => {
    log?.debug({ err: error, remoteAddress: socket.remoteAddress }, 'TLS handshake refused');
  });
  return server;
}

/**
 * The caller a verified client certificate names: `CN=<common name>` (the whole subject when it
 * has no CN), every scope. Undefined unless the socket is TLS and the certificate chains to `ca`.
 */
export function certificatePrincipal(socket: unknown): Principal | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const certificate = socket.getPeerX509Certificate();
  if (!certificate) return undefined;
  const subject = certificate.subject.split('\n').join(', ');
  const cn = certificate.subject.split('\n').find((part) => part.startsWith('CN='));
  return {
    id: cn ?? subject,
    scopes: ['*'],
    claims: {
      subject,
      issuer: certificate.issuer.split('\n').join(', '),
      fingerprint256: certificate.fingerprint256,
    },
  };
}
