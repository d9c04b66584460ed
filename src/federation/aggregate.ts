import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';
import type {
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCReply,
  JSONRPCRequest,
  RequestId,
} from '../core/jsonrpc.js';
import { errorReply, isReply, isRequest } from '../core/jsonrpc.js';
import { GatewayError, toErrorReply } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { BackendConfig } from '../config/schema.js';
import type { Backend } from '../backends/backend.js';
import type { Principal } from '../core/policy.js';
import { version } from '../version.js';
import { Member } from './member.js';
import type { Supervision } from './member.js';
import { NameTable, globMatcher } from './naming.js';
import { templateMatcher } from './uri-template.js';
import type { BreakerRegistry } from '../policies/circuit-breaker.js';
import { isBackendFailure } from '../policies/circuit-breaker.js';
import { withId } from '../core/raw-json.js';

/*
 * The aggregated endpoint's server side. To the client it is one MCP server; behind it, each
 * enabled backend is a Member. Tools and prompts are offered under namespaced names, resources
 * keep their URIs and are routed by them, and everything a backend sends (notifications, its own
 * requests to the client) reaches the client, with answers routed back to the backend that asked.
 * A backend that is down is left out of lists, and calls to it fail with a clear error, while the
 * others go on; when it comes back, the client hears list_changed.
 */

export interface AggregateMember {
  name: string;
  backend: Backend;
  config: BackendConfig;
}

export interface AggregateOptions {
  members: AggregateMember[];
  separator: string;
  /** Longest a list request to one backend may take before it is left out of that list. */
  listTimeoutMs: number;
  /** How long initialize waits for backends before answering with those that are up. */
  initializeWaitMs: number;
  supervision: Supervision;
  log: Logger;
  /** The caller, for backends that take its credentials. */
  principal?: Principal;
  /** A circuit breaker per backend; an open one keeps its backend out of lists and calls. */
  breakers?: BreakerRegistry;
  /** Told whenever a member comes up, goes down or gives up (for the gateway's health view). */
  onMemberState?: (member: Member) => void;
}

type Params = Record<string, unknown>;

interface Catalog {
  tools: Array<Record<string, unknown>>;
  prompts: Array<Record<string, unknown>>;
}

/** Items of a list method, following cursors; undefined if the backend failed or was too slow. */
async function listAll(
  member: Member,
  method: string,
  key: string,
  timeoutMs: number,
  log: Logger,
) {
  const items: Array<Record<string, unknown>> = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const reply = await member.request(method, cursor ? { cursor } : undefined, timeoutMs);
    if ('error' in reply) {
      log.warn(
        { backend: member.name, method, reason: reply.error.message },
        'backend left out of the list',
      );
      return undefined;
    }
    const result = reply.result as Record<string, unknown>;
    items.push(...((result[key] as Array<Record<string, unknown>> | undefined) ?? []));
    cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
    if (!cursor) break;
  }
  return items;
}

export class AggregateTarget implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  private members: Member[];
  private initParams: Params | undefined;
  private readonly configOf = new Map<string, BackendConfig>();
  private readonly tools = new NameTable();
  private readonly prompts = new NameTable();
  private readonly catalogs = new Map<Member, Partial<Catalog>>();
  /** Resource URI → the member that listed it; template matchers per member. */
  private readonly resourceOwner = new Map<string, Member>();
  private readonly templates = new Map<Member, Array<(uri: string) => boolean>>();
  /** Client request id → where it was forwarded, for cancellation. */
  private readonly forwarded = new Map<RequestId, { member: Member; id: number }>();
  /** Progress token → the forwarded request it reports on, whose deadline progress extends. */
  private readonly progress = new Map<string | number, { member: Member; id: number }>();
  /** Requests to the client, by the id we gave them: the member that asked and its id. */
  private readonly toClient = new Map<
    number,
    { member: Member; memberId: RequestId; resolve: (reply: JSONRPCReply) => void }
  >();
  private nextClientId = 1;
  private initialized = false;
  private closed = false;

  constructor(private readonly options: AggregateOptions) {
    this.members = options.members.map((m) => this.newMember(m));
  }

  private newMember({ name, backend, config }: AggregateMember): Member {
    this.configOf.set(name, config);
    return new Member(name, {
      backend,
      principal: this.options.principal,
      supervision: this.options.supervision,
      log: this.options.log,
      onNotification: (member, message) => this.fromMember(member, message),
      onRequest: (member, message) => this.askClient(member, message),
      onStateChange: (member) => {
        this.memberChanged(member);
        this.options.onMemberState?.(member);
      },
    });
  }

  /** A backend added by a reload joins the session; the client hears list_changed once it is up. */
  addMember(member: AggregateMember): void {
    if (this.closed || this.members.some((m) => m.name === member.name)) return;
    const added = this.newMember(member);
    this.members.push(added);
    if (this.initParams) void added.connect(this.initParams);
  }

  /** A backend removed by a reload leaves the session once its requests in flight are done. */
  async removeMember(name: string, drainMs: number): Promise<void> {
    const member = this.members.find((m) => m.name === name);
    if (!member) return;
    this.members = this.members.filter((m) => m !== member);
    this.catalogs.delete(member);
    this.templates.delete(member);
    for (const [uri, owner] of this.resourceOwner)
      if (owner === member) this.resourceOwner.delete(uri);
    this.emit({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    this.emit({ jsonrpc: '2.0', method: 'notifications/prompts/list_changed' });
    const deadline = Date.now() + drainMs;
    while (member.inFlight > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await member.close();
  }

  /** Backend name → process id, for stdio members that run one. */
  get pids(): Record<string, number | undefined> {
    return Object.fromEntries(this.members.map((m) => [m.name, m.pid]));
  }

  get memberStates(): Record<string, { state: string; restarts: number; lastError?: string }> {
    return Object.fromEntries(
      this.members.map((m) => [
        m.name,
        { state: m.state, restarts: m.restarts, lastError: m.lastError },
      ]),
    );
  }

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed)
      throw new GatewayError('GATEWAY_SESSION_CLOSED', 'the aggregated session has ended');
    if (isReply(message)) {
      const pending = typeof message.id === 'number' ? this.toClient.get(message.id) : undefined;
      if (pending) {
        this.toClient.delete(message.id as number);
        pending.resolve(message);
      }
      return;
    }
    if (!isRequest(message)) {
      this.fromClientNotification(message as JSONRPCNotification);
      return;
    }
    void this.handle(message).then(
      (reply) => this.emit(withId(reply, message.id)),
      (error: unknown) => this.emit(toErrorReply(message.id, error)),
    );
  }

  private emit(message: JSONRPCMessage): void {
    if (!this.closed) this.onmessage?.(message);
  }

  // ── client requests ────────────────────────────────────────────────────────────────────

  private async handle(message: JSONRPCRequest): Promise<JSONRPCReply> {
    const params = (message.params ?? {}) as Params;
    const ok = (result: Params): JSONRPCReply => ({ jsonrpc: '2.0', id: message.id, result });
    switch (message.method) {
      case 'initialize':
        return ok(await this.initialize(params));
      case 'ping':
        return ok({});
      case 'tools/list':
        return ok({ tools: (await this.catalog()).tools });
      case 'prompts/list':
        return ok({ prompts: (await this.catalog()).prompts });
      case 'tools/call':
        return this.routeNamed(message, this.tools, 'tool');
      case 'prompts/get':
        return this.routeNamed(message, this.prompts, 'prompt');
      case 'resources/list':
        return ok({ resources: await this.listResources() });
      case 'resources/templates/list':
        return ok({ resourceTemplates: await this.listTemplates() });
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        return this.routeByUri(message, String(params.uri ?? ''));
      case 'completion/complete':
        return this.complete(message, params);
      case 'logging/setLevel':
        // Every backend logs at the client's level; one that fails to is logged, not fatal.
        await Promise.all(
          this.up()
            .filter((m) => m.capabilities.logging)
            .map((m) => m.request('logging/setLevel', params, this.options.listTimeoutMs)),
        );
        return ok({});
      default:
        return errorReply(
          message.id,
          -32601,
          `Method not found on the aggregated endpoint: ${message.method}`,
        );
    }
  }

  private up(): Member[] {
    const breakers = this.options.breakers;
    return this.members.filter((m) => m.isUp && breakers?.get(m.name).state !== 'open');
  }

  private async initialize(params: Params): Promise<Params> {
    // Each backend is asked with the client's own handshake, so it offers what the client can use.
    const memberParams = {
      ...params,
      clientInfo: params.clientInfo ?? { name: 'mcp-bridge', version },
    };
    this.initParams = memberParams;
    const connecting = this.members.map((m) => m.connect(memberParams));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(connecting),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.initializeWaitMs))),
    ]);
    clearTimeout(timer);
    this.initialized = true;
    const asked =
      typeof params.protocolVersion === 'string' ? params.protocolVersion : LATEST_PROTOCOL_VERSION;
    const has = (capability: string) =>
      this.members.some((m) => m.capabilities[capability] !== undefined);
    const capabilities: Params = {
      // list_changed is always on: a backend that comes or goes changes the lists.
      tools: { listChanged: true },
      prompts: { listChanged: true },
      resources: {
        listChanged: true,
        subscribe: this.members.some(
          (m) => (m.capabilities.resources as Params | undefined)?.subscribe,
        ),
      },
    };
    if (has('logging')) capabilities.logging = {};
    if (has('completions')) capabilities.completions = {};
    const instructions = this.members
      .filter((m) => m.instructions)
      .map((m) => `## ${m.name}\n\n${m.instructions}`)
      .join('\n\n');
    return {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(asked)
        ? asked
        : LATEST_PROTOCOL_VERSION,
      capabilities,
      serverInfo: { name: 'mcp-bridge', title: 'mcp-bridge aggregated endpoint', version },
      ...(instructions ? { instructions } : {}),
    };
  }

  /** Tools and prompts of every backend that is up, filtered, renamed and namespaced. */
  private async catalog(): Promise<Catalog> {
    const { separator, listTimeoutMs, log } = this.options;
    await Promise.all(
      this.up().map(async (m) => {
        const cached = this.catalogs.get(m) ?? {};
        if (!cached.tools && m.capabilities.tools)
          cached.tools = await listAll(m, 'tools/list', 'tools', listTimeoutMs, log);
        if (!cached.prompts && m.capabilities.prompts)
          cached.prompts = await listAll(m, 'prompts/list', 'prompts', listTimeoutMs, log);
        this.catalogs.set(m, cached);
      }),
    );
    const toolEntries = [];
    const promptEntries = [];
    for (const m of this.up()) {
      const config = this.configOf.get(m.name)!;
      const prefix = `${config.prefix ?? m.name}${separator}`;
      const include = globMatcher(config.tools.include);
      const exclude = globMatcher(config.tools.exclude);
      const tools = (this.catalogs.get(m)?.tools ?? []).filter((t) => {
        const name = String(t.name);
        return (!include || include.test(name)) && !exclude?.test(name);
      });
      toolEntries.push({
        backend: m.name,
        tool: tools,
        items: tools.map((t) => ({
          wanted: prefix + (config.tools.overrides[String(t.name)]?.name ?? String(t.name)),
          name: String(t.name),
        })),
      });
      const prompts = this.catalogs.get(m)?.prompts ?? [];
      promptEntries.push({
        backend: m.name,
        items: prompts.map((p) => ({ wanted: prefix + String(p.name), name: String(p.name) })),
        prompt: prompts,
      });
    }
    const toolNames = this.tools.rebuild(toolEntries);
    const promptNames = this.prompts.rebuild(promptEntries);
    const tools = toolEntries.flatMap(({ backend, tool }) =>
      tool.map((t) => {
        const override = this.configOf.get(backend)!.tools.overrides[String(t.name)];
        const renamed = { ...t, name: toolNames.get(`${backend}\0${String(t.name)}`) };
        return override?.description === undefined
          ? renamed
          : { ...renamed, description: override.description };
      }),
    );
    const prompts = promptEntries.flatMap(({ backend, prompt }) =>
      prompt.map((p) => ({ ...p, name: promptNames.get(`${backend}\0${String(p.name)}`) })),
    );
    return { tools, prompts };
  }

  private async routeNamed(
    message: JSONRPCRequest,
    table: NameTable,
    kind: 'tool' | 'prompt',
  ): Promise<JSONRPCReply> {
    const params = (message.params ?? {}) as Params;
    const offered = String(params.name ?? '');
    let route = table.resolve(offered);
    if (!route) {
      // A client may call without listing first.
      await this.catalog();
      route = table.resolve(offered);
    }
    if (!route) {
      // Its backend may be down: say so, rather than that the name does not exist.
      const separator = this.options.separator;
      const owner = this.members.find(
        (m) =>
          !m.isUp &&
          offered.startsWith(`${this.configOf.get(m.name)!.prefix ?? m.name}${separator}`),
      );
      if (owner) {
        const why = owner.lastError ? `: ${owner.lastError}` : '';
        throw new GatewayError(
          'GATEWAY_BACKEND_UNAVAILABLE',
          `${owner.name} is ${owner.state}${why}`,
        );
      }
      return errorReply(message.id, -32602, `Unknown ${kind}: ${offered}`);
    }
    const member = this.members.find((m) => m.name === route!.backend)!;
    return this.forwardTo(member, { ...message, params: { ...params, name: route.name } });
  }

  private async forwardTo(member: Member, message: JSONRPCRequest): Promise<JSONRPCReply> {
    const config = this.configOf.get(member.name)!;
    const base = config.methodTimeoutsMs[message.method] ?? config.timeoutMs;
    const breaker = this.options.breakers?.get(member.name);
    if (breaker && !breaker.admit()) throw breaker.refusal();
    const { id, reply } = member.forward(message, base, config.maxTimeoutMs || base * 10);
    this.forwarded.set(message.id, { member, id });
    const token = (message.params?._meta as { progressToken?: string | number } | undefined)
      ?.progressToken;
    if (token !== undefined) this.progress.set(token, { member, id });
    try {
      const outcome = await reply;
      breaker?.record(!isBackendFailure(outcome));
      return outcome;
    } finally {
      this.forwarded.delete(message.id);
      if (token !== undefined) this.progress.delete(token);
    }
  }

  /** One list method over every backend with resources that is up, each backend's items apart. */
  private resourceLists(method: string, key: string) {
    return Promise.all(
      this.up()
        .filter((m) => m.capabilities.resources)
        .map(async (m) => ({
          m,
          items:
            (await listAll(m, method, key, this.options.listTimeoutMs, this.options.log)) ?? [],
        })),
    );
  }

  private async listResources(): Promise<Array<Record<string, unknown>>> {
    const lists = await this.resourceLists('resources/list', 'resources');
    for (const { m, items } of lists) {
      for (const r of items) {
        if (typeof r.uri === 'string' && !this.resourceOwner.has(r.uri))
          this.resourceOwner.set(r.uri, m);
      }
    }
    return lists.flatMap(({ items }) => items);
  }

  private async listTemplates(): Promise<Array<Record<string, unknown>>> {
    const lists = await this.resourceLists('resources/templates/list', 'resourceTemplates');
    for (const { m, items } of lists) {
      this.templates.set(
        m,
        items.map((t) => templateMatcher(String(t.uriTemplate))),
      );
    }
    return lists.flatMap(({ items }) => items);
  }

  /** The backend a URI belongs to: one that listed it, one whose template matches, or the only one with resources. */
  private async ownerOf(uri: string): Promise<Member | undefined> {
    const known = this.resourceOwner.get(uri);
    if (known?.isUp) return known;
    if (this.templates.size === 0) await this.listTemplates();
    for (const [m, matchers] of this.templates)
      if (m.isUp && matchers.some((match) => match(uri))) return m;
    if (!known) {
      await this.listResources();
      const listed = this.resourceOwner.get(uri);
      if (listed?.isUp) return listed;
    }
    const withResources = this.up().filter((m) => m.capabilities.resources);
    return withResources.length === 1 ? withResources[0] : undefined;
  }

  private async routeByUri(message: JSONRPCRequest, uri: string): Promise<JSONRPCReply> {
    const owner = await this.ownerOf(uri);
    if (!owner) return errorReply(message.id, -32002, `Resource not found: ${uri}`, { uri });
    return this.forwardTo(owner, message);
  }

  private async complete(message: JSONRPCRequest, params: Params): Promise<JSONRPCReply> {
    const ref = (params.ref ?? {}) as Params;
    if (ref.type === 'ref/prompt') {
      let route = this.prompts.resolve(String(ref.name ?? ''));
      if (!route) {
        await this.catalog();
        route = this.prompts.resolve(String(ref.name ?? ''));
      }
      if (!route) return errorReply(message.id, -32602, `Unknown prompt: ${String(ref.name)}`);
      const member = this.members.find((m) => m.name === route!.backend)!;
      return this.forwardTo(member, {
        ...message,
        params: { ...params, ref: { ...ref, name: route.name } },
      });
    }
    if (ref.type === 'ref/resource') return this.routeByUri(message, String(ref.uri ?? ''));
    return errorReply(message.id, -32602, `Unknown completion reference type: ${String(ref.type)}`);
  }

  // ── client notifications ───────────────────────────────────────────────────────────────

  private fromClientNotification(message: JSONRPCNotification): void {
    const params = (message.params ?? {}) as Params;
    switch (message.method) {
      case 'notifications/initialized':
        return; // each member got its own
      case 'notifications/cancelled': {
        const target = this.forwarded.get(params.requestId as RequestId);
        if (target)
          target.member.cancel(target.id, String(params.reason ?? 'cancelled by the client'));
        return;
      }
      default:
        for (const m of this.up()) m.notify(message.method, params);
    }
  }

  // ── from members ───────────────────────────────────────────────────────────────────────

  private fromMember(member: Member, message: JSONRPCNotification): void {
    switch (message.method) {
      case 'notifications/tools/list_changed':
      case 'notifications/prompts/list_changed': {
        const cached = this.catalogs.get(member);
        if (cached) {
          if (message.method.includes('tools')) cached.tools = undefined;
          else cached.prompts = undefined;
        }
        this.emit(message);
        return;
      }
      case 'notifications/cancelled': {
        // The backend gave up on a request it made to the client: name it by the client's id.
        const params = (message.params ?? {}) as Params;
        for (const [clientId, pending] of this.toClient) {
          if (pending.member === member && pending.memberId === params.requestId) {
            this.toClient.delete(clientId);
            this.emit({ ...message, params: { ...params, requestId: clientId } });
            return;
          }
        }
        return;
      }
      case 'notifications/progress': {
        const token = (message.params as { progressToken?: string | number } | undefined)
          ?.progressToken;
        if (token !== undefined)
          this.progress.get(token)?.member.extend(this.progress.get(token)!.id);
        this.emit(message);
        return;
      }
      default:
        this.emit(message);
    }
  }

  private askClient(member: Member, message: JSONRPCRequest): Promise<JSONRPCReply> {
    const id = this.nextClientId++;
    return new Promise((resolve) => {
      this.toClient.set(id, { member, memberId: message.id, resolve });
      this.emit({ ...message, id });
    });
  }

  private memberChanged(member: Member): void {
    if (!this.initialized) return;
    if (member.state === 'up' || member.state === 'down' || member.state === 'failed') {
      this.catalogs.delete(member);
      for (const [uri, owner] of this.resourceOwner)
        if (owner === member) this.resourceOwner.delete(uri);
      // What the client can use changed: tell it to list again.
      if (member.capabilities.tools)
        this.emit({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
      if (member.capabilities.prompts)
        this.emit({ jsonrpc: '2.0', method: 'notifications/prompts/list_changed' });
      if (member.capabilities.resources)
        this.emit({ jsonrpc: '2.0', method: 'notifications/resources/list_changed' });
    }
    if (member.state === 'down' || member.state === 'failed') {
      for (const [id, pending] of this.toClient) {
        if (pending.member !== member) continue;
        this.toClient.delete(id);
        this.emit({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: id, reason: `${member.name} went away` },
        });
      }
    }
  }

  /** Backend connections and their states, for health reports. */
  get inFlight(): number {
    return this.members.reduce((n, m) => n + m.inFlight, 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [, pending] of this.toClient)
      pending.resolve(errorReply(null, -32603, 'the session ended'));
    this.toClient.clear();
    await Promise.allSettled(this.members.map((m) => m.close()));
    this.onclose?.();
  }
}
