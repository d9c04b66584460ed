import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';
import type { HttpGuard } from '../auth/http-guard.js';
import { sendError } from '../frontends/http-io.js';
import type { Endpoint } from '../endpoints.js';
import { handleOps } from '../ops.js';
import type { OpsView } from '../ops.js';

export interface GatewayHttp {
  config: () => Readonly<GatewayConfig>;
  log: Logger;
  guard: HttpGuard;
  /** The aggregated endpoint. */
  root: Endpoint;
  /** A backend's own endpoint; undefined when no enabled backend has that name. */
  endpointOf(name: string): Endpoint | undefined;
  ops: OpsView;
  /** The REST/JSON API (src/rest): serves a path it knows, else false; tried before the 404. */
  rest?: (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** The gateway listener's request, upgrade and malformed-request handlers. */
export function createGatewayHttp(deps: GatewayHttp) {
  const { guard, log } = deps;

  /** Which MCP endpoint a path names: the rest after its base, and the backend's endpoint if any. */
  function route(
    path: string,
  ): { rest: string; endpoint?: Endpoint; unknown?: string } | undefined {
    const servers = /^\/servers\/([^/]+)(\/[a-z]+)$/.exec(path);
    if (servers) {
      const name = decodeURIComponent(servers[1]!);
      const endpoint = deps.endpointOf(name);
      return endpoint ? { rest: servers[2]!, endpoint } : { rest: servers[2]!, unknown: name };
    }
    if (path === deps.config().server.path) return { rest: '/mcp' };
    if (path === '/sse' || path === '/messages' || path === '/ws') return { rest: path };
    return undefined;
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!guard.admit(req, res)) return;
    const path = pathOf(req.url);
    if (guard.wellKnown(path, req, res)) return;
    const target = route(path);
    const protectedOps = path === '/stats' || path.startsWith('/api/');
    if (target || protectedOps) {
      const principal = await guard.authenticate(
        req,
        target ? path : '/mcp',
        target?.rest === '/ws' ? 'websocket' : 'http',
      );
      if (principal === false) return guard.refuse(req, res);
    }
    if (target?.unknown !== undefined) {
      return sendError(
        res,
        new GatewayError('GATEWAY_BACKEND_DISABLED', `no enabled backend named ${target.unknown}`),
      );
    }
    if (target && (target.endpoint ?? deps.root).handle(target.rest, req, res)) return;
    if (!target && handleOps(path, req, res, deps.ops)) return;
    if (!target && deps.rest?.(req, res, path)) return;
    sendError(res, new GatewayError('GATEWAY_NOT_FOUND', `no endpoint at ${req.method} ${path}`));
  }

  return {
    request(req: IncomingMessage, res: ServerResponse): void {
      serve(req, res).catch((error: unknown) => {
        log.error({ err: error }, 'request failed');
        sendError(res, error);
      });
    },
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
      void (async () => {
        if (!guard.admitUpgrade(req, socket)) return;
        const target = route(pathOf(req.url));
        if (!target || target.unknown !== undefined) {
          socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
          return;
        }
        const principal = await guard.authenticate(req, pathOf(req.url), 'websocket');
        if (principal === false) return guard.refuseUpgrade(req, socket);
        if (!(target.endpoint ?? deps.root).upgrade(target.rest, req, socket, head)) {
          socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        }
      })().catch((error: unknown) => {
        log.error({ err: error }, 'upgrade failed');
        socket.destroy();
      });
    },
    clientError(error: Error, socket: Duplex): void {
      log.debug({ err: error }, 'malformed HTTP request');
      if (socket.writable)
        socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else socket.destroy();
    },
  };
}
