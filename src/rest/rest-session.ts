import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import type { ValidateFunction } from 'ajv';
import type { JSONRPCReply } from '../core/jsonrpc.js';
import { ERROR_TABLE, GatewayError } from '../core/errors.js';
import type { GatewayErrorCode } from '../core/errors.js';
import type { Principal } from '../core/policy.js';
import type { SessionHandle } from '../frontends/types.js';
import { version } from '../version.js';
import type { RestClientTransport } from './client-transport.js';
import { checkArguments, validatorFor } from './tool-validation.js';

/** Pages of a list followed before the rest is left out. */
const MAX_PAGES = 100;

/** An error reply from the session (a backend's own, or the gateway's from a policy). */
export class ReplyError extends Error {
  readonly status: number;

  constructor(readonly error: { code: number; message: string; data?: unknown }) {
    super(error.message);
    this.name = 'ReplyError';
    this.status = statusOf(error);
  }
}

/**
 * The HTTP status of an error reply: the table's for the gateway's own codes; for a backend's,
 * 400 for bad params, 404 for an unknown method, 504 for its timeout, 502 for anything else.
 */
function statusOf(error: { code: number; data?: unknown }): number {
  const data = error.data;
  const code =
    typeof data === 'object' && data !== null && 'code' in data && typeof data.code === 'string'
      ? data.code
      : undefined;
  if (code && code in ERROR_TABLE) return ERROR_TABLE[code as GatewayErrorCode].status;
  if (error.code === -32602 || error.code === -32600 || error.code === -32700) return 400;
  if (error.code === -32601) return 404;
  if (error.code === -32001) return 504;
  return 502;
}

/** The result of a reply, or a ReplyError carrying its error. */
export function resultOf(reply: JSONRPCReply): Record<string, unknown> {
  if ('error' in reply) throw new ReplyError(reply.error);
  return reply.result;
}

export interface Tool {
  name: string;
  inputSchema?: unknown;
  [key: string]: unknown;
}

export interface RestSessionInit {
  handle: SessionHandle;
  transport: RestClientTransport;
  /** The backend's name, or `*` for the aggregated endpoint. */
  endpoint: string;
  clientId: string | undefined;
  metadata: Record<string, unknown> | undefined;
}

/**
 * One REST session: a real gateway session (opened through `openSession`, so every policy,
 * observer and the idle sweep apply) seen through a RestClientTransport, with what its
 * `initialize` said and its tool list for argument validation.
 */
export class RestSession {
  readonly id: string;
  readonly handle: SessionHandle;
  readonly transport: RestClientTransport;
  readonly endpoint: string;
  readonly clientId: string | undefined;
  readonly metadata: Record<string, unknown> | undefined;
  readonly createdAt = new Date().toISOString();
  server: { serverInfo?: unknown; capabilities?: unknown; protocolVersion?: unknown } = {};
  private tools: Map<string, { tool: Tool; validate: ValidateFunction | undefined }> | undefined;
  private toolsLoading: Promise<void> | undefined;
  private progressTokens = 0;

  constructor(init: RestSessionInit) {
    this.handle = init.handle;
    this.id = init.handle.id;
    this.transport = init.transport;
    this.endpoint = init.endpoint;
    this.clientId = init.clientId;
    this.metadata = init.metadata;
    this.transport.onnotification = (method) => {
      if (method === 'notifications/tools/list_changed') this.tools = undefined;
    };
  }

  get principal(): Principal | undefined {
    return this.handle.principal;
  }

  /** The MCP handshake, as a client would do it. */
  async initialize(capabilities: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    const result = resultOf(
      await this.transport.request(
        'initialize',
        {
          protocolVersion: LATEST_PROTOCOL_VERSION,
          capabilities,
          clientInfo: { name: this.clientId ?? 'mcp-bridge-rest', version },
        },
        { signal },
      ),
    );
    this.server = {
      serverInfo: result.serverInfo,
      capabilities: result.capabilities,
      protocolVersion: result.protocolVersion,
    };
    this.transport.notify('notifications/initialized');
  }

  /** Sends a request and returns its result; a failed reply throws ReplyError. */
  async call(
    method: string,
    params: Record<string, unknown> | undefined,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    return resultOf(await this.transport.request(method, params, { signal }));
  }

  /** `tools/list` through the session (so authorization filters it), kept until it changes. */
  async listTools(signal?: AbortSignal): Promise<Tool[]> {
    const tools = (await this.listAll('tools/list', 'tools', signal)) as Tool[];
    this.tools = new Map(
      tools.map((tool) => [
        tool.name,
        { tool, validate: validatorFor(this.endpoint, tool.name, tool.inputSchema) },
      ]),
    );
    return tools;
  }

  /** Every page of a list (`tools/list`, `resources/list`, `prompts/list`), followed by cursor. */
  async listAll(method: string, key: string, signal?: AbortSignal): Promise<unknown[]> {
    const items: unknown[] = [];
    let cursor: unknown;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await this.call(method, cursor === undefined ? undefined : { cursor }, signal);
      const list = result[key];
      if (Array.isArray(list)) items.push(...(list as unknown[]));
      cursor = result.nextCursor;
      if (typeof cursor !== 'string' || cursor === '') break;
    }
    return items;
  }

  /**
   * Calls a tool after checking `args` against its inputSchema (`field` names the body member
   * that carries them, for the 400). Progress goes to the session's events under `progressToken`.
   */
  async callTool(
    name: string,
    args: Record<string, unknown>,
    options: { field: string; signal?: AbortSignal; progressToken?: string | number },
  ): Promise<Record<string, unknown>> {
    if (!this.tools) {
      // Without a list (it failed), the call goes unchecked: the backend validates as usual.
      this.toolsLoading ??= this.listTools(options.signal)
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => (this.toolsLoading = undefined));
      await this.toolsLoading;
    }
    // A tool the list does not show is still sent: the chain gives the real answer (forbidden,
    // unknown), not a guess made here.
    const known = this.tools?.get(name);
    if (known) checkArguments(known.validate, args, name, options.field);
    const reply = await this.transport.request(
      'tools/call',
      { name, arguments: args },
      {
        signal: options.signal,
        progressToken: options.progressToken ?? `${this.id}:${++this.progressTokens}`,
        tool: name,
      },
    );
    return resultOf(reply);
  }

  /** What `GET /sessions/{id}` and `…/info` show. */
  describe(): Record<string, unknown> {
    return {
      session_id: this.id,
      client_id: this.clientId,
      server_name: this.endpoint,
      status: this.transport.isClosed ? 'closed' : 'connected',
      created_at: this.createdAt,
      metadata: this.metadata ?? {},
      server_info: this.server.serverInfo ?? {},
      capabilities: this.server.capabilities ?? {},
      protocol_version: this.server.protocolVersion,
      in_flight: this.handle.inFlight,
      pending_server_requests: this.transport.pendingServerRequests,
    };
  }

  close(reason: string): Promise<void> {
    return this.handle.close(reason);
  }
}

/** A session that is not (or no longer) there. */
export function unknownSession(id: string): GatewayError {
  return new GatewayError('GATEWAY_SESSION_NOT_FOUND', `no REST session ${id}`);
}
