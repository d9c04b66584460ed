import type { AddressInfo } from 'node:net';
import type { GatewayConfig } from './config/schema.js';
import { reachable } from './observability/gateway-proxy.js';
import { version } from './version.js';

/*
 * What the CLI tells a person at start: the one line that says why a listener could not start
 * (instead of a JSON record with a stack), and the URLs a gateway serves once it is up.
 */

/** The error `listen()` fails with: Node puts the address (and port) it tried on it. */
type ListenError = Error & { code?: string; address?: string; port?: number };

/** Where a listener was to listen, and the flag or setting that chooses it. */
export interface ListenAttempt {
  /** `the gateway`, `the admin listener (dashboard, /metrics)`… */
  what: string;
  host: string;
  port: number;
  /** `--port`, `--admin-port`… */
  flag: string;
}

/** One line: what could not listen where, why, and what to do about it. */
export function listenFailure(error: unknown, attempt: ListenAttempt): string {
  const e = error as ListenError;
  const port = e.port ?? attempt.port;
  const where =
    e.address !== undefined && e.port === undefined
      ? e.address
      : `${e.address ?? attempt.host}:${port}`;
  const head = `${attempt.what} cannot listen on ${where}`;
  switch (e.code) {
    case 'EADDRINUSE':
      return e.port === undefined && e.address !== undefined
        ? `${head}: the socket path is in use (another mcp-bridge?); stop it or choose another path`
        : `${head}: the port is in use (by another mcp-bridge or another program); stop that, or choose another with ${attempt.flag} <n> (0 picks a free port)`;
    case 'EACCES':
      return port < 1024
        ? `${head}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE); choose a port of 1024 or more with ${attempt.flag}`
        : `${head}: permission denied`;
    case 'EADDRNOTAVAIL':
      return `${head}: this machine has no such address; check the host to bind (--host)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${head}: the host name does not resolve; check the host to bind (--host)`;
    default:
      return `${head}: ${e.message ?? String(error)}`;
  }
}

const hostPart = (address: string) => {
  const host = reachable(address);
  return host.includes(':') ? `[${host}]` : host;
};

/**
 * The banner of an HTTP gateway: every URL it serves, and a line to paste into a shell that
 * opens a session and shows the server's answer.
 */
export function servingBanner(
  config: Readonly<GatewayConfig>,
  gateway: AddressInfo,
  admin: AddressInfo | undefined,
  tcp?: AddressInfo,
  tcpHealth?: AddressInfo,
): string {
  const tls = config.server.tls !== undefined;
  const base = `${tls ? 'https' : 'http'}://${hostPart(gateway.address)}:${gateway.port}`;
  const ws = `${tls ? 'wss' : 'ws'}://${hostPart(gateway.address)}:${gateway.port}`;
  const names = Object.entries(config.backends)
    .filter(([, b]) => b.enabled)
    .map(([name]) => name);
  const rows: Array<[string, string]> = [];
  if (config.server.http) rows.push(['MCP (Streamable HTTP)', `${base}${config.server.path}`]);
  if (config.server.sse) rows.push(['MCP (HTTP+SSE)', `${base}/sse`]);
  if (config.server.websocket) rows.push(['MCP (WebSocket)', `${ws}/ws`]);
  if (tcp)
    rows.push([
      'MCP (framed TCP)',
      `tcp${config.server.tcp.tls ? 's' : ''}://${hostPart(tcp.address)}:${tcp.port}`,
    ]);
  if (tcpHealth)
    rows.push(['TCP health', `tcp://${hostPart(tcpHealth.address)}:${tcpHealth.port}`]);
  if (config.server.unixSocket) rows.push(['MCP (Unix socket)', config.server.unixSocket]);
  if (names.length > 1 && config.server.http)
    rows.push(['one backend', `${base}/servers/<name>/mcp (${names.join(', ')})`]);
  if (config.rest.enabled) rows.push(['REST API docs', `${base}/docs`]);
  if (admin) {
    const adminBase = `http://${hostPart(admin.address)}:${admin.port}`;
    rows.push(['dashboard', `${adminBase}/`], ['metrics', `${adminBase}/metrics`]);
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  const lines = [
    `mcp-bridge ${version} serving ${names.join(', ') || 'no backend'}`,
    ...rows.map(([label, url]) => `  ${label.padEnd(width)}  ${url}`),
  ];
  if (config.server.http) {
    const initialize = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'curl', version: '1' },
      },
    });
    const auth = config.auth.required ? ` -H 'authorization: Bearer <your key>'` : '';
    lines.push(
      'Try it:',
      `  curl -s ${base}${config.server.path} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream'${auth} -d '${initialize}'`,
    );
  }
  return `${lines.join('\n')}\n`;
}
