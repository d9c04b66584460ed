import type { z } from 'zod';
import type { OpsView } from '../http/ops.js';
import { DEFAULT_CAPABILITIES, peerOf } from './rest-sessions.js';
import { route } from './route-table.js';
import type { Call, Route } from './route-table.js';
import { answerRoute, eventsRoute } from './routes-seed000.js';
import type { RouteDeps } from './routes-seed000.js';
import * as s from './schemas.js';

/*
 * Seed 001's shape under /api/v1: connect to a server by name, then everything by the session in
 * the path; the one-shot call of a tool; and the dashboard API the seed lists.
 */

const BASE = '/api/v1/mcp/sessions/{session_id}';

/** Seed 001's result of a tool call: `success` false when the tool reported an error. */
function toolOutcome(result: Record<string, unknown>): { success: boolean; error?: string } {
  if (result.isError !== true) return { success: true };
  const content: unknown[] = Array.isArray(result.content) ? result.content : [];
  const text = content
    .map((c) => (typeof c === 'object' && c !== null && 'text' in c ? c.text : undefined))
    .find((t) => typeof t === 'string');
  return { success: false, error: typeof text === 'string' ? text : 'the tool reported an error' };
}

export function seed001Routes(deps: RouteDeps & { ops: OpsView }): Route[] {
  const { sessions } = deps;
  const list = (kind: 'tools' | 'resources' | 'prompts', response: z.ZodType): Route =>
    route({
      method: 'GET',
      path: `${BASE}/${kind}`,
      tag: 'mcp',
      summary: `List the ${kind} of a session`,
      response,
      errors: [401, 403, 404, 502],
      handle: async ({ params, principal, signal }) => {
        const session = sessions.get(params.session_id!, principal);
        const items =
          kind === 'tools'
            ? await session.listTools(signal)
            : await session.listAll(`${kind}/list`, kind, signal);
        return { session_id: session.id, [kind]: items };
      },
    });

  return [
    route({
      method: 'POST',
      path: '/api/v1/mcp/servers/connect',
      tag: 'mcp',
      summary: 'Connect to a server: opens an initialized session',
      body: s.connectBody,
      status: 201,
      response: s.connectResult,
      errors: [400, 401, 403, 404, 429, 502],
      handle: async ({ body, req, principal, signal }: Call<z.infer<typeof s.connectBody>>) => {
        const session = await sessions.open(
          {
            endpoint: body.server_name,
            clientId: body.client_id,
            capabilities: body.capabilities ?? DEFAULT_CAPABILITIES,
            signal,
          },
          peerOf(req, principal),
        );
        return { session_id: session.id, server_name: session.endpoint, status: 'connected' };
      },
    }),
    list('tools', s.toolList),
    list('resources', s.resourceList),
    list('prompts', s.promptList),
    route({
      method: 'GET',
      path: `${BASE}/info`,
      tag: 'mcp',
      summary: 'What the server said of itself at initialize',
      response: s.serverInfo,
      errors: [401, 403, 404],
      handle: async ({ params, principal }) => {
        const d = sessions.get(params.session_id!, principal).describe();
        return {
          session_id: d.session_id,
          server_name: d.server_name,
          status: d.status,
          server_info: d.server_info,
          capabilities: d.capabilities,
          protocol_version: d.protocol_version,
        };
      },
    }),
    route({
      method: 'POST',
      path: `${BASE}/tools/call`,
      tag: 'mcp',
      summary: 'Call a tool (arguments checked against its inputSchema)',
      body: s.callBody001,
      response: s.callResult001,
      errors: [400, 401, 403, 404, 429, 502, 504],
      handle: async ({ params, body, principal, signal }: Call<z.infer<typeof s.callBody001>>) => {
        const session = sessions.get(params.session_id!, principal);
        const result = await session.callTool(body.tool_name, body.arguments, {
          field: 'arguments',
          signal,
          progressToken: body.progress_token,
        });
        return {
          session_id: session.id,
          tool_name: body.tool_name,
          result,
          ...toolOutcome(result),
        };
      },
    }),
    route({
      method: 'POST',
      path: `${BASE}/resources/read`,
      tag: 'mcp',
      summary: 'Read a resource',
      body: s.readResourceBody,
      response: s.readResourceResult,
      errors: [400, 401, 403, 404, 502],
      handle: async ({
        params,
        body,
        principal,
        signal,
      }: Call<z.infer<typeof s.readResourceBody>>) => {
        const session = sessions.get(params.session_id!, principal);
        const content = await session.call('resources/read', { uri: body.uri }, signal);
        return { session_id: session.id, uri: body.uri, content };
      },
    }),
    route({
      method: 'POST',
      path: `${BASE}/prompts/get`,
      tag: 'mcp',
      summary: 'Get a prompt',
      body: s.getPromptBody,
      response: s.getPromptResult,
      errors: [400, 401, 403, 404, 502],
      handle: async ({
        params,
        body,
        principal,
        signal,
      }: Call<z.infer<typeof s.getPromptBody>>) => {
        const session = sessions.get(params.session_id!, principal);
        const result = await session.call(
          'prompts/get',
          { name: body.prompt_name, arguments: body.arguments },
          signal,
        );
        return { session_id: session.id, prompt_name: body.prompt_name, result };
      },
    }),
    route({
      method: 'DELETE',
      path: BASE,
      tag: 'mcp',
      summary: 'Close a session',
      response: s.closedSession,
      errors: [401, 403, 404],
      handle: async ({ params, principal }) => {
        const session = sessions.get(params.session_id!, principal);
        await session.close('closed by the REST client');
        return { session_id: session.id, status: 'closed' };
      },
    }),
    eventsRoute(deps, `${BASE}/events`, 'mcp'),
    answerRoute(deps, `${BASE}/responses/{request_id}`, 'mcp'),
    route({
      method: 'POST',
      path: '/api/v1/servers/{backend}/tools/{tool}',
      tag: 'one-shot',
      summary: 'Call a tool in one request, the body being its arguments (no session to manage)',
      body: s.oneShotArguments,
      emptyBody: true,
      response: s.oneShotResult,
      errors: [400, 401, 403, 404, 429, 502, 504],
      handle: async ({ params, body, req, principal, signal }: Call<Record<string, unknown>>) => {
        const backend = params.backend!;
        const tool = params.tool!;
        const { session, done } = await sessions.oneShot(backend, peerOf(req, principal), signal);
        try {
          const result = await session.callTool(tool, body, { field: 'body', signal });
          return {
            server_name: backend,
            tool_name: tool,
            result,
            success: result.isError !== true,
          };
        } finally {
          await done();
        }
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/dashboard/overview',
      tag: 'dashboard',
      summary: 'Dashboard overview: services, sessions, requests',
      response: s.dashboardOverview,
      errors: [401, 403],
      handle: async () => {
        const backends = deps.ops.backends();
        const stats = deps.ops.stats() as {
          sessions?: { active?: number };
          requests?: { total?: number; errors?: number };
          uptimeSeconds?: number;
        };
        const up = backends.filter((b) => b.state !== 'down' && b.state !== 'failed');
        const degraded = backends.some(
          (b) => b.required && (b.state === 'down' || b.state === 'failed'),
        );
        return {
          status: degraded ? 'degraded' : 'healthy',
          total_services: backends.length,
          active_services: up.length,
          active_sessions: stats.sessions?.active ?? 0,
          rest_sessions: sessions.size,
          total_requests: stats.requests?.total ?? 0,
          total_errors: stats.requests?.errors ?? 0,
          uptime_seconds: stats.uptimeSeconds ?? Math.round(process.uptime()),
        };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/dashboard/services/health',
      tag: 'dashboard',
      summary: 'Health of every service, for the dashboard',
      response: s.dashboardHealth,
      errors: [401, 403],
      handle: async () => ({
        services: deps.ops.backends().map((b) => ({
          service_id: b.name,
          name: b.name,
          transport: b.transport,
          status: b.state,
          healthy: b.state !== 'down' && b.state !== 'failed',
          ...(b.lastError !== undefined && { last_error: b.lastError }),
          restarts: b.restarts,
          sessions: b.sessions,
        })),
      }),
    }),
  ];
}
