import { request } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, isIP } from 'node:net';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../core/errors.js';
import { sendHttpError } from '../http/error-reply.js';

/*
 * The admin listener's window onto the gateway, for the dashboard's playground and test client:
 * `/gateway/<path>` is passed to the gateway's own MCP endpoints over loopback HTTP (and
 * WebSocket upgrades as raw sockets), so the pages stay same-origin and need no CORS. Only MCP
 * endpoint paths pass; the ops paths have their own admin API. The gateway sees these clients
 * at 127.0.0.1 (per-client caps and IP rate limits count them together) and applies its own
 * authentication to whatever Authorization header the page sends.
 */

export const PROXY_PREFIX = '/gateway';
/** Hop-by-hop headers, which end at the proxy. */
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

export interface GatewayTarget {
  host: string;
  port: number;
  /** The aggregated Streamable HTTP path (`server.path`). */
  mcpPath: string;
}

/** The gateway path `/gateway/...` leads to, or undefined when it is not an MCP endpoint. */
export function gatewayPath(path: string, target: GatewayTarget): string | undefined {
  if (!path.startsWith(`${PROXY_PREFIX}/`)) return undefined;
  const rest = path.slice(PROXY_PREFIX.length);
  if (rest === target.mcpPath) return rest;
  if (/^(?:\/servers\/[A-Za-z0-9][A-Za-z0-9_.-]*)?\/(?:mcp|sse|messages|ws)$/.test(rest))
    return rest;
  return undefined;
}

/** Loopback address to reach a gateway bound to `address` (a wildcard bind is reached on loopback). */
export function reachable(address: string): string {
  if (address === '0.0.0.0' || address === '') return '127.0.0.1';
  if (address === '::') return '::1';
  return address;
}

/**
 * Whether a request may use the API and the proxy. On a loopback listener, the Host must be a
 * loopback name or an IP address (a DNS-rebinding page names its own host), and a browser's
 * Origin, when sent, must be this very host (WebSocket has no CORS to stop a cross-site page).
 */
export function allowed(req: IncomingMessage, loopbackOnly: boolean): boolean {
  const host = req.headers.host ?? '';
  if (loopbackOnly) {
    const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.split(':')[0]!;
    if (name !== 'localhost' && isIP(name) === 0) return false;
  }
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

function forwardedHeaders(req: IncomingMessage, target: GatewayTarget): string[] {
  const raw: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    if (HOP.has(name.toLowerCase()) || name.toLowerCase() === 'origin') continue;
    raw.push(name, req.rawHeaders[i + 1]!);
  }
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  raw.push('host', `${host}:${target.port}`);
  return raw;
}

export class GatewayProxy {
  /** Upgraded sockets, which the HTTP server no longer tracks; closed with the admin listener. */
  private readonly sockets = new Set<Socket | Duplex>();

  constructor(private readonly target: GatewayTarget) {}

  http(path: string, query: string, req: IncomingMessage, res: ServerResponse): void {
    const upstream = request(
      {
        host: this.target.host,
        port: this.target.port,
        method: req.method,
        path: path + query,
        headers: forwardedHeaders(req, this.target),
      },
      (reply) => {
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(reply.headers))
          if (value !== undefined && !HOP.has(name)) headers[name] = value;
        res.writeHead(reply.statusCode ?? 502, headers);
        // SSE streams must pass each event at once.
        res.flushHeaders();
        reply.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      sendHttpError(
        res,
        new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', `gateway unreachable: ${error.message}`),
      );
    });
    // A client that leaves (an SSE page closed) ends the upstream request too.
    res.once('close', () => upstream.destroy());
    req.pipe(upstream);
  }

  upgrade(path: string, query: string, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const upstream = connect(this.target.port, this.target.host);
    this.sockets.add(socket).add(upstream);
    const done = () => {
      this.sockets.delete(socket);
      this.sockets.delete(upstream);
      socket.destroy();
      upstream.destroy();
    };
    socket.once('close', done);
    upstream.once('close', done);
    socket.on('error', done);
    upstream.on('error', done);
    upstream.once('connect', () => {
      const raw = forwardedHeaders(req, this.target);
      const lines = [`${req.method} ${path}${query} HTTP/1.1`, 'connection: Upgrade'];
      lines.push(`upgrade: ${req.headers.upgrade ?? 'websocket'}`);
      for (let i = 0; i < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
