import type {
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCReply,
  JSONRPCRequest,
  RequestId,
} from '../core/jsonrpc.js';
import { isReply, isRequest, progressTokenOf } from '../core/jsonrpc.js';
import type { RequestContext } from '../core/context.js';
import type { Outcome } from '../core/policy.js';
import { GatewayError, toErrorReply } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { RequestTracker } from '../core/request-tracker.js';
import { withId } from '../core/raw-json.js';
import type { BackendTransport } from '../backends/transport.js';

/** A server's request to the client, as the side that carries it there hands it back. */
export interface ServerRequest {
  /** The client's answer (an error reply when there is none). */
  readonly reply: Promise<JSONRPCReply>;
  /** The server gave up on it: stop waiting, tell the client. */
  cancel(reason: string): void;
}

/** Where what a backend sends on its own (notifications, its requests) goes: the session, mostly. */
export interface Upstream {
  /**
   * A notification for the client. `related` is the client request it concerns, where the link
   * can tell (progress names its request by token), so it travels on that request's stream.
   */
  notification(message: JSONRPCNotification, backend: string, related?: RequestContext): void;
  /** A request of the backend's for the client: sampling, elicitation, roots. */
  request(message: JSONRPCRequest, backend: string): ServerRequest;
}

/** A request of ours waiting for the backend's reply. */
class Waiter {
  constructor(
    readonly ctx: RequestContext | undefined,
    readonly resolve: (reply: Outcome) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

/**
 * One connection to one backend, for one session (or one member of an aggregated session): the
 * requests in flight on it, the server requests it carries to the client, and what happens when
 * it closes. Requests leave under ids of the link's own; the reply keeps the backend's id until
 * the session puts the client's back.
 */
export class BackendLink {
  /** Told once when the connection ends by itself, with what its requests failed with. */
  onclose?: (error: GatewayError) => void;
  private readonly tracker = new RequestTracker<Waiter>();
  private readonly serverRequests = new Map<RequestId, ServerRequest>();
  private closed = false;

  constructor(
    readonly backend: string,
    readonly transport: BackendTransport,
    private readonly upstream: Upstream,
    private readonly log: Logger,
  ) {}

  get inFlight(): number {
    return this.tracker.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async start(): Promise<void> {
    this.transport.onmessage = (message) => this.receive(message);
    this.transport.onclose = () => this.ended(this.transport.unavailable());
    this.transport.onerror = (error) =>
      this.log.debug({ err: error, backend: this.backend }, 'backend transport error');
    await this.transport.start();
  }

  /**
   * Sends a client's request and waits for the reply. Cancelling the context (the client gave up,
   * a deadline passed, the session ended) ends the wait and tells the backend.
   */
  forward(ctx: RequestContext): Promise<Outcome> {
    if (this.closed) return Promise.reject(this.transport.unavailable());
    // Cancelled on its way here (waiting for a limit, say): it never leaves.
    if (ctx.cancelled !== undefined) return Promise.resolve(undefined);
    return new Promise<Outcome>((resolve, reject) => {
      const id = this.tracker.open(new Waiter(ctx, resolve, reject), progressTokenOf(ctx.message));
      ctx.onCancel = (reason, error) => {
        const waiter = this.tracker.take(id);
        if (waiter === undefined) return;
        this.cancelAtBackend(id, reason);
        if (error === undefined) waiter.resolve(undefined);
        else waiter.reject(error);
      };
      this.transport.send({ ...ctx.message, id }).catch((error: unknown) => {
        const waiter = this.tracker.take(id);
        if (waiter === undefined) return;
        ctx.onCancel = undefined;
        waiter.reject(error);
      });
    });
  }

  /**
   * A request of the gateway's own (initialize, ping, a list), bounded by `timeoutMs`. Always
   * resolves: with the reply, or an error reply saying why there is none.
   */
  call(method: string, params: Record<string, unknown> | undefined, timeoutMs: number) {
    const message: JSONRPCRequest = { jsonrpc: '2.0', id: 0, method, ...(params && { params }) };
    if (this.closed) return Promise.resolve(toErrorReply(0, this.transport.unavailable()));
    return new Promise<JSONRPCReply>((resolve) => {
      const started = Date.now();
      const answer = (reply: Outcome) => {
        clearTimeout(timer);
        resolve(reply ?? toErrorReply(0, new GatewayError('GATEWAY_SESSION_CLOSED')));
      };
      const fail = (error: unknown) => answer(toErrorReply(0, error));
      const id = this.tracker.open(new Waiter(undefined, answer, fail));
      const timer = setTimeout(() => {
        if (this.tracker.take(id) === undefined) return;
        this.cancelAtBackend(id, 'timed out');
        fail(
          new GatewayError(
            'GATEWAY_TIMEOUT',
            `${this.backend} did not answer ${method} within ${Date.now() - started} ms`,
          ),
        );
      }, timeoutMs);
      timer.unref();
      this.transport.send({ ...message, id }).catch((error: unknown) => {
        if (this.tracker.take(id) !== undefined) fail(error);
      });
    });
  }

  /** A client's notification for the backend. */
  notify(message: JSONRPCNotification): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.transport.send(message);
  }

  private cancelAtBackend(id: number, reason: string): void {
    if (this.closed) return;
    this.transport
      .send({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: id, reason },
      })
      .catch(() => {});
  }

  private receive(message: JSONRPCMessage): void {
    if (this.closed) return;
    if (isReply(message)) {
      const waiter = this.tracker.settle(message);
      if (waiter === undefined) {
        this.log.debug({ id: message.id, backend: this.backend }, 'reply to nothing pending');
        return;
      }
      if (waiter.ctx) waiter.ctx.onCancel = undefined;
      waiter.resolve(message);
    } else if (isRequest(message)) {
      this.serverRequest(message);
    } else {
      this.notification(message);
    }
  }

  private serverRequest(message: JSONRPCRequest): void {
    const pending = this.upstream.request(message, this.backend);
    this.serverRequests.set(message.id, pending);
    void pending.reply.then((reply) => {
      if (this.serverRequests.get(message.id) !== pending) return;
      this.serverRequests.delete(message.id);
      if (!this.closed) this.transport.send(withId(reply, message.id)).catch(() => {});
    });
  }

  private notification(message: JSONRPCNotification): void {
    const params = message.params;
    if (message.method === 'notifications/cancelled') {
      // The backend gave up on a request it made to the client.
      const requestId = params?.requestId as RequestId | undefined;
      const pending = requestId === undefined ? undefined : this.serverRequests.get(requestId);
      if (pending === undefined) return;
      this.serverRequests.delete(requestId!);
      pending.cancel(typeof params?.reason === 'string' ? params.reason : 'cancelled');
      return;
    }
    let related: RequestContext | undefined;
    if (message.method === 'notifications/progress') {
      const token = params?.progressToken;
      const id =
        typeof token === 'string' || typeof token === 'number'
          ? this.tracker.idOfToken(token)
          : undefined;
      related = id === undefined ? undefined : this.tracker.get(id)?.ctx;
      related?.onProgress?.();
    }
    this.upstream.notification(message, this.backend, related);
  }

  private ended(error: GatewayError): void {
    if (this.closed) return;
    this.fail(error, 'backend went away');
    this.onclose?.(error);
  }

  /** Fails everything in flight, in both directions. */
  private fail(error: GatewayError, reason: string): void {
    this.closed = true;
    for (const waiter of this.tracker.takeAll()) {
      if (waiter.ctx) waiter.ctx.onCancel = undefined;
      waiter.reject(error);
    }
    for (const pending of this.serverRequests.values()) pending.cancel(reason);
    this.serverRequests.clear();
  }

  /** Ends the connection: what is in flight fails with `error`. */
  async close(error = new GatewayError('GATEWAY_SESSION_CLOSED', 'the session ended')) {
    if (this.closed) return;
    this.fail(error, 'the session ended');
    this.transport.onclose = undefined;
    await this.transport.close().catch(() => {});
  }
}
