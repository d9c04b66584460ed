import { ServerResponse } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/logger.js';
import type { PeerInfo } from '../frontends/types.js';
import { GatewayError } from '../core/errors.js';
import { sendHttpError } from './error-reply.js';
import type { GatewayRoute, GatewayRouteDeps } from './routes.js';
import { gatewayRoutes } from './routes.js';
import { createRouter, pathOf } from './router.js';

/*
 * The gateway listener's HTTP side, between the server and the route table: Host/Origin
 * admission and CORS for every request, then the route, then authentication for the routes that
 * need it, then the route's handler with the caller. (Whose a session is, the frontend that
 * looks it up checks: `claimSession`.) Every refusal and every
 * error leaves through `sendHttpError`.
 */

/** What the gateway listener needs from the gateway. */
export interface GatewayHttp extends GatewayRouteDeps {
  log: Logger;
  /**
   * The REST/JSON API (`src/rest`), which keeps its own table of routes and authenticates its
   * callers: tried for a path this table does not know, before the 404. Serves it and returns
   * true, or returns false.
   */
  rest?: (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
}

/** The listener's three handlers: `request`, `upgrade` and `clientError` events. */
export interface GatewayRouter {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  clientError(error: Error, socket: Duplex): void;
  /** An HTTP CONNECT (a proxy request): not served, and said so instead of a bare close. */
  connect(req: IncomingMessage, socket: Duplex): void;
}

export function createGatewayRouter(deps: GatewayHttp): GatewayRouter {
  const { guard, log } = deps;
  const router = createRouter(gatewayRoutes(deps));

  /**
   * The client of a request to `route`: its address, and its principal once authenticated;
   * false once the request has been refused. The principal travels to the frontend in this
   * object, nowhere else.
   */
  async function admitted(
    req: IncomingMessage,
    to: ServerResponse | Duplex,
    route: GatewayRoute,
    transport: 'http' | 'websocket',
  ): Promise<PeerInfo | false> {
    const remoteAddress = req.socket.remoteAddress;
    if (route.access === 'open') return { remoteAddress };
    const path = route.access === 'ops' ? '/mcp' : pathOf(req.url);
    const principal = await guard.authenticate(req, path, transport);
    if (principal === false) {
      if (to instanceof ServerResponse) guard.refuse(req, to);
      else guard.refuseUpgrade(req, to);
      return false;
    }
    return { remoteAddress, principal };
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
      if (deps.rest?.(req, res, pathOf(req.url))) return;
      return sendHttpError(
        res,
        new GatewayError('GATEWAY_NOT_FOUND', `no endpoint at ${req.method} ${pathOf(req.url)}`),
      );
    }
    const { route, params } = found;
    const peer = await admitted(req, res, route, 'http');
    if (peer === false) return;
    await route.http!(req, res, params, peer);
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
    const peer = await admitted(req, socket, found.route, 'websocket');
    if (peer === false) return;
    await found.route.upgrade!(req, socket, head, found.params, peer);
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
    connect(_req, socket) {
      sendHttpError(
        socket,
        new GatewayError('GATEWAY_METHOD_NOT_ALLOWED', 'CONNECT is not served: this is no proxy'),
      );
    },
    clientError(error, socket) {
      log.debug({ err: error }, 'malformed HTTP request');
      sendHttpError(socket, new GatewayError('GATEWAY_INVALID_REQUEST', 'malformed HTTP request'));
    },
  };
}
