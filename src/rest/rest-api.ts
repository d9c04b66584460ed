import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig } from '../config/schema.js';
import { messageLimit } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/policy.js';
import { GatewayError } from '../core/errors.js';
import { Authenticator } from '../auth/authenticator.js';
import type { HttpGuard } from '../auth/http-guard.js';
import { sendJson } from '../frontends/http-io.js';
import type { OpsView } from '../http/ops.js';
import { serveDocs } from './docs-page.js';
import { serveTestPage } from './test-page.js';
import type { Document as OpenApiDocument } from './openapi.js';
import { ReplyError } from './rest-session.js';
import type { Tool } from './rest-session.js';
import { RestSessions, peerOf } from './rest-sessions.js';
import type { RestGateway } from './rest-sessions.js';
import { RouteTable, parseBody, sendRestError } from './route-table.js';
import type { Route } from './route-table.js';
import { seed000Routes } from './routes-seed000.js';
import { seed001Routes } from './routes-seed001.js';

/*
 * The REST/JSON API's one entry point. `restRoutes(deps)` returns a request handler that the
 * gateway's HTTP layer calls before its 404: it serves the path (true) or leaves it (false).
 * Everything behind it goes through real gateway sessions, so REST traffic meets the same
 * authentication (here, with the HTTP guard), policies, audit, metrics and tracing as MCP
 * traffic. docs/rest-api.md describes the API.
 */

export interface RestDeps {
  config: () => Readonly<GatewayConfig>;
  log: Logger;
  guard: HttpGuard;
  gateway: RestGateway;
  ops: OpsView;
}

/** The handler, with what the gateway reads of the REST layer. */
export interface RestHandler {
  (req: IncomingMessage, res: ServerResponse, path: string): boolean;
  /** For `/stats`. */
  stats(): { sessions: number; oneShotCalls: number };
  /** Ends the REST sessions and forgets the cached tool lists. */
  close(): Promise<void>;
  /** Every route served (method and OpenAPI path), for the document check. */
  readonly routes: readonly Route[];
}

const TOOLS_WAIT_MS = 5000;

export function restRoutes(deps: RestDeps): RestHandler {
  const { guard, log } = deps;
  const restConfig = () => deps.config().rest;
  const sessions = new RestSessions(deps.gateway, restConfig, log);
  const routeDeps = { sessions, config: restConfig, ops: deps.ops };
  const table = new RouteTable([...seed000Routes(routeDeps), ...seed001Routes(routeDeps)]);
  let oneShotCalls = 0;
  // The document's generator is loaded on the first request for it.
  let document: OpenApiDocument | undefined;
  const toolLists = new Map<string, { at: number; tools: Promise<Tool[]> }>();

  async function run(
    r: Route,
    params: Record<string, string>,
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
  ): Promise<void> {
    const principal = await guard.authenticate(req, path, 'rest');
    if (principal === false) return guard.refuse(req, res);
    const aborted = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) aborted.abort();
    });
    const body = await parseBody(req, r, messageLimit(deps.config().limits, 'http'));
    if (r.tag === 'one-shot') oneShotCalls++;
    const answer = await r.handle({ req, res, params, body, principal, signal: aborted.signal });
    if (answer !== undefined && !res.headersSent) sendJson(res, r.status ?? 200, answer);
  }

  /** A backend's tools as `caller` sees them, from the cache while it is fresh. */
  function toolsOf(backend: string, req: IncomingMessage, caller: Principal | undefined) {
    const key = `${backend}\0${caller?.id ?? `a:${req.socket.remoteAddress ?? ''}`}`;
    const cached = toolLists.get(key);
    if (cached && Date.now() - cached.at < restConfig().openapiToolsTtlMs) return cached.tools;
    const tools = (async () => {
      const signal = AbortSignal.timeout(TOOLS_WAIT_MS);
      const { session, done } = await sessions.oneShot(backend, peerOf(req, caller), signal);
      try {
        return await session.listTools(signal);
      } finally {
        await done();
      }
    })();
    toolLists.set(key, { at: Date.now(), tools });
    tools.catch(() => toolLists.delete(key));
    return tools;
  }

  async function serveOpenapi(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { backendsUp, staticDocument, withTools } = await import('./openapi.js');
    document ??= staticDocument(table.routes);
    // The document itself is public; the tools in it are what the caller may see. A caller
    // without a credential where one is required gets the document without them.
    const credential = Authenticator.credential(req.headers) !== undefined;
    let caller: Principal | undefined | false;
    if (credential) caller = await guard.authenticate(req, '/openapi.json', 'rest');
    else caller = deps.config().auth.required ? false : undefined;
    const tools = new Map<string, Tool[]>();
    if (caller !== false) {
      const who = caller;
      const backends = backendsUp(deps.ops);
      const lists = await Promise.allSettled(backends.map((b) => toolsOf(b, req, who)));
      lists.forEach((list, i) => {
        if (list.status === 'fulfilled') tools.set(backends[i]!, list.value);
        else
          log.debug({ backend: backends[i], err: list.reason }, 'no tool list for /openapi.json');
      });
    }
    sendJson(res, 200, withTools(document, tools));
  }

  const handler = (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    if (!restConfig().enabled) return false;
    const method = req.method ?? 'GET';
    if (path === '/openapi.json' && (method === 'GET' || method === 'HEAD')) {
      serveOpenapi(req, res).catch((error: unknown) => sendRestError(res, error));
      return true;
    }
    if ((path === '/docs' || path.startsWith('/docs/')) && (method === 'GET' || method === 'HEAD'))
      return serveDocs(path, res);
    if (path.startsWith('/static/') && (method === 'GET' || method === 'HEAD'))
      return serveTestPage(path, res);
    const match = table.match(method, path);
    if (!match) return false;
    if ('allowed' in match) {
      sendRestError(
        res,
        new GatewayError('GATEWAY_METHOD_NOT_ALLOWED', `${path} takes ${match.allowed.join(', ')}`),
      );
      return true;
    }
    run(match.route, match.params, req, res, path).catch((error: unknown) => {
      if (!(error instanceof GatewayError) && !(error instanceof ReplyError))
        log.error({ err: error, path }, 'REST request failed');
      sendRestError(res, error);
    });
    return true;
  };

  const api: RestHandler = Object.assign(handler, {
    stats: () => ({ sessions: sessions.size, oneShotCalls }),
    close: async () => {
      toolLists.clear();
      await sessions.close();
    },
    routes: table.routes,
  });
  return api;
}
