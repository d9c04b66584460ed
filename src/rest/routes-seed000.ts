import type { z } from 'zod';
import { GatewayError } from '../core/errors.js';
import type { RestConfig } from './config-schema.js';
import { serveEvents } from './event-stream.js';
import type { RestSession } from './rest-session.js';
import { DEFAULT_CAPABILITIES, peerOf } from './rest-sessions.js';
import type { RestSessions } from './rest-sessions.js';
import { route } from './route-table.js';
import type { Call, Route } from './route-table.js';
import * as s from './schemas.js';

/*
 * Seed 000's shape: sessions, tool discovery and calls by `session_id` in the body, and the
 * session's events as SSE. Also the answer to a server's request (both shapes share the
 * session store, so a session opened here may be used through /api/v1/mcp/… too).
 */

export interface RouteDeps {
  sessions: RestSessions;
  config: () => Readonly<RestConfig>;
}

/** Serves a session's events (both shapes' paths). */
export function eventsRoute(deps: RouteDeps, path: string, tag: string): Route {
  return route({
    method: 'GET',
    path,
    tag,
    summary:
      'The session’s events (SSE): connected, progress, log, notification, server_request, heartbeat, closed',
    stream: true,
    errors: [401, 403, 404],
    handle: async ({ req, res, params, principal }) => {
      const session = deps.sessions.get(params.session_id!, principal);
      serveEvents(req, res, session, deps.config().heartbeatIntervalMs);
      return undefined;
    },
  });
}

/** Takes the answer to a server's request (both shapes' paths). */
export function answerRoute(deps: RouteDeps, path: string, tag: string): Route {
  return route({
    method: 'POST',
    path,
    tag,
    summary: 'Answer a server’s request (sampling, elicitation, roots) seen on the events stream',
    body: s.answerBody,
    response: s.answerResult,
    errors: [400, 401, 403, 404],
    handle: async ({ params, body, principal }: Call<z.infer<typeof s.answerBody>>) => {
      const session = deps.sessions.get(params.session_id!, principal);
      const requestId = params.request_id!;
      if (!session.transport.answer(requestId, body))
        throw new GatewayError(
          'GATEWAY_NOT_FOUND',
          `no request ${requestId} of the server is waiting on session ${session.id} (answered, expired or never asked)`,
        );
      return { session_id: session.id, request_id: requestId, status: 'delivered' };
    },
  });
}

export function seed000Routes(deps: RouteDeps): Route[] {
  const open = async (call: Call<z.infer<typeof s.createSessionBody>>): Promise<RestSession> => {
    const { body, req, principal, signal } = call;
    const session = await deps.sessions.open(
      {
        endpoint: body.server ?? body.backend,
        clientId: body.client_id,
        metadata: body.metadata,
        capabilities: body.capabilities ?? DEFAULT_CAPABILITIES,
        signal,
      },
      peerOf(req, principal),
    );
    return session;
  };
  return [
    route({
      method: 'POST',
      path: '/sessions',
      tag: 'sessions',
      summary: 'Create a session (bound to `server`, or to the only backend / all of them)',
      body: s.createSessionBody,
      status: 201,
      response: s.sessionInfo,
      errors: [400, 401, 403, 404, 429, 502],
      handle: async (call: Call<z.infer<typeof s.createSessionBody>>) =>
        (await open(call)).describe(),
    }),
    route({
      method: 'GET',
      path: '/sessions/{session_id}',
      tag: 'sessions',
      summary: 'Describe a session',
      response: s.sessionInfo,
      errors: [401, 403, 404],
      handle: async ({ params, principal }) =>
        deps.sessions.get(params.session_id!, principal).describe(),
    }),
    route({
      method: 'DELETE',
      path: '/sessions/{session_id}',
      tag: 'sessions',
      summary: 'End a session',
      response: s.closedSession,
      errors: [401, 403, 404],
      handle: async ({ params, principal }) => {
        const session = deps.sessions.get(params.session_id!, principal);
        await session.close('closed by the REST client');
        return { session_id: session.id, status: 'closed' };
      },
    }),
    route({
      method: 'POST',
      path: '/tools/discover',
      tag: 'sessions',
      summary: 'List the tools of a session',
      body: s.discoverBody,
      response: s.toolList,
      errors: [400, 401, 403, 404, 502],
      handle: async ({ body, principal, signal }: Call<z.infer<typeof s.discoverBody>>) => {
        const session = deps.sessions.get(body.session_id, principal);
        return { session_id: session.id, tools: await session.listTools(signal) };
      },
    }),
    route({
      method: 'POST',
      path: '/tools/call',
      tag: 'sessions',
      summary: 'Call a tool on a session (arguments checked against its inputSchema)',
      body: s.callBody000,
      response: s.callResult000,
      errors: [400, 401, 403, 404, 429, 502, 504],
      handle: async ({ body, principal, signal }: Call<z.infer<typeof s.callBody000>>) => {
        const session = deps.sessions.get(body.session_id, principal);
        const result = await session.callTool(body.tool, body.params, {
          field: 'params',
          signal,
          progressToken: body.progress_token,
        });
        return { session_id: session.id, tool: body.tool, result };
      },
    }),
    eventsRoute(deps, '/events/{session_id}', 'sessions'),
    answerRoute(deps, '/sessions/{session_id}/responses/{request_id}', 'sessions'),
  ];
}
