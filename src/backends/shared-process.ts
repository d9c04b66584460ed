import type { BackendTransport } from './transport.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import type {
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCReply,
  JSONRPCRequest,
  RequestId,
} from '../core/jsonrpc.js';
import {
  errorReply,
  isNotification,
  isReply,
  isRequest,
  progressTokenOf,
} from '../core/jsonrpc.js';
import { RequestTracker } from '../core/request-tracker.js';
import { ThrottledWarning } from '../core/throttled-warning.js';
import type { Logger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';
import { version as gatewayVersion } from '../version.js';
import { Channel } from './shared-channel.js';
import type { ChannelHost } from './shared-channel.js';
import { withId } from '../core/raw-json.js';
import { LOG_LEVELS } from '../core/jsonrpc.js';

/*
 * One backend process serving many client sessions. The gateway is the process's only MCP
 * client: it initializes it once, offering sampling, elicitation and roots so the server may ask
 * for them, and gives each session a Channel that looks like a process of its own. Every message
 * the process sends goes to the one session it belongs to:
 *
 * - replies, by the request id the gateway gave the request;
 * - progress, by the progress token the gateway gave the request;
 * - resources/updated, to the sessions subscribed to that URI;
 * - log messages, to the sessions whose level admits them;
 * - list_changed and other server-wide notifications, to every session, as each would have
 *   heard them on a connection of its own;
 * - the server's own requests (sampling, elicitation, roots), to the session whose call is in
 *   flight. stdio carries no field that says which call a server request comes from, so with
 *   `serializeCalls` (the default) calls run one at a time per process and the answer is always
 *   certain; without it, a server request is routed only when exactly one session has calls in
 *   flight, and refused with an error otherwise. It is never guessed.
 */

type ProgressToken = string | number;

/** Methods that never lead a server to ask the client anything: they run without the gate. */
const UNGATED = new Set([
  'ping',
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'completion/complete',
  'tasks/get',
  'tasks/list',
  'tasks/cancel',
  'resources/subscribe',
  'resources/unsubscribe',
  'logging/setLevel',
]);

interface InFlight {
  channel: Channel;
  originalId: RequestId;
  token?: { rewritten: ProgressToken; original: ProgressToken };
  gated: boolean;
}

export interface SharedProcessOptions {
  name: string;
  log: Logger;
  serializeCalls: boolean;
  /** Creates the process's transport (not started). Called again after the process ends. */
  spawn: () => BackendTransport;
}

export class SharedProcess implements ChannelHost {
  private transport: BackendTransport | undefined;
  private ready: Promise<Record<string, unknown>> | undefined;
  /** The sessions' requests in flight, under the ids the process sees. */
  private readonly inFlight = new RequestTracker<InFlight>();
  /** Ids of the gateway's own requests (initialize, subscriptions), apart from the sessions'. */
  private ownId = 1;
  private nextToken = 1;
  private readonly serverRequests = new Map<RequestId, Channel>();
  private readonly channels = new Set<Channel>();
  private readonly subscriptions = new Map<string, Set<Channel>>();
  /** Calls waiting for the gate, in arrival order. */
  private readonly queue: Array<() => void> = [];
  private gateBusy = false;
  private initializing: ((reply: JSONRPCReply) => void) | undefined;
  private assigned = 0;
  private idleSince: number | undefined;

  /** A server that asks often must not write a warning each time. */
  private readonly refused: ThrottledWarning;

  constructor(private readonly options: SharedProcessOptions) {
    this.refused = new ThrottledWarning(
      options.log,
      'shared backend request refused: stdio does not say which session it is for',
    );
  }

  /** How long the process has run with no session (0 when it has sessions or is not running). */
  idleFor(): number {
    if (!this.transport || this.assigned > 0) {
      this.idleSince = undefined;
      return 0;
    }
    this.idleSince ??= Date.now();
    return Date.now() - this.idleSince;
  }

  /** Sessions assigned to this process, counted from the moment they are assigned. */
  get sessionCount(): number {
    return this.assigned;
  }

  /** Process id while running, for stdio transports. */
  get pid(): number | undefined {
    return this.transport?.pid;
  }

  channel(log: Logger): Channel {
    this.assigned++;
    return new Channel(this, log, () => this.assigned--);
  }

  /** Starts the process and initializes it, once; later callers share the same promise. */
  ensureReady(): Promise<Record<string, unknown>> {
    this.ready ??= this.start().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async start(): Promise<Record<string, unknown>> {
    const transport = this.options.spawn();
    this.transport = transport;
    transport.onmessage = (message) => this.fromProcess(message);
    transport.onclose = () => this.processEnded(transport);
    transport.onerror = (error) =>
      this.options.log.warn({ err: error }, 'shared backend transport error');
    await transport.start();
    const id = `mcp-bridge-own-${this.ownId++}`;
    const reply = await new Promise<JSONRPCReply>((resolve, reject) => {
      this.initializing = resolve;
      transport
        .send({
          jsonrpc: '2.0',
          id,
          method: 'initialize',
          params: {
            protocolVersion: LATEST_PROTOCOL_VERSION,
            capabilities: {
              sampling: {},
              elicitation: { form: {}, url: {} },
              roots: { listChanged: true },
            },
            clientInfo: { name: 'mcp-bridge', version: gatewayVersion },
          },
        })
        .catch(reject);
    });
    this.initializing = undefined;
    if ('error' in reply) {
      await transport.close();
      throw new GatewayError(
        'GATEWAY_BACKEND_UNAVAILABLE',
        `${this.options.name} refused initialize: ${reply.error.message}`,
      );
    }
    await transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    this.options.log.info(
      { process: this.options.name, pid: this.pid },
      'shared backend process ready',
    );
    return reply.result as Record<string, unknown>;
  }

  private processEnded(transport: BackendTransport): void {
    if (this.transport !== transport) return;
    this.transport = undefined;
    this.ready = undefined;
    const error = transport.unavailable();
    if (this.initializing) this.initializing(errorReply(null, error.rpcCode, error.message));
    this.inFlight.takeAll();
    this.serverRequests.clear();
    this.subscriptions.clear();
    this.gateBusy = false;
    this.queue.length = 0;
    // Every session on this process loses its backend, as a per-session process would.
    for (const channel of [...this.channels]) channel.backendEnded(error);
  }

  // ── from a session ─────────────────────────────────────────────────────────────────────

  attach(channel: Channel): void {
    this.channels.add(channel);
  }

  async request(channel: Channel, message: JSONRPCRequest): Promise<void> {
    const transport = this.transport;
    if (!transport)
      throw new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', `${this.options.name} is not running`);
    const gated = this.options.serializeCalls && !UNGATED.has(message.method);
    if (gated) await this.acquire();
    if (this.transport !== transport || !this.channels.has(channel)) {
      if (gated) this.release();
      throw new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', `${this.options.name} is not running`);
    }
    const entry: InFlight = { channel, originalId: message.id, gated };
    let params = message.params;
    const original = progressTokenOf(message);
    if (original !== undefined) {
      // Two sessions may pick the same token; the process must see distinct ones.
      const rewritten = `mcp-bridge-${this.nextToken++}`;
      entry.token = { rewritten, original };
      params = { ...params, _meta: { ...params!._meta, progressToken: rewritten } };
    }
    const id = this.inFlight.open(entry, entry.token?.rewritten);
    await transport.send({ ...message, id, params }).catch((error: unknown) => {
      this.finish(id);
      throw error;
    });
  }

  notify(channel: Channel, message: JSONRPCNotification): Promise<void> {
    if (message.method === 'notifications/cancelled') {
      const requestId = message.params?.requestId as RequestId | undefined;
      for (const [id, entry] of this.inFlight) {
        if (entry.channel === channel && entry.originalId === requestId) {
          this.finish(id);
          return this.forward({ ...message, params: { ...message.params, requestId: id } });
        }
      }
      return Promise.resolve();
    }
    return this.forward(message);
  }

  /** A session's answer to a server request: back to the process under the server's own id. */
  answer(channel: Channel, reply: JSONRPCReply): Promise<void> {
    if (reply.id === undefined || this.serverRequests.get(reply.id) !== channel)
      return Promise.resolve();
    this.serverRequests.delete(reply.id);
    return this.forward(reply);
  }

  subscribe(channel: Channel, uri: string, on: boolean): boolean {
    let set = this.subscriptions.get(uri);
    if (on) {
      if (!set) this.subscriptions.set(uri, (set = new Set()));
      set.add(channel);
      return set.size === 1;
    }
    if (!set?.delete(channel)) return false;
    if (set.size > 0) return false;
    this.subscriptions.delete(uri);
    return true;
  }

  /** The most verbose level any session asked for; the process logs at that. */
  lowestLogLevel(): string | undefined {
    let lowest: number | undefined;
    for (const channel of this.channels) {
      const level = channel.logLevel === undefined ? -1 : LOG_LEVELS.indexOf(channel.logLevel);
      if (level >= 0 && (lowest === undefined || level < lowest)) lowest = level;
    }
    return lowest === undefined ? undefined : LOG_LEVELS[lowest];
  }

  detach(channel: Channel): void {
    if (!this.channels.delete(channel)) return;
    for (const [id, entry] of this.inFlight) {
      if (entry.channel !== channel) continue;
      this.finish(id);
      void this.forward({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: id, reason: 'client session ended' },
      }).catch(() => {});
    }
    for (const [requestId, owner] of this.serverRequests) {
      if (owner !== channel) continue;
      this.serverRequests.delete(requestId);
      void this.forward(
        errorReply(requestId, -32603, 'the client session this request was for has ended'),
      ).catch(() => {});
    }
    for (const uri of [...this.subscriptions.keys()]) {
      if (this.subscribe(channel, uri, false)) {
        void this.forward({
          jsonrpc: '2.0',
          id: `mcp-bridge-own-${this.ownId++}`,
          method: 'resources/unsubscribe',
          params: { uri },
        }).catch(() => {});
      }
    }
  }

  /** Sends a request of the gateway's own (subscribe, setLevel) whose reply nobody awaits. */
  sendOwn(method: string, params: Record<string, unknown>): Promise<void> {
    return this.forward({ jsonrpc: '2.0', id: `mcp-bridge-own-${this.ownId++}`, method, params });
  }

  private forward(message: JSONRPCMessage): Promise<void> {
    if (!this.transport)
      return Promise.reject(
        new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', `${this.options.name} is not running`),
      );
    return this.transport.send(message);
  }

  private acquire(): Promise<void> {
    if (!this.gateBusy) {
      this.gateBusy = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  /** Hands the gate to the next waiting call, or opens it. */
  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.gateBusy = false;
  }

  private finish(id: number): InFlight | undefined {
    const entry = this.inFlight.take(id);
    if (!entry) return undefined;
    if (entry.gated) this.release();
    return entry;
  }

  // ── from the process ───────────────────────────────────────────────────────────────────

  private fromProcess(message: JSONRPCMessage): void {
    if (isReply(message)) {
      if (this.initializing) {
        this.initializing(message);
        return;
      }
      const entry = typeof message.id === 'number' ? this.finish(message.id) : undefined;
      entry?.channel.deliver(withId(message, entry.originalId));
      return;
    }
    if (isRequest(message)) {
      this.routeServerRequest(message);
      return;
    }
    if (isNotification(message)) this.routeNotification(message);
  }

  private routeServerRequest(message: JSONRPCRequest): void {
    const owners = new Set<Channel>();
    for (const [, entry] of this.inFlight) owners.add(entry.channel);
    if (owners.size === 1) {
      const [owner] = owners;
      this.serverRequests.set(message.id, owner!);
      owner!.deliver(message);
      return;
    }
    const why =
      owners.size === 0
        ? 'no client call is in flight that it could belong to'
        : `${owners.size} client sessions have calls in flight and stdio does not say which one asked`;
    this.refused.warn({ method: message.method, owners: owners.size, why });
    void this.forward(
      errorReply(message.id, -32603, `mcp-bridge cannot route ${message.method}: ${why}`),
    ).catch(() => {});
  }

  private routeNotification(message: JSONRPCNotification): void {
    const params = message.params as Record<string, unknown> | undefined;
    switch (message.method) {
      case 'notifications/progress': {
        const token = params?.progressToken;
        const id =
          typeof token === 'string' || typeof token === 'number'
            ? this.inFlight.idOfToken(token)
            : undefined;
        const entry = id === undefined ? undefined : this.inFlight.get(id);
        if (entry?.token)
          entry.channel.deliver({
            ...message,
            params: { ...params, progressToken: entry.token.original },
          });
        return;
      }
      case 'notifications/cancelled': {
        const owner = this.serverRequests.get(params?.requestId as RequestId);
        if (owner) {
          this.serverRequests.delete(params?.requestId as RequestId);
          owner.deliver(message);
        }
        return;
      }
      case 'notifications/resources/updated': {
        for (const channel of this.subscriptions.get(params?.uri as string) ?? [])
          channel.deliver(message);
        return;
      }
      case 'notifications/message': {
        const level = LOG_LEVELS.indexOf(params?.level as string);
        for (const channel of this.channels) {
          const wanted = channel.logLevel === undefined ? 0 : LOG_LEVELS.indexOf(channel.logLevel);
          if (level >= wanted) channel.deliver(message);
        }
        return;
      }
      default:
        for (const channel of this.channels) channel.deliver(message);
    }
  }

  async close(): Promise<void> {
    const transport = this.transport;
    this.transport = undefined;
    this.ready = undefined;
    await transport?.close();
  }
}
