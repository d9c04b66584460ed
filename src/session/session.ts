import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Logger } from '../core/logger.js';
import type {
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCReply,
  JSONRPCRequest,
  RequestId,
} from '../core/jsonrpc.js';
import {
  errorLabelOf,
  errorReply,
  gatewayCodeOf,
  isNotification,
  isRequest,
} from '../core/jsonrpc.js';
import { RequestContext } from '../core/context.js';
import type { Principal, SessionRef } from '../core/context.js';
import type { Outcome, Policy } from '../core/policy.js';
import { compose } from '../core/policy.js';
import { GatewayError, toErrorReply } from '../core/errors.js';
import { channels } from '../core/diagnostics.js';
import { withId } from '../core/raw-json.js';
import { RequestTracker } from '../core/request-tracker.js';
import { isModernMessage } from '../era/modern.js';
import type { ServerRequest, Upstream } from '../targets/link.js';
import type { SessionTarget } from '../targets/target.js';

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
  /**
   * Whether the client holds a stream open now. A transport that can be idle with nothing open
   * (Streamable HTTP between requests) says so; a connection transport is open while it lives.
   */
  readonly streamOpen?: boolean;
}

export interface SessionOptions {
  id: string;
  /** Name of the client-facing transport, for context and events. */
  transport: string;
  client: ClientTransport;
  /** What the session is bound to: a backend's name, or `*` for the aggregated endpoint. */
  endpoint: string;
  /** Makes the session's target; the session is where the target's own messages go. */
  target: (upstream: Upstream) => SessionTarget;
  /** The gateway-wide chain every client request runs before its target. @default [] */
  policies?: readonly Policy[];
  /** The chain a server's requests to the client run. @default [] */
  toClientPolicies?: readonly Policy[];
  log: Logger;
  principal?: Principal;
  /** The client's IP address, for policies that limit by it. */
  remoteAddress?: string;
  /** Counts requests that ended and how many ended in an error; shared by a gateway's sessions. */
  counters?: { requests: number; errors: number };
  /**
   * How long the session may go without a successful `initialize` before it is ended (0: no
   * bound). A session exists for a client that completed its handshake; one that never does
   * must not hold a backend process. @default 0
   */
  handshakeTimeoutMs?: number;
  /**
   * Serves the 2026-07-28 messages of a connection transport (stdio, Unix socket, WebSocket,
   * TCP), where both eras may share one connection: those never reach the target as they are.
   */
  modern?: ModernServer;
}

/** What serves a modern request that came in on a session's connection (src/era). */
export interface ModernServer {
  serve(request: {
    message: JSONRPCRequest;
    peer: { principal?: Principal; remoteAddress?: string };
    sink: { notify(message: JSONRPCNotification): void };
    onAbandon(listener: () => void): void;
  }): Promise<{ reply: JSONRPCReply }>;
}

/** A server's request waiting for the client's answer. */
interface ClientWait {
  resolve(reply: JSONRPCReply): void;
}

/** How long a closing session waits for replies still being written. */
const DRAIN_MS = 1000;

/**
 * Binds one client to one target. Each client request becomes a RequestContext and runs the
 * gateway-wide chain, then the target (which routes it and runs its backend's chain). The
 * target's own messages come back through the Upstream this session is: notifications go to the
 * client on the stream of the request they concern, and server requests run their own chain and
 * go to the client under ids of the session's, so replies in either direction always reach the
 * one waiting for them.
 */
export class Session implements Upstream {
  readonly id: string;
  readonly transport: string;
  readonly endpoint: string;
  readonly remoteAddress: string | undefined;
  principal: Principal | undefined;
  /** When the client last sent anything (ms since the epoch); the idle sweep reads it. */
  lastActivity = Date.now();
  /** Called once when the session has ended, with the reason. */
  onclose?: (reason: string) => void;
  /** Called once when the client's `initialize` has succeeded. */
  oninitialized?: () => void;
  readonly target: SessionTarget;

  private readonly ref: SessionRef;
  private readonly client: ClientTransport;
  private readonly log: Logger;
  private readonly counters: { requests: number; errors: number } | undefined;
  private readonly toServer: (ctx: RequestContext) => Promise<Outcome>;
  private readonly toClient: (ctx: RequestContext) => Promise<Outcome>;
  /** The client's requests in flight, by the client's id: cancellation finds them here. */
  private readonly inflight = new Map<RequestId, RequestContext>();
  /** The servers' requests waiting for the client, by the id the client sees. */
  private readonly asked = new RequestTracker<ClientWait>();
  /** Messages still going through a chain, and who waits for there to be none. */
  private dispatching = 0;
  private idle: { promise: Promise<void>; resolve: () => void } | undefined;
  private closed = false;
  /** Whether `initialize` has succeeded; until then a timer bounds the session's life. */
  private initialized = false;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private readonly handshakeTimeoutMs: number;
  private readonly modern: ModernServer | undefined;
  /** Modern requests in flight on this connection, by the client's id: how to abandon each. */
  private readonly modernInflight = new Map<
    RequestId,
    { abandon?: () => void; cancelled?: boolean }
  >();

  constructor(options: SessionOptions) {
    this.id = options.id;
    this.transport = options.transport;
    this.endpoint = options.endpoint;
    this.remoteAddress = options.remoteAddress;
    this.counters = options.counters;
    this.client = options.client;
    this.log = options.log;
    this.principal = options.principal;
    this.ref = { id: this.id, endpoint: this.endpoint };
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 0;
    this.modern = options.modern;
    this.target = options.target(this);
    this.toServer = compose(options.policies ?? [], (ctx) => this.target.dispatch(ctx));
    this.toClient = compose(options.toClientPolicies ?? [], (ctx) => this.askClient(ctx));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether the client holds a stream open (true for connection transports). */
  get clientConnected(): boolean {
    return this.client.streamOpen ?? true;
  }

  /** Whether the client has completed its handshake (`initialize` succeeded). */
  get isInitialized(): boolean {
    return this.initialized;
  }

  /** Number of requests in flight in either direction. */
  get inFlight(): number {
    return this.inflight.size + this.asked.size;
  }

  /**
   * What a drain waits for: the client's requests. A server's request to the client is not
   * waited for, as its answer would go to a backend that the drain is about to close.
   */
  get clientRequestsInFlight(): number {
    return this.inflight.size;
  }

  /** Starts the target, then the client side. Rejects (and closes) if the target cannot start. */
  async start(): Promise<void> {
    this.target.onclose = (error) => void this.targetClosed(error);
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
    if (this.handshakeTimeoutMs > 0 && !this.initialized) {
      this.handshakeTimer = setTimeout(() => {
        this.log.info(
          { ms: this.handshakeTimeoutMs },
          'no completed initialize; ending the session',
        );
        void this.close('handshake not completed');
      }, this.handshakeTimeoutMs);
      this.handshakeTimer.unref();
    }
    if (channels.sessionOpen.hasSubscribers) {
      channels.sessionOpen.publish({
        sessionId: this.id,
        transport: this.transport,
        backend: this.endpoint,
      });
    }
  }

  // ── client → target ────────────────────────────────────────────────────────────────────

  private fromClient(message: JSONRPCMessage): void {
    if (this.closed) return;
    this.lastActivity = Date.now();
    if (
      this.modern !== undefined &&
      (isModernMessage(message) || (this.modernInflight.size > 0 && this.cancelsModern(message)))
    ) {
      this.fromModernClient(message);
      return;
    }
    if (isRequest(message)) void this.dispatchRequest(message);
    else if (isNotification(message)) this.clientNotification(message);
    else this.asked.settle(message)?.resolve(message);
  }

  /**
   * A 2026-07-28 message on a connection shared with (or instead of) a legacy session: served
   * by the modern path, its reply and notifications written back on this connection. Modern
   * traffic keeps a connection that never sends `initialize`.
   */
  private fromModernClient(message: JSONRPCMessage): void {
    clearTimeout(this.handshakeTimer);
    if (isNotification(message)) {
      if (message.method !== 'notifications/cancelled') return;
      const id = message.params?.requestId as RequestId | undefined;
      const entry = id === undefined ? undefined : this.modernInflight.get(id);
      if (entry === undefined) return;
      this.modernInflight.delete(id!);
      entry.cancelled = true;
      entry.abandon?.();
      return;
    }
    if (!isRequest(message)) return;
    const entry: { abandon?: () => void; cancelled?: boolean } = {};
    this.modernInflight.set(message.id, entry);
    const sink = {
      notify: (n: JSONRPCNotification) => {
        if (this.modernInflight.get(message.id) === entry && !this.closed)
          this.client.send(n, { relatedRequestId: message.id }).catch(() => {});
      },
    };
    void this.modern!.serve({
      message,
      peer: { principal: this.principal, remoteAddress: this.remoteAddress },
      sink,
      onAbandon: (listener) => {
        entry.abandon = listener;
        if (entry.cancelled) listener();
      },
    }).then(({ reply }) => {
      // A cancelled request gets no reply.
      if (this.modernInflight.get(message.id) !== entry || this.closed) return;
      this.modernInflight.delete(message.id);
      this.client.send(reply, { relatedRequestId: message.id }).catch(() => {});
    });
  }

  /** A cancellation naming one of the modern requests in flight (it may carry no envelope). */
  private cancelsModern(message: JSONRPCMessage): boolean {
    if (!isNotification(message) || message.method !== 'notifications/cancelled') return false;
    const id = message.params?.requestId as RequestId | undefined;
    return id !== undefined && this.modernInflight.has(id);
  }

  private async dispatchRequest(message: JSONRPCRequest): Promise<void> {
    if (message.method === 'initialize' && this.initialized) {
      // The handshake happens once: a second one would start the backends again (an
      // aggregated session's members) and leave the first ones running.
      void this.client
        .send(errorReply(message.id, -32600, 'the session is already initialized'), {
          relatedRequestId: message.id,
        })
        .catch(() => {});
      return;
    }
    this.dispatching++;
    const ctx = this.contextFor(message);
    this.inflight.set(message.id, ctx);
    try {
      const outcome = await this.run(ctx, 'to-server', this.toServer);
      if (this.inflight.get(message.id) === ctx) this.inflight.delete(message.id);
      if (message.method === 'initialize' && outcome && 'result' in outcome) {
        this.initialized = true;
        clearTimeout(this.handshakeTimer);
        this.oninitialized?.();
        const version = outcome.result.protocolVersion;
        if (typeof version === 'string') {
          this.client.setProtocolVersion?.(version);
          this.target.setProtocolVersion(version);
        }
      }
      if (outcome === undefined) this.client.requestEnded?.(message.id);
      else
        await this.client
          .send(withId(outcome, message.id), { relatedRequestId: message.id })
          .catch((error: unknown) => {
            this.log.debug({ err: error }, 'could not deliver a reply to the client');
          });
      // A session whose initialize failed has nothing to serve: it never was one. (The backend
      // may have refused it, or could not even answer.)
      if (message.method === 'initialize' && !this.initialized && outcome && 'error' in outcome) {
        const backendFailed = gatewayCodeOf(outcome)?.startsWith('GATEWAY_BACKEND_') === true;
        void this.close(backendFailed ? 'initialize failed' : 'initialize refused', backendFailed);
      }
    } finally {
      this.dispatched();
    }
  }

  /** A request of this session, in either direction, as the chains see it. */
  private contextFor(message: JSONRPCRequest): RequestContext {
    return new RequestContext({
      message,
      transport: this.transport,
      session: this.ref,
      principal: this.principal,
      remoteAddress: this.remoteAddress,
      log: this.log,
    });
  }

  /** Runs a request through a chain, turning a failure into its error reply, with events. */
  private async run(
    ctx: RequestContext,
    direction: 'to-server' | 'to-client',
    chain: (ctx: RequestContext) => Promise<Outcome>,
  ): Promise<Outcome> {
    const { message } = ctx;
    const started = channels.requestEnd.hasSubscribers ? performance.now() : 0;
    if (channels.requestStart.hasSubscribers) {
      channels.requestStart.publish({
        sessionId: this.id,
        direction,
        method: message.method,
        id: message.id,
        backend: ctx.backend ?? this.endpoint,
      });
    }
    let outcome: Outcome;
    try {
      outcome = await chain(ctx);
    } catch (error) {
      outcome = toErrorReply(message.id, error);
      if (!(error instanceof GatewayError))
        this.log.error({ err: error, method: message.method }, 'request failed');
    }
    if (this.counters) {
      this.counters.requests++;
      if (outcome && 'error' in outcome) this.counters.errors++;
    }
    if (channels.requestEnd.hasSubscribers) {
      channels.requestEnd.publish({
        sessionId: this.id,
        direction,
        method: message.method,
        id: message.id,
        backend: ctx.backend ?? this.endpoint,
        route: ctx.route,
        durationMs: performance.now() - started,
        error: errorLabelOf(outcome),
      });
    }
    return outcome;
  }

  private clientNotification(message: JSONRPCNotification): void {
    if (message.method === 'notifications/cancelled') {
      // The request it names ends without a reply, wherever it is, as the protocol asks.
      const params = message.params;
      const id = params?.requestId as RequestId | undefined;
      const ctx = id === undefined ? undefined : this.inflight.get(id);
      if (ctx === undefined) return;
      this.inflight.delete(id!);
      ctx.cancel(typeof params?.reason === 'string' ? params.reason : 'cancelled by the client');
      return;
    }
    this.target.notify(message).catch((error: unknown) => {
      this.log.debug({ err: error, method: message.method }, 'notification not delivered');
    });
  }

  // ── target → client (Upstream) ─────────────────────────────────────────────────────────

  notification(message: JSONRPCNotification, _backend: string, related?: RequestContext): void {
    if (this.closed) return;
    this.client
      .send(message, related && { relatedRequestId: related.message.id })
      .catch((error: unknown) => this.log.debug({ err: error }, 'notification not delivered'));
  }

  request(message: JSONRPCRequest, backend: string): ServerRequest {
    const ctx = this.contextFor(message);
    ctx.route = { backend };
    this.dispatching++;
    const reply = this.run(ctx, 'to-client', this.toClient)
      .then((outcome) => outcome ?? errorReply(message.id, -32800, 'cancelled'))
      .finally(() => this.dispatched());
    return { reply, cancel: (reason) => ctx.cancel(reason) };
  }

  /** Sends a server's request to the client under an id of the session's, and waits. */
  private askClient(ctx: RequestContext): Promise<Outcome> {
    if (this.closed) return Promise.reject(new GatewayError('GATEWAY_SESSION_CLOSED'));
    return new Promise<Outcome>((resolve) => {
      const id = this.asked.open({ resolve });
      ctx.onCancel = (reason, error) => {
        if (this.asked.take(id) === undefined) return;
        resolve(error === undefined ? undefined : toErrorReply(ctx.message.id, error));
        void this.client
          .send({
            jsonrpc: '2.0',
            method: 'notifications/cancelled',
            params: { requestId: id, reason },
          })
          .catch(() => {});
      };
      this.client.send({ ...ctx.message, id }).catch((error: unknown) => {
        if (this.asked.take(id) !== undefined) resolve(toErrorReply(ctx.message.id, error));
      });
    });
  }

  // ── ending ─────────────────────────────────────────────────────────────────────────────

  /** One message has gone through the chain; wakes `drain` when it was the last. */
  private dispatched(): void {
    if (--this.dispatching === 0 && this.idle) {
      this.idle.resolve();
      this.idle = undefined;
    }
  }

  private async targetClosed(error: GatewayError): Promise<void> {
    if (this.closed) return;
    this.log.warn(
      { reason: error.message },
      'backend ended; failing its pending requests and closing the session',
    );
    await this.drain();
    await this.close('backend exited', true);
  }

  /** Waits (at most DRAIN_MS) until no message is going through a chain. */
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
    clearTimeout(this.handshakeTimer);
    this.client.ending?.({ reason, backendFailed });
    const error = new GatewayError('GATEWAY_SESSION_CLOSED', reason);
    for (const ctx of this.inflight.values()) ctx.cancel(reason, error);
    this.inflight.clear();
    for (const entry of this.modernInflight.values()) entry.abandon?.();
    this.modernInflight.clear();
    const unanswered = errorReply(null, -32603, `the client session ended: ${reason}`);
    for (const wait of this.asked.takeAll()) wait.resolve(unanswered);
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
