import { z } from 'zod';

/*
 * The bodies the REST handlers accept and the shapes they answer with, in zod: the handlers
 * validate with these, and /openapi.json is generated from the same objects. Field names are the
 * seed systems': seed 000 (`client_id`, `session_id`, `tool`, `params`), seed 001 (`server_name`,
 * `tool_name`, `arguments`, `uri`).
 */

const json = z.record(z.string(), z.unknown());

/** What the REST client declares it can answer (server requests arrive on `/events`). */
const capabilities = json
  .optional()
  .describe(
    'MCP client capabilities to declare. Default: sampling and elicitation (answered through the events stream); add `roots` to be asked for roots.',
  );

export const sessionId = z
  .string()
  .min(1)
  .describe('A session id from POST /sessions or …/connect');

export const createSessionBody = z
  .object({
    client_id: z.string().min(1).max(200).optional().describe('The caller’s own name for itself'),
    server: z
      .string()
      .min(1)
      .optional()
      .describe('Backend to bind to; default: the only backend, or the aggregated endpoint'),
    backend: z.string().min(1).optional().describe('Same as `server`'),
    metadata: json.optional().describe('Kept with the session and shown by GET /sessions/{id}'),
    capabilities,
  })
  .meta({ id: 'CreateSessionRequest' });

export const sessionInfo = z
  .object({
    session_id: z.string(),
    client_id: z.string().optional(),
    server_name: z.string().describe('The backend, or `*` for the aggregated endpoint'),
    status: z.enum(['connected', 'closed']),
    created_at: z.string(),
    metadata: json,
    server_info: json,
    capabilities: json,
    protocol_version: z.string().optional(),
    in_flight: z.number().int(),
    pending_server_requests: z.number().int(),
  })
  .meta({ id: 'SessionInfo' });

export const closedSession = z
  .object({ session_id: z.string(), status: z.literal('closed') })
  .meta({ id: 'ClosedSession' });

export const discoverBody = z.object({ session_id: sessionId }).meta({ id: 'DiscoverRequest' });

const progressToken = z
  .string()
  .min(1)
  .max(200)
  .optional()
  .describe('Progress of this call is reported on the events stream under this token');

export const callBody000 = z
  .object({
    session_id: sessionId,
    tool: z.string().min(1).describe('The tool’s name'),
    params: json.default({}).describe('The tool’s arguments'),
    progress_token: progressToken,
  })
  .meta({ id: 'ToolCallRequest' });

export const toolList = z
  .object({ session_id: z.string(), tools: z.array(json) })
  .meta({ id: 'ToolList' });

export const callResult000 = z
  .object({ session_id: z.string(), tool: z.string(), result: json })
  .meta({ id: 'ToolCallResponse' });

export const connectBody = z
  .object({
    server_name: z.string().min(1).describe('The backend to connect to (`*`: all of them)'),
    client_id: z.string().min(1).max(200).optional(),
    capabilities,
  })
  .meta({ id: 'ConnectServerRequest' });

export const connectResult = z
  .object({ session_id: z.string(), server_name: z.string(), status: z.literal('connected') })
  .meta({ id: 'ConnectServerResponse' });

export const callBody001 = z
  .object({
    tool_name: z.string().min(1),
    arguments: json.default({}),
    progress_token: progressToken,
  })
  .meta({ id: 'CallToolRequest' });

export const callResult001 = z
  .object({
    session_id: z.string(),
    tool_name: z.string(),
    result: json,
    success: z.boolean().describe('false when the tool reported an error (`isError`)'),
    error: z.string().optional(),
  })
  .meta({ id: 'CallToolResponse' });

export const resourceList = z
  .object({ session_id: z.string(), resources: z.array(json) })
  .meta({ id: 'ListResourcesResponse' });

export const readResourceBody = z
  .object({ uri: z.string().min(1) })
  .meta({ id: 'ReadResourceRequest' });

export const readResourceResult = z
  .object({ session_id: z.string(), uri: z.string(), content: json })
  .meta({ id: 'ReadResourceResponse' });

export const promptList = z
  .object({ session_id: z.string(), prompts: z.array(json) })
  .meta({ id: 'ListPromptsResponse' });

export const getPromptBody = z
  .object({
    prompt_name: z.string().min(1),
    arguments: z.record(z.string(), z.string()).default({}),
  })
  .meta({ id: 'GetPromptRequest' });

export const getPromptResult = z
  .object({ session_id: z.string(), prompt_name: z.string(), result: json })
  .meta({ id: 'GetPromptResponse' });

export const serverInfo = z
  .object({
    session_id: z.string(),
    server_name: z.string(),
    status: z.string(),
    server_info: json,
    capabilities: json,
    protocol_version: z.string().optional(),
  })
  .meta({ id: 'ServerInfoResponse' });

export const answerBody = z
  .union([
    z.object({ result: json.describe('The answer, as the MCP result of the request') }),
    z.object({
      error: z.object({
        code: z.number().int(),
        message: z.string(),
        data: z.unknown().optional(),
      }),
    }),
  ])
  .meta({ id: 'ServerRequestAnswer' });

export const answerResult = z
  .object({ session_id: z.string(), request_id: z.string(), status: z.literal('delivered') })
  .meta({ id: 'ServerRequestAnswered' });

export const oneShotArguments = json.meta({ id: 'ToolArguments' });

export const oneShotResult = z
  .object({ server_name: z.string(), tool_name: z.string(), result: json, success: z.boolean() })
  .meta({ id: 'OneShotResponse' });

export const dashboardOverview = z
  .object({
    status: z.enum(['healthy', 'degraded']),
    total_services: z.number().int(),
    active_services: z.number().int(),
    active_sessions: z.number().int(),
    rest_sessions: z.number().int(),
    total_requests: z.number().int(),
    total_errors: z.number().int(),
    uptime_seconds: z.number(),
  })
  .meta({ id: 'DashboardOverview' });

export const dashboardHealth = z
  .object({
    services: z.array(
      z.object({
        service_id: z.string(),
        name: z.string(),
        transport: z.string(),
        status: z.string(),
        healthy: z.boolean(),
        last_error: z.string().optional(),
        restarts: z.number().int(),
        sessions: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'DashboardServicesHealth' });

export const errorBody = z
  .object({
    jsonrpc: z.literal('2.0'),
    id: z.null(),
    error: z.object({
      code: z.number().int().describe('JSON-RPC code'),
      message: z.string(),
      data: z
        .object({
          code: z.string().optional().describe('The gateway’s code (docs/errors.md)'),
          field: z.string().optional().describe('The body member that is wrong'),
        })
        .loose()
        .optional(),
    }),
  })
  .meta({ id: 'Error' });

/** A loose object for the ops endpoints that exist outside src/rest (their fields: docs/operations). */
export const opsObject = json;
