import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Logger } from './logger.js';
import type {
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCReply,
  JSONRPCRequest,
  RequestId,
} from './jsonrpc.js';
import { isNotification, isReply, isRequest } from './jsonrpc.js';
import type { Direction, MessageContext, Outcome, Policy, Principal } from './policy.js';
import { compose } from './policy.js';
import { GatewayError, toErrorReply } from './errors.js';
import { channels } from './diagnostics.js';
import { withId } from './raw-json.js';

/**
 * The client-facing side of a session. Beyond the SDK's Transport contract it may want to hear
 * that a request ended without a reply (it was cancelled), so that it can release what it holds
 * for it, such as an open HTTP response.
 */
export interface ClientTransport extends Transport {
  requestEnded?(id: RequestId): void;
  /**
   * Told just before the session closes this transport, and why, so that it can end its
   * connection in its own terms (a WebSocket close code, say). `backendFailed` is true when the
   * backend went away, as opposed to an orderly end.
   */
  ending?(end: { reason: string; backendFailed: boolean }): void;
}

export interface SessionOptions {
  id: string;
  /** Name of the client-facing transport, for context and events. */
  transport: string;
  client: ClientTransport;
  /** The backend side: one backend transport, or (later) an aggregate of several. */
  target: Transport;
  policies: readonly Policy[];
  log: Logger;
  principal?: Principal;
  /** What the session is bound to, for events: a backend's name, or `*` when aggregated. */
  backend?: string;
  /** The client's IP address, for policies that limit by it. */
  remoteAddress?: string;
  /** Counts requests that ended and how many ended in an error; shared by a gateway's sessions. */
  counters?: { requests: number; errors: number };
}

type ProgressToken = string | number;

/**
 * A request forwarded to one side and waiting for its reply, under the id we gave it. One object
 * per request, not a set of closures: this is the hot path.
 */
class Pending {
  resolve!: (outcome: Outcome) => void;
  reject!: (error: unknown) => void;

  constructor(
    /** Where it is kept, by `id`. */
    private readonly table: Map<number, Pending>,
    /** The sender's id → `id`, for cancellation. */
    private readonly idOf: Map<RequestId, number>,
    /** Progress token → the sender's id, when the request has a token. */
    private readonly progressOwner: Map<ProgressToken, RequestId> | undefined,
    readonly id: number,
    /** The id the sender used, put back on the reply. */
    readonly senderId: RequestId,
    readonly token: ProgressToken | undefined,
  ) {}

  /** Ends the wait: a reply, `undefined` (ended without one), or an error. */
  settle(outcome: Outcome | Error): void {
    this.forget();
    if (outcome instanceof Error) this.reject(outcome);
    else this.resolve(outcome && withId(outcome, this.senderId));
  }

  /** The message could not be sent: fails the request, unless it has already ended. */
  sendFailed(error: unknown): void {
    if (this.table.get(this.id) !== this) return;
    this.forget();
    this.reject(error);
  }

  private forget(): void {
    this.table.delete(this.id);
    this.idOf.delete(this.senderId);
    if (this.token !== undefined) this.progressOwner?.delete(this.token);
  }
}

/**
 * The context of one request. Its abort signal is made on first use: most requests never look
 * at it, and an AbortController with a listener on the session's lifetime costs more than the
 * rest of the request's bookkeeping together.
 */
class RequestContext implements MessageContext {
  principal: Principal | undefined;
  private controller: AbortController | undefined;
  /** Set when the request has ended; `abortedWhenEnded`: whether the session had ended first. */
  private ended = false;
  private abortedWhenEnded = false;

  constructor(
    readonly message: JSONRPCRequest,
    readonly direction: Direction,
    readonly sessionId: string,
    readonly transport: string,
    principal: Principal | undefined,
    readonly log: Logger,
    readonly backend: string | undefined,
    readonly remoteAddress: string | undefined,
    /** The session's lifetime, and the controllers of its requests in flight. */
    private readonly lifetime: AbortSignal,
    private readonly live: Set<AbortController>,
  ) {
    this.principal = principal;
  }

  /** Aborted when the session ends while the request is in flight; never after it has ended. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.ended ? this.abortedWhenEnded : this.lifetime.aborted)
        this.controller.abort(this.lifetime.reason);
      else if (!this.ended) this.live.add(this.controller);
    }
    return this.controller.signal;
  }

  end(): void {
    this.ended = true;
    this.abortedWhenEnded = this.lifetime.aborted;
    if (this.controller !== undefined) this.live.delete(this.controller);
  }
}

const none = (): Outcome => undefined;

function isGatewayFailure(reply: JSONRPCReply): boolean {
  const code = (
    'error' in reply ? (reply.error.data as { code?: unknown } | undefined)?.code : undefined
  ) as string | undefined;
  return typeof code === 'string' && code.startsWith('GATEWAY_BACKEND_');
}

/** How long a closing session waits for replies still being written. */
const DRAIN_MS = 1000;

/**
 * Binds one client to one target and carries every message between them through the policy
 * chain. Request ids are rewritten on the way in both directions (each side sees ids it can
 * never confuse with its own), so responses, cancellations and progress always reach the peer
 * that is waiting for them.
 */
export class Session {
  readonly id: string;
  readonly transport: string;
  readonly backend: string | undefined;
  readonly remoteAddress: string | undefined;
  private readonly counters: { requests: number; errors: number } | undefined;
  principal: Principal | undefined;
  /** When the client last sent anything (ms since the epoch); the idle sweep reads it. */
  lastActivity = Date.now();
  /** Called once when the session has ended, with the reason. */
  onclose?: (reason: string) => void;

  private readonly client: ClientTransport;
  private readonly target: Transport;
  private readonly log: Logger;
  private readonly runToServer: (ctx: MessageContext) => Promise<Outcome>;
  private readonly runToClient: (ctx: MessageContext) => Promise<Outcome>;
  private readonly lifetime = new AbortController();

  private nextServerId = 1;
  private nextClientId = 1;
  /** Requests in flight to the target, by the id the target sees. */
  private readonly toServer = new Map<number, Pending>();
  /** Requests in flight to the client (sampling, elicitation, roots), by the id the client sees. */
  private readonly toClient = new Map<number, Pending>();
  /** The client's request id → the id the target sees, for cancellation. */
  private readonly serverIdOf = new Map<RequestId, number>();
  /** The target's request id → the id the client sees, for cancellation. */
  private readonly clientIdOf = new Map<RequestId, number>();
  /** Progress token → the client's request id it belongs to. */
  private readonly progressOwner = new Map<ProgressToken, RequestId>();
  /** Abort controllers of requests in flight whose policies asked for `ctx.signal`. */
  private readonly requestSignals = new Set<AbortController>();
  /** Messages still going through the chain, and who waits for there to be none. */
  private dispatching = 0;
  private idle: { promise: Promise<void>; resolve: () => void } | undefined;
  private closed = false;

  constructor(options: SessionOptions) {
    this.id = options.id;
    this.transport = options.transport;
    this.backend = options.backend;
    this.remoteAddress = options.remoteAddress;
    this.counters = options.counters;
    this.client = options.client;
    this.target = options.target;
    this.log = options.log;
    this.principal = options.principal;
    this.runToServer = compose(options.policies, (ctx) =>
      isRequest(ctx.message) ? this.forwardToServer(ctx) : this.target.send(ctx.message).then(none),
    );
    this.runToClient = compose(options.policies, (ctx) =>
      isRequest(ctx.message)
        ? this.forwardToClient(ctx)
        : this.client.send(ctx.message, { relatedRequestId: ctx.relatedRequestId }).then(none),
    );
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Number of requests in flight in either direction. */
  get inFlight(): number {
    return this.toServer.size + this.toClient.size;
  }

  /** Starts the target, then the client side. Rejects (and closes) if the target cannot start. */
  async start(): Promise<void> {
    this.target.onmessage = (message) => this.fromTarget(message);
    this.target.onclose = () => void this.targetClosed();
    this.target.onerror = (error) => this.log.warn({ err: error }, 'target transport error');
    this.client.onmessage = (message) => this.fromClient(message);
    this.client.onclose = () => void this.close('client closed');
    this.client.onerror = (error) => this.log.warn({ err: error }, 'client transport error');
    try {
      await this.target.start();
      await this.client.start();
    } catch (error) {
      await this.close('start failed');
      throw error;
    }
    if (channels.sessionOpen.hasSubscribers) {
      channels.sessionOpen.publish({
        sessionId: this.id,
        transport: this.transport,
        backend: this.backend,
      });
    }
  }

  // ── client → target ────────────────────────────────────────────────────────────────────

  private fromClient(message: JSONRPCMessage): void {
    if (this.closed) return;
    this.lastActivity = Date.now();
    if (isRequest(message)) void this.dispatchRequest(message, 'to-server');
    else if (isNotification(message)) void this.dispatchNotification(message, 'to-server');
    else this.settleReply(this.toClient, message);
  }

  private forwardToServer(ctx: MessageContext): Promise<Outcome> {
    const message = ctx.message as JSONRPCRequest;
    const id = this.nextServerId++;
    const token = (message.params?._meta as { progressToken?: ProgressToken } | undefined)
      ?.progressToken;
    const pending = new Pending(
      this.toServer,
      this.serverIdOf,
      this.progressOwner,
      id,
      message.id,
      token,
    );
    const reply = new Promise<Outcome>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
    });
    this.toServer.set(id, pending);
    this.serverIdOf.set(message.id, id);
    if (token !== undefined) this.progressOwner.set(token, message.id);
    this.target.send({ ...message, id }).catch((error: unknown) => pending.sendFailed(error));
    return reply;
  }

  // ── target → client ────────────────────────────────────────────────────────────────────

  private fromTarget(message: JSONRPCMessage): void {
    if (this.closed) return;
    if (isReply(message)) this.settleReply(this.toServer, message);
    else if (isRequest(message)) void this.dispatchRequest(message, 'to-client');
    else void this.dispatchNotification(message, 'to-client');
  }

  private forwardToClient(ctx: MessageContext): Promise<Outcome> {
    const message = ctx.message as JSONRPCRequest;
    const id = this.nextClientId++;
    const pending = new Pending(
      this.toClient,
      this.clientIdOf,
      undefined,
      id,
      message.id,
      undefined,
    );
    const reply = new Promise<Outcome>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
    });
    this.toClient.set(id, pending);
    this.clientIdOf.set(message.id, id);
    this.client.send({ ...message, id }).catch((error: unknown) => pending.sendFailed(error));
    return reply;
  }

  // ── shared by both directions ──────────────────────────────────────────────────────────

  private async dispatchRequest(message: JSONRPCRequest, direction: Direction): Promise<void> {
    this.dispatching++;
    try {
      const ctx = new RequestContext(
        message,
        direction,
        this.id,
        this.transport,
        this.principal,
        this.log,
        this.backend,
        this.remoteAddress,
        this.lifetime.signal,
        this.requestSignals,
      );
      const started = channels.requestEnd.hasSubscribers ? performance.now() : 0;
      if (channels.requestStart.hasSubscribers) {
        channels.requestStart.publish({
          sessionId: this.id,
          direction,
          method: message.method,
          id: message.id,
        });
      }
      let outcome: Outcome;
      try {
        outcome = await (direction === 'to-server' ? this.runToServer(ctx) : this.runToClient(ctx));
      } catch (error) {
        outcome = toErrorReply(message.id, error);
        if (!(error instanceof GatewayError))
          this.log.error({ err: error, method: message.method }, 'request failed');
      } finally {
        ctx.end();
      }
      if (direction === 'to-server') this.abandonAtTarget(message.id);
      if (this.counters) {
        this.counters.requests++;
        if (outcome && 'error' in outcome) this.counters.errors++;
      }
      if (channels.requestEnd.hasSubscribers) {
        const code =
          outcome && 'error' in outcome
            ? (outcome.error.data as { code?: string } | undefined)?.code
            : undefined;
        channels.requestEnd.publish({
          sessionId: this.id,
          direction,
          method: message.method,
          id: message.id,
          durationMs: performance.now() - started,
          error: code ?? (outcome && 'error' in outcome ? outcome.error.code : undefined),
        });
      }
      if (direction === 'to-server') {
        if (message.method === 'initialize' && outcome && 'result' in outcome) {
          const version = (outcome.result as { protocolVersion?: unknown }).protocolVersion;
          if (typeof version === 'string') {
            this.client.setProtocolVersion?.(version);
            this.target.setProtocolVersion?.(version);
          }
        }
        if (outcome === undefined) this.client.requestEnded?.(message.id);
        else await this.sendToClient(outcome, message.id);
        // A session whose backend could not even answer initialize has nothing to serve.
        if (
          message.method === 'initialize' &&
          outcome &&
          'error' in outcome &&
          isGatewayFailure(outcome)
        ) {
          void this.close('initialize failed', true);
        }
      } else if (outcome !== undefined) {
        await this.target.send(outcome).catch((error: unknown) => {
          this.log.debug({ err: error }, 'could not return a reply to the target');
        });
      }
    } finally {
      this.dispatched();
    }
  }

  private async dispatchNotification(
    message: JSONRPCNotification,
    direction: Direction,
  ): Promise<void> {
    this.dispatching++;
    try {
      let related: RequestId | undefined;
      let forwarded = message;
      if (message.method === 'notifications/cancelled') {
        forwarded = this.mapCancellation(message, direction);
      } else if (message.method === 'notifications/progress' && direction === 'to-client') {
        const token = (message.params as { progressToken?: ProgressToken } | undefined)
          ?.progressToken;
        if (token !== undefined) related = this.progressOwner.get(token);
      }
      const ctx: MessageContext = {
        message: forwarded,
        direction,
        sessionId: this.id,
        transport: this.transport,
        principal: this.principal,
        signal: this.lifetime.signal,
        log: this.log,
        relatedRequestId: related,
        backend: this.backend,
        remoteAddress: this.remoteAddress,
      };
      try {
        await (direction === 'to-server' ? this.runToServer(ctx) : this.runToClient(ctx));
      } catch (error) {
        // A notification has no reply to carry an error; a policy that stops one says why in the log.
        this.log.debug({ err: error, method: message.method }, 'notification stopped');
      }
    } finally {
      this.dispatched();
    }
  }

  /**
   * A policy answered (a timeout, say) while the request was still with the target: tell the
   * target to stop, and forget the request, so a late reply is dropped.
   */
  private abandonAtTarget(clientId: RequestId): void {
    const id = this.serverIdOf.get(clientId);
    if (id === undefined) return;
    this.toServer.get(id)?.settle(undefined);
    void this.target
      .send({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: id, reason: 'the gateway gave up on it' },
      })
      .catch(() => {});
  }

  /**
   * A cancellation names a request by the id its sender used; the receiver knows it by the id we
   * gave it. The request we were waiting on ends without a reply, as the protocol asks.
   */
  private mapCancellation(message: JSONRPCNotification, direction: Direction): JSONRPCNotification {
    const params = message.params as { requestId?: RequestId } | undefined;
    if (params?.requestId === undefined) return message;
    const table = direction === 'to-server' ? this.toServer : this.toClient;
    const mapped =
      direction === 'to-server'
        ? this.serverIdOf.get(params.requestId)
        : this.clientIdOf.get(params.requestId);
    if (mapped === undefined) return message;
    table.get(mapped)?.settle(undefined);
    return { ...message, params: { ...params, requestId: mapped } };
  }

  private settleReply(table: Map<number, Pending>, reply: JSONRPCReply): void {
    const pending = typeof reply.id === 'number' ? table.get(reply.id) : undefined;
    if (!pending) {
      // A late reply to a cancelled request, or a peer answering something nobody asked.
      this.log.debug({ id: reply.id }, 'reply to no pending request; dropped');
      return;
    }
    pending.settle(reply);
  }

  private async sendToClient(reply: JSONRPCReply, related: RequestId): Promise<void> {
    await this.client.send(reply, { relatedRequestId: related }).catch((error: unknown) => {
      this.log.debug({ err: error }, 'could not deliver a reply to the client');
    });
  }

  /** One message has gone through the chain; wakes `drain` when it was the last. */
  private dispatched(): void {
    if (--this.dispatching === 0 && this.idle) {
      this.idle.resolve();
      this.idle = undefined;
    }
  }

  private async targetClosed(): Promise<void> {
    if (this.closed) return;
    const error =
      (this.target as { unavailable?: () => GatewayError }).unavailable?.() ??
      new GatewayError('GATEWAY_BACKEND_EXITED', 'the backend connection closed');
    this.log.warn(
      { reason: error.message },
      'backend ended; failing its pending requests and closing the session',
    );
    for (const pending of [...this.toServer.values()]) pending.settle(error);
    await this.drain();
    await this.close('backend exited', true);
  }

  /** Waits (at most DRAIN_MS) until no message is going through the chain. */
  private async drain(): Promise<void> {
    if (this.dispatching === 0) return;
    if (!this.idle) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.idle = { promise, resolve };
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.idle.promise,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS))),
    ]);
    clearTimeout(timer);
  }

  /** Ends the session: fails what is in flight, closes both sides. Safe to call more than once. */
  async close(reason: string, backendFailed = false): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.ending?.({ reason, backendFailed });
    const error = new GatewayError('GATEWAY_SESSION_CLOSED', reason);
    this.lifetime.abort(error);
    for (const controller of [...this.requestSignals]) controller.abort(error);
    this.requestSignals.clear();
    for (const pending of [...this.toServer.values()]) pending.settle(error);
    for (const pending of [...this.toClient.values()]) pending.settle(error);
    // Let the failed requests' error replies reach the client before its streams close.
    await this.drain();
    await Promise.allSettled([this.target.close(), this.client.close()]);
    if (channels.sessionClose.hasSubscribers) {
      channels.sessionClose.publish({ sessionId: this.id, transport: this.transport, reason });
    }
    this.log.debug({ reason }, 'session closed');
    this.onclose?.(reason);
  }
}
