import type { GatewayConfig } from '../config/schema.js';

/*
 * A gateway bound beyond loopback with no credentials required lets anyone who can reach the
 * port call every tool of every backend. That may be meant (a private network, a proxy in front
 * that authenticates), so it is not refused; but it must never start silently.
 */

/** Whether `host` is a loopback address or name (no other machine can connect). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || h.startsWith('127.') || h === '::ffff:127.0.0.1';
}

/**
 * The warning to log at startup when the HTTP listener is open to other machines and nothing
 * requires credentials (neither `auth.required` nor required client certificates); else undefined.
 */
export function exposureWarning(config: Readonly<GatewayConfig>): string | undefined {
  if (isLoopbackHost(config.server.host)) return undefined;
  if (config.auth.required || config.server.tls?.requireClientCert) return undefined;
  return `listening on ${config.server.host} without authentication: anyone who can reach this port can call every backend's tools; set auth.required with auth.apiKeys or auth.jwt (see the hardening checklist in docs/security.md)`;
}
