import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Duplex } from 'node:stream';
import type { Gateway } from '../gateway.js';
import type { Logger } from '../core/logger.js';
import { version } from '../version.js';
import type { Metrics } from './metrics.js';
import { GatewayProxy, allowed, gatewayPath } from './gateway-proxy.js';
import type { GatewayTarget } from './gateway-proxy.js';

/*
 * The admin listener, on a port of its own: `/metrics` for Prometheus, the dashboard (`/`), the
 * test client (`/test-client`), the dashboard's JSON (`/api/overview`), and `/gateway/...`, the
 * playground's way to the gateway's MCP endpoints. The pages are plain files in `dashboard/` at
 * the package root, read once at start; nothing is fetched from the network.
 */

/** `dashboard/` beside `src/` and `dist/`: the same path from the sources and from the build. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Pages at friendly paths; every other file of `dashboard/` is served under `/dashboard/`. */
const PAGES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/dashboard': 'index.html',
  '/test-client': 'test-client.html',
};

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // The pages load only their own files and talk only to this origin.
  'content-security-policy':
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'",
};

export interface AdminServerOptions {
  host: string;
  port: number;
  metrics: Metrics | undefined;
  gateway: Gateway;
  /** Where the gateway's HTTP endpoints are; without it (stdio mode) the playground is off. */
  target: GatewayTarget | undefined;
  log: Logger;
}

export interface AdminServer {
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

interface Asset {
  type: string;
  body: Buffer;
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const file of readdirSync(DASHBOARD_DIR)) {
    const type = TYPES[extname(file)];
    if (type) assets.set(file, { type, body: readFileSync(join(DASHBOARD_DIR, file)) });
  }
  return assets;
}

const isLoopback = (host: string) =>
  host === 'localhost' || host === '::1' || host.startsWith('127.');

export function createAdminServer(options: AdminServerOptions): AdminServer {
  const { gateway, metrics, target, log } = options;
  const assets = loadAssets();
  const proxy = target ? new GatewayProxy(target) : undefined;
  const loopbackOnly = isLoopback(options.host);

  function overview() {
    const snapshot = metrics?.snapshot();
    const sessions = gateway.sessions();
    return {
      version,
      uptimeSeconds: Math.round(process.uptime()),
      time: new Date().toISOString(),
      playground: target ? { mcpPath: target.mcpPath } : null,
      backends: gateway.backends().map((b) => ({
        ...b,
        totals: snapshot?.backends[b.name] ?? null,
        breaker: snapshot?.breakers[b.name] ?? null,
      })),
      aggregate: snapshot?.backends['*'] ?? null,
      sessions,
      rateLimited: snapshot?.rateLimited ?? 0,
      authFailures: snapshot?.authFailures ?? 0,
    };
  }

  function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(body);
  }

  const notFound = (res: ServerResponse) =>
    send(res, 404, 'application/json', JSON.stringify({ error: 'not found' }));
  const forbidden = (res: ServerResponse) =>
    send(res, 403, 'application/json', JSON.stringify({ error: 'host or origin not allowed' }));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q);
    const upstream = proxy && target ? gatewayPath(path, target) : undefined;
    if (upstream !== undefined) {
      if (!allowed(req, loopbackOnly)) return forbidden(res);
      return proxy!.http(upstream, query, req, res);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'application/json', JSON.stringify({ error: 'method not allowed' }));
    }
    if (path === '/metrics') {
      if (!metrics) return notFound(res);
      return send(res, 200, metrics.registry.contentType, await metrics.text());
    }
    if (path === '/api/overview') {
      if (!allowed(req, loopbackOnly)) return forbidden(res);
      return send(res, 200, 'application/json', JSON.stringify(overview()));
    }
    const file = PAGES[path] ?? (path.startsWith('/dashboard/') ? path.slice(11) : undefined);
    const asset = file === undefined ? undefined : assets.get(file);
    if (asset) return send(res, 200, asset.type, asset.body);
    notFound(res);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log.error({ err: error, url: req.url }, 'admin request failed');
      if (!res.headersSent) send(res, 500, 'application/json', '{"error":"internal error"}');
      else res.destroy();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const upstream = proxy && target ? gatewayPath(q === -1 ? url : url.slice(0, q), target) : '';
    if (!upstream || !upstream.endsWith('/ws') || !allowed(req, loopbackOnly)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    proxy!.upgrade(upstream, q === -1 ? '' : url.slice(q), req, socket, head);
  });

  return {
    listen() {
      return new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          log.info({ host: address.address, port: address.port }, 'admin listener up');
          resolve(address);
        });
      });
    },
    async close() {
      proxy?.close();
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
