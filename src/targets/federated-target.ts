import {
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';
import type { JSONRPCNotification, JSONRPCReply, JSONRPCRequest } from '../core/jsonrpc.js';
import { errorReply } from '../core/jsonrpc.js';
import type { Principal, RequestContext } from '../core/context.js';
import type { Outcome } from '../core/policy.js';
import type { Logger } from '../core/logger.js';
import { version } from '../version.js';
import type { BackendTarget } from './backend-target.js';
import type { ServerRequest, Upstream } from './link.js';
import { Member } from './member.js';
import type { Supervision } from './member.js';
import { NameTable, wantedNames } from './naming.js';
import type { PrefixMode } from './naming.js';
import { templateMatcher } from './uri-template.js';
import type { SessionTarget, TargetDescription } from './target.js';

/*
 * The aggregated endpoint's target. To the client it is one MCP server; behind it, each enabled
 * backend is a Member. It only resolves: a tool or prompt name to its backend and that backend's
 * own name, a resource URI to the backend that has it. It records the route on the context and
 * hands the request to the backend's chain, so every per-backend policy runs exactly as on the
 * backend's own endpoint. Lists fan out through the same chains (authorization filters them,
 * deadlines bound them) and a backend that fails one is left out of it. What backends send of
 * their own goes straight up to the session: each member's link keeps its own ids.
 */

export interface FederatedOptions {
  /** The backends, in configuration order (which decides who keeps a name when two want it). */
  targets: readonly BackendTarget[];
  separator: string;
  prefixMode: PrefixMode;
  /** How long lists and calls wait for backends that are still starting. */
  startWaitMs: number;
  supervision: Supervision;
  log: Logger;
  principal?: Principal;
  /** The session: where notifications and server requests go. */
  upstream: Upstream;
  /** Told whenever a member comes up, goes down or gives up (for the gateway's health view). */
  onMemberState?: (member: Member) => void;
}

type Item = Record<string, unknown>;

/** How long initialize waits for backends, for their instructions; capabilities never wait. */
const INSTRUCTIONS_WAIT_MS = 5000;

export class FederatedTarget implements SessionTarget, Upstream {
  private members: Member[];
  private initParams: Record<string, unknown> | undefined;
  private readonly tools = new NameTable();
  private readonly prompts = new NameTable();
  private readonly catalogs = new Map<Member, { tools?: Item[]; prompts?: Item[] }>();
  /** Resource URI → the member that listed it; template matchers per member. */
  private readonly resourceOwner = new Map<string, Member>();
  private readonly templates = new Map<Member, Array<(uri: string) => boolean>>();
  private closed = false;

  constructor(private readonly options: FederatedOptions) {
    this.members = options.targets.map((t) => this.newMember(t));
  }

  private newMember(target: BackendTarget): Member {
    return new Member(target, {
      principal: this.options.principal,
      supervision: this.options.supervision,
      log: this.options.log,
      upstream: this,
      onStateChange: (member) => {
        this.memberChanged(member);
        this.options.onMemberState?.(member);
      },
    });
  }

  /** A backend added by a reload joins the session; the client hears list_changed once it is up. */
  addMember(target: BackendTarget): void {
    if (this.closed || this.members.some((m) => m.name === target.name)) return;
    const added = this.newMember(target);
    this.members.push(added);
    if (this.initParams) void added.connect(this.initParams);
  }

  /** A backend removed by a reload leaves the session once its requests in flight are done. */
  async removeMember(name: string, drainMs: number): Promise<void> {
    const member = this.members.find((m) => m.name === name);
    if (!member) return;
    this.members = this.members.filter((m) => m !== member);
    this.forget(member);
    this.emit('notifications/tools/list_changed');
    this.emit('notifications/prompts/list_changed');
    const deadline = Date.now() + drainMs;
    while (member.inFlight > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await member.close();
  }

  /** Each member's state, for health reports. */
  get memberStates(): Record<string, { state: string; restarts: number; lastError?: string }> {
    return Object.fromEntries(
      this.members.map((m) => [
        m.name,
        { state: m.state, restarts: m.restarts, lastError: m.lastError },
      ]),
    );
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async start(): Promise<void> {}

  setProtocolVersion(): void {
    // Each member agreed on its own revision with its backend.
  }

  describe(): TargetDescription {
    return { pids: Object.fromEntries(this.members.map((m) => [m.name, m.pid])) };
  }

  // ── client requests ────────────────────────────────────────────────────────────────────

  async dispatch(ctx: RequestContext): Promise<Outcome> {
    const { message } = ctx;
    const params = message.params ?? {};
    switch (message.method) {
      case 'initialize':
        return ok(message, await this.initialize(params));
      case 'ping':
        return ok(message, {});
      case 'tools/list':
        return ok(message, { tools: (await this.catalog(ctx)).tools });
      case 'prompts/list':
        return ok(message, { prompts: (await this.catalog(ctx)).prompts });
      case 'tools/call':
        return this.routeNamed(ctx, this.tools, 'tool');
      case 'prompts/get':
        return this.routeNamed(ctx, this.prompts, 'prompt');
      case 'resources/list':
        return ok(message, { resources: await this.listResources(ctx) });
      case 'resources/templates/list':
        return ok(message, { resourceTemplates: await this.listTemplates(ctx) });
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        return this.routeByUri(ctx, String(params.uri ?? ''));
      case 'completion/complete':
        return this.complete(ctx, params);
      case 'logging/setLevel':
        // Every backend that logs does so at the client's level; one that fails to is logged.
        await this.fanOut(
          ctx,
          (await this.ready()).filter((m) => m.capabilities.logging),
          () => message,
        );
        return ok(message, {});
      default:
        return errorReply(
          message.id,
          -32601,
          `Method not found on the aggregated endpoint: ${message.method}`,
        );
    }
  }

  private async initialize(params: Record<string, unknown>): Promise<Record<string, unknown>> {
    // Each backend is asked with the client's own handshake, so it offers what the client can use.
    if (this.initParams === undefined) {
      this.initParams = {
        ...params,
        clientInfo: params.clientInfo ?? { name: 'mcp-bridge', version },
      };
      // Once: the members are this session's connections, whatever the client sends again.
      for (const m of this.members) void m.connect(this.initParams);
    }
    await Promise.all(this.members.map((m) => m.settled(INSTRUCTIONS_WAIT_MS)));
    const asked =
      typeof params.protocolVersion === 'string' ? params.protocolVersion : LATEST_PROTOCOL_VERSION;
    const instructions = this.members
      .filter((m) => m.instructions)
      .map((m) => `## ${m.name}\n\n${m.instructions}`)
      .join('\n\n');
    return {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(asked)
        ? asked
        : LATEST_PROTOCOL_VERSION,
      // Everything the endpoint can route, whoever is up right now: list_changed because
      // backends come and go; a method a backend lacks gets that backend's own error.
      capabilities: {
        tools: { listChanged: true },
        prompts: { listChanged: true },
        resources: { listChanged: true, subscribe: true },
        logging: {},
        completions: {},
      },
      serverInfo: { name: 'mcp-bridge', title: 'mcp-bridge aggregated endpoint', version },
      ...(instructions ? { instructions } : {}),
    };
  }

  /** The members that are up, once those still starting have come up (or the wait ran out). */
  private async ready(): Promise<Member[]> {
    await Promise.all(this.members.map((m) => m.settled(this.options.startWaitMs)));
    return this.members.filter((m) => m.isUp);
  }

  /**
   * Runs one request per member through its chain; a member that fails is left out (and logged).
   * Cancelling the client's request cancels every part of it.
   */
  private async fanOut(
    ctx: RequestContext,
    members: readonly Member[],
    request: (member: Member) => JSONRPCRequest,
  ): Promise<Array<{ member: Member; result: Item }>> {
    const parts = new Set<RequestContext>();
    ctx.onCancel = (reason, error) => {
      for (const part of parts) part.cancel(reason, error);
    };
    const results = await Promise.all(
      members.map(async (member) => {
        const part = ctx.derive(request(member), { backend: member.name });
        parts.add(part);
        try {
          const reply = await member.dispatch(part);
          if (reply && 'result' in reply) return { member, result: reply.result as Item };
          if (reply) this.leftOut(member, part.message.method, reply.error.message);
        } catch (error) {
          this.leftOut(member, part.message.method, (error as Error).message);
        }
        return undefined;
      }),
    );
    ctx.onCancel = undefined;
    return results.filter((r) => r !== undefined);
  }

  private leftOut(member: Member, method: string, reason: string): void {
    this.options.log.warn({ backend: member.name, method, reason }, 'backend left out of the list');
  }

  /** Every page of one list method from each member, following cursors. */
  private async listAll(
    ctx: RequestContext,
    members: readonly Member[],
    method: string,
    key: string,
  ): Promise<Map<Member, Item[]>> {
    const lists = new Map<Member, Item[]>(members.map((m) => [m, []]));
    let pending = members.map((m) => ({ member: m, cursor: undefined as string | undefined }));
    for (let page = 0; page < 100 && pending.length > 0; page++) {
      const cursors = new Map(pending.map((p) => [p.member, p.cursor]));
      const answers = await this.fanOut(
        ctx,
        pending.map((p) => p.member),
        (m) => {
          const cursor = cursors.get(m);
          return {
            jsonrpc: '2.0',
            id: ctx.message.id,
            method,
            ...(cursor && { params: { cursor } }),
          };
        },
      );
      const answered = new Set(answers.map((a) => a.member));
      for (const m of pending.map((p) => p.member)) if (!answered.has(m)) lists.delete(m);
      pending = [];
      for (const { member, result } of answers) {
        const items = result[key];
        if (Array.isArray(items)) lists.get(member)?.push(...(items as Item[]));
        if (typeof result.nextCursor === 'string' && result.nextCursor)
          pending.push({ member, cursor: result.nextCursor });
      }
    }
    return lists;
  }

  /** Tools and prompts of every backend that is up, under the names this endpoint offers. */
  private async catalog(ctx: RequestContext): Promise<{ tools: Item[]; prompts: Item[] }> {
    const up = await this.ready();
    const missing = (kind: 'tools' | 'prompts') =>
      up.filter((m) => m.capabilities[kind] && !this.catalogs.get(m)?.[kind]);
    const [tools, prompts] = await Promise.all([
      this.listAll(ctx, missing('tools'), 'tools/list', 'tools'),
      this.listAll(ctx, missing('prompts'), 'prompts/list', 'prompts'),
    ]);
    for (const [kind, lists] of [
      ['tools', tools],
      ['prompts', prompts],
    ] as const) {
      for (const [m, items] of lists) {
        const cached = this.catalogs.get(m) ?? {};
        cached[kind] = items;
        this.catalogs.set(m, cached);
      }
    }
    return {
      tools: this.offer(up, 'tools', this.tools),
      prompts: this.offer(up, 'prompts', this.prompts),
    };
  }

  /** One kind of item across members, renamed to the offered names (and the table rebuilt). */
  private offer(up: readonly Member[], kind: 'tools' | 'prompts', table: NameTable): Item[] {
    const { separator, prefixMode } = this.options;
    const per = up.map((m) => ({ m, items: this.catalogs.get(m)?.[kind] ?? [] }));
    const offered = table.rebuild(
      wantedNames(
        per.map(({ m, items }) => ({
          backend: m.name,
          prefix: `${m.target.config.prefix ?? m.name}${separator}`,
          names: items.map((i) => String(i.name)),
        })),
        prefixMode,
      ),
    );
    return per.flatMap(({ m, items }) =>
      items.map((i) => ({ ...i, name: offered.get(`${m.name}\0${String(i.name)}`) })),
    );
  }

  private async routeNamed(
    ctx: RequestContext,
    table: NameTable,
    kind: 'tool' | 'prompt',
  ): Promise<Outcome> {
    const { message } = ctx;
    const params = message.params ?? {};
    const asked = String(params.name ?? '');
    let route = table.resolve(asked);
    if (!route) {
      // A client may call without listing first, or before its backend has started.
      await this.catalog(ctx);
      route = table.resolve(asked);
    }
    let member = route && this.members.find((m) => m.name === route.backend);
    let name = route?.name;
    if (!member) {
      // Not offered: its backend may be down, or it may be left out of the caller's lists. A
      // prefixed name still says whose it is, and that backend's chain gives the real answer
      // (unavailable, forbidden, or its own "unknown tool").
      const owner = this.ownerByPrefix(asked);
      if (!owner) return errorReply(message.id, -32602, `Unknown ${kind}: ${asked}`);
      if (!owner.isUp) throw owner.unavailable();
      member = owner.member;
      name = asked.slice(owner.prefix.length);
    }
    ctx.message = { ...message, params: { ...params, name } };
    ctx.route = { backend: member.name, name, offered: asked };
    return member.dispatch(ctx);
  }

  /** Whose prefix a name carries, when names are prefixed. */
  private ownerByPrefix(name: string) {
    if (this.options.prefixMode === 'never') return undefined;
    const { separator } = this.options;
    for (const member of this.members) {
      const prefix = `${member.target.config.prefix ?? member.name}${separator}`;
      if (name.startsWith(prefix) && name.length > prefix.length)
        return { member, prefix, isUp: member.isUp, unavailable: () => member.unavailable() };
    }
    return undefined;
  }

  private async resourceLists(ctx: RequestContext, method: string, key: string) {
    const up = (await this.ready()).filter((m) => m.capabilities.resources);
    return this.listAll(ctx, up, method, key);
  }

  private async listResources(ctx: RequestContext): Promise<Item[]> {
    const lists = await this.resourceLists(ctx, 'resources/list', 'resources');
    for (const [m, items] of lists) {
      for (const r of items) {
        if (typeof r.uri === 'string' && !this.resourceOwner.has(r.uri))
          this.resourceOwner.set(r.uri, m);
      }
    }
    return [...lists.values()].flat();
  }

  private async listTemplates(ctx: RequestContext): Promise<Item[]> {
    const lists = await this.resourceLists(ctx, 'resources/templates/list', 'resourceTemplates');
    for (const [m, items] of lists)
      this.templates.set(
        m,
        items.map((t) => templateMatcher(String(t.uriTemplate))),
      );
    return [...lists.values()].flat();
  }

  /** The backend a URI belongs to: one that listed it, one whose template matches, or the only one with resources. */
  private async ownerOf(ctx: RequestContext, uri: string): Promise<Member | undefined> {
    const known = this.resourceOwner.get(uri);
    if (known?.isUp) return known;
    if (this.templates.size === 0) await this.listTemplates(ctx);
    for (const [m, matchers] of this.templates)
      if (m.isUp && matchers.some((match) => match(uri))) return m;
    if (!known) {
      await this.listResources(ctx);
      const listed = this.resourceOwner.get(uri);
      if (listed?.isUp) return listed;
    }
    const withResources = this.members.filter((m) => m.isUp && m.capabilities.resources);
    return withResources.length === 1 ? withResources[0] : undefined;
  }

  private async routeByUri(ctx: RequestContext, uri: string): Promise<Outcome> {
    const owner = await this.ownerOf(ctx, uri);
    if (!owner) return errorReply(ctx.message.id, -32002, `Resource not found: ${uri}`, { uri });
    ctx.route = { backend: owner.name };
    return owner.dispatch(ctx);
  }

  private async complete(ctx: RequestContext, params: Record<string, unknown>): Promise<Outcome> {
    const ref = (params.ref ?? {}) as Item;
    if (ref.type === 'ref/resource') return this.routeByUri(ctx, String(ref.uri ?? ''));
    if (ref.type !== 'ref/prompt')
      return errorReply(
        ctx.message.id,
        -32602,
        `Unknown completion reference type: ${String(ref.type)}`,
      );
    const asked = String(ref.name ?? '');
    let route = this.prompts.resolve(asked);
    if (!route) {
      await this.catalog(ctx);
      route = this.prompts.resolve(asked);
    }
    const member = route && this.members.find((m) => m.name === route.backend);
    if (!route || !member) return errorReply(ctx.message.id, -32602, `Unknown prompt: ${asked}`);
    ctx.message = { ...ctx.message, params: { ...params, ref: { ...ref, name: route.name } } };
    ctx.route = { backend: member.name, name: route.name, offered: asked };
    return member.dispatch(ctx);
  }

  // ── client notifications ───────────────────────────────────────────────────────────────

  async notify(message: JSONRPCNotification): Promise<void> {
    // Each member sent its own `initialized`; anything else concerns every backend.
    if (message.method === 'notifications/initialized') return;
    for (const m of this.members) if (m.isUp) m.notify(message);
  }

  // ── from members (Upstream) ────────────────────────────────────────────────────────────

  notification(message: JSONRPCNotification, backend: string, related?: RequestContext): void {
    if (
      message.method === 'notifications/tools/list_changed' ||
      message.method === 'notifications/prompts/list_changed'
    ) {
      const member = this.members.find((m) => m.name === backend);
      const cached = member && this.catalogs.get(member);
      if (cached) {
        if (message.method.includes('tools')) cached.tools = undefined;
        else cached.prompts = undefined;
      }
    }
    if (!this.closed) this.options.upstream.notification(message, backend, related);
  }

  request(message: JSONRPCRequest, backend: string): ServerRequest {
    return this.options.upstream.request(message, backend);
  }

  private emit(method: string): void {
    if (!this.closed) this.options.upstream.notification({ jsonrpc: '2.0', method }, '*');
  }

  private forget(member: Member): void {
    this.catalogs.delete(member);
    this.templates.delete(member);
    for (const [uri, owner] of this.resourceOwner)
      if (owner === member) this.resourceOwner.delete(uri);
  }

  private memberChanged(member: Member): void {
    if (!this.initParams) return;
    if (member.state !== 'up' && member.state !== 'down' && member.state !== 'failed') return;
    this.forget(member);
    // What the client can use changed: tell it to list again.
    if (member.capabilities.tools) this.emit('notifications/tools/list_changed');
    if (member.capabilities.prompts) this.emit('notifications/prompts/list_changed');
    if (member.capabilities.resources) this.emit('notifications/resources/list_changed');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.members.map((m) => m.close()));
  }
}

function ok(message: JSONRPCRequest, result: Record<string, unknown>): JSONRPCReply {
  return { jsonrpc: '2.0', id: message.id, result };
}
