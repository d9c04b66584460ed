import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GatewayConfig } from '../config/schema.js';
import { GatewayError } from '../core/errors.js';
import type { HttpGuard } from '../auth/http-guard.js';
import type { GatewayProxy, GatewayTarget } from '../observability/gateway-proxy.js';
import { gatewayPath } from '../observability/gateway-proxy.js';
import type { Endpoint } from './endpoints.js';
import type { OpsView } from './ops.js';
import type { PeerInfo } from '../frontends/types.js';
import { health, healthz, ready, service, serviceHealth, services, stats } from './ops.js';
import type { Method, Params, RouteBase } from './router.js';
import { literal, pathOf, queryOf } from './router.js';

/*
 * Every HTTP path of both listeners, as data: which methods a path serves, whether it takes a
 * WebSocket upgrade, who may call it, and what serves it. `createRouter` (router.ts) builds each
 * listener's router from its list; a transport that is off (`server.http|sse|websocket`) has no
 * route, so its paths are 404 as any unknown path.
 */

/** `peer`: the client's address and, on routes that authenticate, the caller. */
type HttpHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  params: Params,
  peer: PeerInfo,
) => unknown;
type UpgradeHandler = (
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  params: Params,
  peer: PeerInfo,
) => unknown;

const READ: readonly Method[] = ['GET', 'HEAD'];
const STREAMABLE_HTTP: readonly Method[] = ['GET', 'POST', 'DELETE'];

// ── the gateway listener ─────────────────────────────────────────────────────────────────

export interface GatewayRoute extends RouteBase {
  /**
   * Who may call it: anyone (`open`); an authenticated caller, challenged with the metadata of
   * `/mcp` (`ops`); an authenticated caller of this MCP endpoint (`endpoint`). A request that
   * names a session must be its owner's: the frontend that looks the session up checks that.
   */
  readonly access: 'open' | 'ops' | 'endpoint';
  readonly http?: HttpHandler;
  readonly upgrade?: UpgradeHandler;
}

/** What the gateway's routes serve; see `GatewayHttp` (gateway-router.ts) for the whole of it. */
export interface GatewayRouteDeps {
  config: Readonly<GatewayConfig>;
  guard: HttpGuard;
  /** The aggregated endpoint. */
  root: Endpoint;
  /** A backend's own endpoint (`/servers/<name>/…`); undefined: GATEWAY_BACKEND_DISABLED. */
  endpointOf(name: string): Endpoint | undefined;
  ops: OpsView;
}

/** The handler of `endpoint`, or GATEWAY_NOT_FOUND when that transport is off there. */
function served<T>(handler: T | undefined, req: IncomingMessage): T {
  if (handler === undefined) {
    throw new GatewayError('GATEWAY_NOT_FOUND', `no endpoint at ${req.method} ${pathOf(req.url)}`);
  }
  return handler;
}

/** One MCP endpoint's routes: Streamable HTTP, legacy SSE and its messages, WebSocket. */
function endpointRoutes(
  server: Readonly<GatewayConfig['server']>,
  paths: { mcp: string; sse: string; messages: string; ws: string },
  endpoint: (params: Params) => Endpoint,
): GatewayRoute[] {
  const routes: GatewayRoute[] = [];
  if (server.http) {
    routes.push({
      path: paths.mcp,
      methods: STREAMABLE_HTTP,
      access: 'endpoint',
      http: (req, res, params, peer) => served(endpoint(params).mcp, req).handle(req, res, peer),
    });
  }
  if (server.sse) {
    routes.push(
      {
        path: paths.sse,
        methods: ['GET'],
        access: 'endpoint',
        http: (req, res, params, peer) =>
          served(endpoint(params).sse, req).handleStream(req, res, peer),
      },
      {
        path: paths.messages,
        methods: ['POST'],
        access: 'endpoint',
        http: (req, res, params, peer) =>
          served(endpoint(params).sse, req).handleMessage(req, res, peer),
      },
    );
  }
  if (server.websocket) {
    routes.push({
      path: paths.ws,
      methods: [],
      access: 'endpoint',
      upgrade: (req, socket, head, params, peer) =>
        served(endpoint(params).ws, req).handleUpgrade(req, socket, head, peer),
    });
  }
  return routes;
}

/**
 * Seed 001's paths of the aggregated endpoint: `/mcp/` (its services' trailing slash) as
 * Streamable HTTP, and `/mcp/stream` + `/mcp/send` as the legacy HTTP+SSE pair, the stream's
 * `endpoint` event naming `/mcp/send?sessionId=…`. Only while `server.path` is the default.
 */
function seed001Routes(server: Readonly<GatewayConfig['server']>, root: Endpoint): GatewayRoute[] {
  if (server.path !== '/mcp') return [];
  const routes: GatewayRoute[] = [];
  if (server.http) {
    routes.push({
      path: '/mcp/',
      methods: STREAMABLE_HTTP,
      access: 'endpoint',
      http: (req, res, _params, peer) => served(root.mcp, req).handle(req, res, peer),
    });
  }
  if (server.sse) {
    routes.push(
      {
        path: '/mcp/stream',
        methods: ['GET'],
        access: 'endpoint',
        http: (req, res, _params, peer) =>
          served(root.sse, req).handleStream(req, res, peer, '/mcp/send'),
      },
      {
        path: '/mcp/send',
        methods: ['POST'],
        access: 'endpoint',
        http: (req, res, _params, peer) => served(root.sse, req).handleMessage(req, res, peer),
      },
    );
  }
  return routes;
}

/** The gateway listener's routes, in precedence order (the configured `server.path` first). */
export function gatewayRoutes(deps: GatewayRouteDeps): GatewayRoute[] {
  const { config, guard, ops } = deps;
  const backend = (params: Params): Endpoint => {
    const name = params.name ?? '';
    const endpoint = deps.endpointOf(name);
    if (!endpoint) {
      throw new GatewayError('GATEWAY_BACKEND_DISABLED', `no enabled backend named ${name}`);
    }
    return endpoint;
  };
  const wellKnown: HttpHandler = (req, res) => {
    // The guard serves plain paths only: another (`/../x`, an encoded one) is no resource here.
    if (!guard.wellKnown(pathOf(req.url), req, res))
      throw new GatewayError('GATEWAY_NOT_FOUND', `no document at ${pathOf(req.url)}`);
  };
  return [
    ...endpointRoutes(
      config.server,
      { mcp: literal(config.server.path), sse: '/sse', messages: '/messages', ws: '/ws' },
      () => deps.root,
    ),
    ...endpointRoutes(
      config.server,
      {
        mcp: '/servers/:name/mcp',
        sse: '/servers/:name/sse',
        messages: '/servers/:name/messages',
        ws: '/servers/:name/ws',
      },
      backend,
    ),
    ...seed001Routes(config.server, deps.root),
    { path: '/healthz', methods: READ, access: 'open', http: (_req, res) => healthz(res) },
    { path: '/ready', methods: READ, access: 'open', http: (_req, res) => ready(ops, res) },
    { path: '/health', methods: READ, access: 'open', http: (_req, res) => health(ops, res) },
    { path: '/stats', methods: READ, access: 'ops', http: (_req, res) => stats(ops, res) },
    {
      path: '/api/v1/services',
      methods: READ,
      access: 'ops',
      http: (_req, res) => services(ops, res),
    },
    {
      path: '/api/v1/services/:id',
      methods: READ,
      access: 'ops',
      http: (_req, res, params) => service(ops, res, params.id ?? ''),
    },
    {
      path: '/api/v1/services/:id/health',
      methods: READ,
      access: 'ops',
      http: (_req, res, params) => serviceHealth(ops, res, params.id ?? ''),
    },
    {
      path: '/.well-known/oauth-protected-resource',
      methods: READ,
      access: 'open',
      http: wellKnown,
    },
    {
      path: '/.well-known/oauth-protected-resource/*',
      methods: READ,
      access: 'open',
      http: wellKnown,
    },
    { path: '/.well-known/security.txt', methods: READ, access: 'open', http: wellKnown },
  ];
}

// ── the admin listener ───────────────────────────────────────────────────────────────────

export interface AdminRoute extends RouteBase {
  readonly http: HttpHandler;
  readonly upgrade?: UpgradeHandler;
}

/** A file of `dashboard/`, read once at start. */
export interface Asset {
  type: string;
  body: Buffer;
}

/** What the admin listener's routes serve. */
export interface AdminRouteDeps {
  /** Prometheus' text and its content type; undefined when metrics are off. */
  metrics(): Promise<{ type: string; text: string }> | undefined;
  /** The dashboard's JSON. */
  overview(): unknown;
  /** The plots' samples taken after `since` (ms since the epoch). */
  history(since: number): unknown;
  /** A file of `dashboard/` by name. */
  asset(name: string): Asset | undefined;
  /** A file of a library the pages use (the charts), by name. */
  vendor(name: string): Asset | undefined;
  /** The playground's way to the gateway; undefined in stdio mode, where it is off. */
  proxy: { to: GatewayProxy; target: GatewayTarget } | undefined;
  /** Whether a request may use the API and the proxy (Host and Origin; `allowed` of gateway-proxy.ts). */
  allowed(req: IncomingMessage): boolean;
  /** Writes a whole response with the admin listener's headers. */
  send(res: ServerResponse, status: number, type: string, body: string | Buffer): void;
}

const notAllowed = () => new GatewayError('GATEWAY_FORBIDDEN', 'host or origin not allowed');

/** The admin listener's routes. */
export function adminRoutes(deps: AdminRouteDeps): AdminRoute[] {
  const page = (name: string | undefined, req: IncomingMessage, res: ServerResponse) => {
    const asset = name === undefined ? undefined : deps.asset(name);
    if (!asset) throw new GatewayError('GATEWAY_NOT_FOUND', `no page at ${pathOf(req.url)}`);
    deps.send(res, 200, asset.type, asset.body);
  };
  const routes: AdminRoute[] = [
    {
      path: '/metrics',
      methods: READ,
      http: async (req, res) => {
        const metrics = deps.metrics();
        if (!metrics) throw new GatewayError('GATEWAY_NOT_FOUND', 'metrics are off');
        const { type, text } = await metrics;
        deps.send(res, 200, type, text);
      },
    },
    {
      path: '/api/overview',
      methods: READ,
      http: (req, res) => {
        if (!deps.allowed(req)) throw notAllowed();
        deps.send(res, 200, 'application/json', JSON.stringify(deps.overview()));
      },
    },
    {
      path: '/api/history',
      methods: READ,
      http: (req, res) => {
        if (!deps.allowed(req)) throw notAllowed();
        const since = Number(new URLSearchParams(queryOf(req.url)).get('since') ?? 0);
        const body = JSON.stringify(deps.history(Number.isFinite(since) ? since : 0));
        deps.send(res, 200, 'application/json', body);
      },
    },
    {
      path: '/vendor/*',
      methods: READ,
      http: (req, res, params) => {
        const asset = deps.vendor(params['*'] ?? '');
        if (!asset) throw new GatewayError('GATEWAY_NOT_FOUND', `no file at ${pathOf(req.url)}`);
        deps.send(res, 200, asset.type, asset.body);
      },
    },
    { path: '/', methods: READ, http: (req, res) => page('index.html', req, res) },
    { path: '/dashboard', methods: READ, http: (req, res) => page('index.html', req, res) },
    { path: '/test-client', methods: READ, http: (req, res) => page('test-client.html', req, res) },
    {
      path: '/dashboard/*',
      methods: READ,
      http: (req, res, params) => page(params['*'], req, res),
    },
  ];
  const proxy = deps.proxy;
  if (proxy) {
    // Only the gateway's MCP endpoints pass, whatever the method; its ops paths do not.
    routes.push({
      path: '/gateway/*',
      methods: '*',
      http: (req, res) => {
        const upstream = gatewayPath(pathOf(req.url), proxy.target);
        if (upstream === undefined) {
          throw new GatewayError('GATEWAY_NOT_FOUND', `the gateway has no MCP endpoint ${req.url}`);
        }
        if (!deps.allowed(req)) throw notAllowed();
        proxy.to.http(upstream, queryOf(req.url), req, res);
      },
      upgrade: (req, socket, head) => {
        const upstream = gatewayPath(pathOf(req.url), proxy.target);
        if (!upstream?.endsWith('/ws') || !deps.allowed(req)) throw notAllowed();
        proxy.to.upgrade(upstream, queryOf(req.url), req, socket, head);
      },
    });
  }
  return routes;
}
