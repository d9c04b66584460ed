import type { Logger } from './logger.js';
import type { JSONRPCRequest } from './jsonrpc.js';

/** Who is calling. Filled in by authentication; anonymous until then. */
export interface Principal {
  readonly id: string;
  readonly scopes: readonly string[];
  readonly claims?: Readonly<Record<string, unknown>>;
}

/**
 * Where a request went: the backend that serves it and the name that backend knows the tool or
 * prompt by. A federated target writes it as it routes; a backend target writes the backend when
 * nobody did before it. Audit, tracing, metrics and authorization read it, never a name prefix.
 */
export interface Route {
  readonly backend: string;
  /** The tool or prompt name the backend knows (after prefixes and renames are undone). */
  readonly name?: string;
  /** The name the client used, when it differs from `name`. */
  readonly offered?: string;
}

/** What a request knows of the session it came in on; absent for a stateless request. */
export interface SessionRef {
  readonly id: string;
  /** What the session is bound to: a backend's name, or `*` for the aggregated endpoint. */
  readonly endpoint: string;
}

export interface ContextInit {
  message: JSONRPCRequest;
  /** The client-facing transport (`streamable-http`, `websocket`, …). */
  transport: string;
  session?: SessionRef;
  principal?: Principal;
  remoteAddress?: string;
  log: Logger;
}

/**
 * One client request on its way through the gateway: what every policy and target sees. The
 * session is optional, so a stateless request travels the same path. A target that forwards the
 * request registers how to stop it (`onCancel`); a deadline registers how progress extends it
 * (`onProgress`). Plain fields, no AbortController unless a policy asks for `signal`: this object
 * is made for every request.
 */
export class RequestContext {
  /** The request as it travels: a federated target replaces it with the backend's own names. */
  message: JSONRPCRequest;
  readonly transport: string;
  readonly session: SessionRef | undefined;
  readonly remoteAddress: string | undefined;
  readonly log: Logger;
  principal: Principal | undefined;
  route: Route | undefined;
  /**
   * Set by whoever forwarded the request: stop it there (tell the peer, forget the wait). With
   * `error` the wait ends in that error; without, the request ends with no reply.
   */
  onCancel: ((reason: string, error?: Error) => void) | undefined;
  /** Set by a deadline: the backend reported progress on this request. */
  onProgress: (() => void) | undefined;
  /** Why the request was cancelled, once it was. */
  cancelled: string | undefined;
  private controller: AbortController | undefined;

  constructor(init: ContextInit) {
    this.message = init.message;
    this.transport = init.transport;
    this.session = init.session;
    this.principal = init.principal;
    this.remoteAddress = init.remoteAddress;
    this.log = init.log;
  }

  /** The backend the request is routed to, or what the session is bound to before routing. */
  get backend(): string | undefined {
    return this.route?.backend ?? this.session?.endpoint;
  }

  /** Aborted when the request is cancelled (by its client, or as its session ends). Made on first use. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.cancelled !== undefined) this.controller.abort(this.cancelled);
    }
    return this.controller.signal;
  }

  /**
   * Stops the request wherever it is, once. Without `error` it ends with no reply (a client's
   * cancellation); with one, whoever waits for it gets that error (its session ended).
   */
  cancel(reason: string, error?: Error): void {
    if (this.cancelled !== undefined) return;
    this.cancelled = reason;
    this.controller?.abort(error ?? reason);
    const onCancel = this.onCancel;
    this.onCancel = undefined;
    onCancel?.(reason, error);
  }

  /** A request of the same caller and session, for a target that fans one request out. */
  derive(message: JSONRPCRequest, route: Route): RequestContext {
    const child = new RequestContext({
      message,
      transport: this.transport,
      session: this.session,
      principal: this.principal,
      remoteAddress: this.remoteAddress,
      log: this.log,
    });
    child.route = route;
    return child;
  }
}
