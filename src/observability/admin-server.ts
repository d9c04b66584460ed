import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Duplex } from 'node:stream';
import type { Gateway } from '../gateway.js';
import type { Logger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';
import { version } from '../version.js';
import { sendHttpError } from '../http/error-reply.js';
import { createRouter, pathOf } from '../http/router.js';
import { adminRoutes } from '../http/routes.js';
import type { Asset } from '../http/routes.js';
import type { Metrics } from './metrics.js';
import type { History } from './history.js';
import { GatewayProxy, allowed } from './gateway-proxy.js';
import type { GatewayTarget } from './gateway-proxy.js';

/*
 * The admin listener, on a port of its own: `/metrics` for Prometheus, the dashboard (`/`), the
 * test client (`/test-client`), the dashboard's JSON (`/api/overview`), and `/gateway/...`, the
 * playground's way to the gateway's MCP endpoints. Its paths are in the route table
 * (`src/http/routes.ts`). The pages are plain files in `dashboard/` at the package root, read
 * once at start; nothing is fetched from the network.
 */

/** `dashboard/` beside `src/` and `dist/`: the same path from the sources and from the build. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Sent with every response of the admin listener, errors included. */
const HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // The pages load only their own files and talk only to this origin.
  'content-security-policy':
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'",
  'cache-control': 'no-store',
};

export interface AdminServerOptions {
  host: string;
  port: number;
  metrics: Metrics | undefined;
  gateway: Gateway;
  /** The plots' samples, the backends' state changes and last errors, the sessions' clients. */
  history?: History;
  /** Where the gateway's HTTP endpoints are; without it (stdio mode) the playground is off. */
  target: GatewayTarget | undefined;
  log: Logger;
}

export interface AdminServer {
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const file of readdirSync(DASHBOARD_DIR)) {
    const type = TYPES[extname(file)];
    if (type) assets.set(file, { type, body: readFileSync(join(DASHBOARD_DIR, file)) });
  }
  return assets;
}

/**
 * The chart library, served from the package that npm installed beside ours (`/vendor/…`), so
 * that the dashboard loads nothing from the network.
 */
function loadVendor(): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const uplot = join(require.resolve('uplot'), '..');
  return new Map([
    ['uplot.js', { type: TYPES['.js']!, body: readFileSync(join(uplot, 'uPlot.esm.js')) }],
    ['uplot.css', { type: TYPES['.css']!, body: readFileSync(join(uplot, 'uPlot.min.css')) }],
  ]);
}

const isLoopback = (host: string) =>
  host === 'localhost' || host === '::1' || host.startsWith('127.');

export function createAdminServer(options: AdminServerOptions): AdminServer {
  const { gateway, metrics, target, log, history } = options;
  const assets = loadAssets();
  const vendor = loadVendor();
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
        states: history?.states(b.name) ?? [],
        errors: history?.errors(b.name) ?? [],
      })),
      aggregate: snapshot?.backends['*'] ?? null,
      sessions: sessions.map((s) => {
        const client = history?.client(s.id);
        return client === undefined ? s : { ...s, caller: { ...s.caller, client } };
      }),
      rateLimited: snapshot?.rateLimited ?? 0,
      authFailures: snapshot?.authFailures ?? 0,
    };
  }

  function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
    res.writeHead(status, {
      ...HEADERS,
      'content-type': type,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  const router = createRouter(
    adminRoutes({
      metrics: () => metrics?.text().then((text) => ({ type: metrics.registry.contentType, text })),
      overview,
      history: (since) => ({
        intervalMs: history?.intervalMs ?? null,
        time: Date.now(),
        samples: history?.samples(since) ?? [],
      }),
      asset: (name) => assets.get(name),
      vendor: (name) => vendor.get(name),
      proxy: proxy && target ? { to: proxy, target } : undefined,
      allowed: (req) => allowed(req, loopbackOnly),
      send,
    }),
  );

  /** A GatewayError is an answer; anything else is a bug, logged here and answered with a 500. */
  const failed = (req: IncomingMessage, to: ServerResponse | Duplex) => (error: unknown) => {
    if (!(error instanceof GatewayError))
      log.error({ err: error, url: req.url }, 'admin request failed');
    sendHttpError(to, error, { headers: HEADERS });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const found = router.find(req.method, req.url ?? '/');
    if (found.kind === 'found') {
      await found.route.http(req, res, found.params, { remoteAddress: req.socket.remoteAddress });
      return;
    }
    const path = pathOf(req.url);
    if (found.kind === 'none') throw new GatewayError('GATEWAY_NOT_FOUND', `no page at ${path}`);
    sendHttpError(
      res,
      new GatewayError(
        'GATEWAY_METHOD_NOT_ALLOWED',
        `${req.method} is not served at ${path}; it takes ${found.allow}`,
      ),
      { headers: { ...HEADERS, allow: found.allow } },
    );
  }

  async function accept(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const found = router.findUpgrade(req.url ?? '/');
    if (!found) {
      throw new GatewayError('GATEWAY_NOT_FOUND', `no WebSocket endpoint at ${pathOf(req.url)}`);
    }
    await found.route.upgrade!(req, socket, head, found.params, {
      remoteAddress: req.socket.remoteAddress,
    });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(failed(req, res));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    accept(req, socket, head).catch(failed(req, socket));
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
