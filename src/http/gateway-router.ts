import { ServerResponse } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/policy.js';
import { GatewayError } from '../core/errors.js';
import { sendHttpError } from './error-reply.js';
import type { GatewayRoute, GatewayRouteDeps } from './routes.js';
import { gatewayRoutes } from './routes.js';
import { createRouter, pathOf } from './router.js';

/*
 * The gateway listener's HTTP side, between the server and the route table: Host/Origin
 * admission and CORS for every request, then the route, then authentication and the session
 * owner check for the routes that need them, then the route's handler. Every refusal and every
 * error leaves through `sendHttpError`.
 */

/** What the gateway listener needs from the gateway. */
export interface GatewayHttp extends GatewayRouteDeps {
  log: Logger;
  /** The principal that owns session `id`; `null` when no such session is live. */
  sessionOwner(id: string): Principal | undefined | null;
}

/** The listener's three handlers: `request`, `upgrade` and `clientError` events. */
export interface GatewayRouter {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  clientError(error: Error, socket: Duplex): void;
}

const SESSION_HEADER = 'mcp-session-id';

export function createGatewayRouter(deps: GatewayHttp): GatewayRouter {
  const { guard, log } = deps;
  const router = createRouter(gatewayRoutes(deps));

  /** Whether `caller` may not use session `id`: it is live and someone else's. */
  const foreign = (id: string, caller: Principal | undefined): boolean => {
    const owner = deps.sessionOwner(id);
    return owner !== null && guard.ownerMismatch(owner, caller);
  };

  /**
   * Whether the request names a session of another caller: by `Mcp-Session-Id` (Streamable
   * HTTP) or by `?sessionId=` (legacy SSE's messages, which a header must not hide).
   */
  function namesForeignSession(req: IncomingMessage, caller: Principal | undefined): boolean {
    const header = req.headers[SESSION_HEADER];
    if (typeof header === 'string' && foreign(header, caller)) return true;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if (q === -1) return false;
    const id = new URLSearchParams(url.slice(q + 1)).get('sessionId');
    return id !== null && id !== header && foreign(id, caller);
  }

  /** Authenticates the caller of `route`; false once the request has been refused. */
  async function admitted(
    req: IncomingMessage,
    to: ServerResponse | Duplex,
    route: GatewayRoute,
    transport: 'http' | 'websocket',
  ): Promise<boolean> {
    const path = route.access === 'ops' ? '/mcp' : pathOf(req.url);
    const principal = await guard.authenticate(req, path, transport);
    if (principal === false) {
      if (to instanceof ServerResponse) guard.refuse(req, to);
      else guard.refuseUpgrade(req, to);
      return false;
    }
    if (namesForeignSession(req, principal)) {
      sendHttpError(
        to,
        new GatewayError('GATEWAY_FORBIDDEN', 'this session belongs to another caller'),
      );
      return false;
    }
    return true;
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!guard.admit(req, res)) return;
    const found = router.find(req.method, req.url ?? '/');
    if (found.kind === 'method') {
      return sendHttpError(
        res,
        new GatewayError(
          'GATEWAY_METHOD_NOT_ALLOWED',
          `${req.method} is not served at ${pathOf(req.url)}; it takes ${found.allow}`,
        ),
        { headers: { allow: found.allow } },
      );
    }
    if (found.kind === 'none') {
      return sendHttpError(
        res,
        new GatewayError('GATEWAY_NOT_FOUND', `no endpoint at ${req.method} ${pathOf(req.url)}`),
      );
    }
    const { route, params } = found;
    if (route.access !== 'open' && !(await admitted(req, res, route, 'http'))) return;
    await route.http!(req, res, params);
  }

  async function accept(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (!guard.admitUpgrade(req, socket)) return;
    const found = router.findUpgrade(req.url ?? '/');
    if (!found) {
      return sendHttpError(
        socket,
        new GatewayError('GATEWAY_NOT_FOUND', `no WebSocket endpoint at ${pathOf(req.url)}`),
      );
    }
    if (found.route.access !== 'open' && !(await admitted(req, socket, found.route, 'websocket')))
      return;
    await found.route.upgrade!(req, socket, head, found.params);
  }

  /** A GatewayError is an answer; anything else is a bug, logged here and answered with a 500. */
  const failed = (to: ServerResponse | Duplex, what: string) => (error: unknown) => {
    if (!(error instanceof GatewayError)) log.error({ err: error }, what);
    sendHttpError(to, error);
  };

  return {
    request(req, res) {
      serve(req, res).catch(failed(res, 'request failed'));
    },
    upgrade(req, socket, head) {
      accept(req, socket, head).catch(failed(socket, 'upgrade failed'));
    },
    clientError(error, socket) {
      log.debug({ err: error }, 'malformed HTTP request');
      sendHttpError(socket, new GatewayError('GATEWAY_INVALID_REQUEST', 'malformed HTTP request'));
    },
  };
}
