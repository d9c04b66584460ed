import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ClientTransport } from '../session/session.js';
import type {
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCReply,
  JSONRPCRequest,
  RequestId,
} from '../core/jsonrpc.js';
import { errorReply, isNotification, isReply, isRequest } from '../core/jsonrpc.js';
import { GatewayError } from '../core/errors.js';

/** One event of a REST session's `/events` stream. */
export interface RestEvent {
  /** Increasing per session; the SSE `id`, so that a stream can resume with `Last-Event-ID`. */
  readonly id: number;
  /** The SSE event name: `progress`, `log`, `notification`, `server_request`, … */
  readonly event: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface RestClientTransportOptions {
  /**
   * How long a server's request waits for an answer (`answer`) before the server gets an error.
   * @default 60000
   */
  serverRequestTimeoutMs?: number;
  /**
   * Events kept for streams that open later or resume.
   * @default 1000
   */
  eventBuffer?: number;
}

interface Waiting {
  resolve(reply: JSONRPCReply): void;
  reject(error: Error): void;
  tool?: string;
}

interface Asked {
  readonly request: JSONRPCRequest;
  readonly event: RestEvent;
  readonly timer: NodeJS.Timeout;
}

/**
 * The client side of a REST session: what an MCP client would be, for callers that speak plain
 * HTTP. REST handlers send requests through it and get their replies back by id; everything else
 * the session sends (notifications, progress, log messages, the server's own requests) becomes a
 * RestEvent for the session's `/events` stream, kept in a bounded buffer until a stream reads it.
 * A server's request waits for `answer` and is answered with an error when nobody does in time.
 */
export class RestClientTransport implements ClientTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** Hears every notification's method as it arrives (a tool list changed, say). */
  onnotification?: (method: string) => void;
  /** Told once when the session has closed this transport (the session owns `onclose`). */
  onended?: () => void;

  private readonly timeoutMs: number;
  private readonly bufferSize: number;
  private readonly waiting = new Map<RequestId, Waiting>();
  private readonly asked = new Map<string, Asked>();
  private readonly events: RestEvent[] = [];
  private readonly listeners = new Set<(event: RestEvent) => void>();
  private nextId = 1;
  private nextEventId = 1;
  /** The newest event that reached a listener: what a stream opened later has not seen. */
  private delivered = 0;
  private closed = false;
  private endReason: string | undefined;

  constructor(options: RestClientTransportOptions = {}) {
    this.timeoutMs = options.serverRequestTimeoutMs ?? 60_000;
    this.bufferSize = options.eventBuffer ?? 1000;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The server's requests still waiting for an answer. */
  get pendingServerRequests(): number {
    return this.asked.size;
  }

  async start(): Promise<void> {}

  // ── REST side ──────────────────────────────────────────────────────────────────────────

  /**
   * Sends a request into the session and resolves with its reply (a result or an error reply).
   * `signal` cancels it (the HTTP caller went away): the session is told, and the promise rejects.
   */
  request(
    method: string,
    params: Record<string, unknown> | undefined,
    options: { signal?: AbortSignal; progressToken?: string | number; tool?: string } = {},
  ): Promise<JSONRPCReply> {
    if (this.closed)
      return Promise.reject(new GatewayError('GATEWAY_SESSION_CLOSED', this.endReason));
    // A caller already gone (it left while an earlier step ran) sends nothing.
    if (options.signal?.aborted)
      return Promise.reject(
        new GatewayError('GATEWAY_SESSION_CLOSED', 'the request was cancelled'),
      );
    const id = `rest-${this.nextId++}`;
    const withMeta =
      options.progressToken === undefined
        ? params
        : {
            ...params,
            _meta: {
              ...(params?._meta as Record<string, unknown> | undefined),
              progressToken: options.progressToken,
            },
          };
    return new Promise<JSONRPCReply>((resolve, reject) => {
      const { signal } = options;
      const onAbort = () => {
        if (!this.waiting.delete(id)) return;
        this.deliver({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: id, reason: 'the HTTP caller went away' },
        });
        reject(new GatewayError('GATEWAY_SESSION_CLOSED', 'the request was cancelled'));
      };
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.waiting.set(id, {
        resolve: (reply) => (done(), resolve(reply)),
        reject: (error) => (done(), reject(error)),
        tool: options.tool,
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.deliver({
        jsonrpc: '2.0',
        id,
        method,
        ...(withMeta !== undefined && { params: withMeta }),
      });
    });
  }

  /** Sends a notification into the session (`notifications/initialized`, say). */
  notify(method: string, params?: Record<string, unknown>): void {
    if (!this.closed) this.deliver({ jsonrpc: '2.0', method, ...(params && { params }) });
  }

  /**
   * Answers the server's request `requestId` (as the `server_request` event named it) with a
   * result or an error. False when no such request is waiting (answered, expired or never asked).
   */
  answer(
    requestId: string,
    answer: { result: unknown } | { error: { code: number; message: string; data?: unknown } },
  ): boolean {
    const asked = this.asked.get(requestId);
    if (!asked || this.closed) return false;
    this.asked.delete(requestId);
    clearTimeout(asked.timer);
    const { id } = asked.request;
    this.deliver(
      'result' in answer
        ? ({ jsonrpc: '2.0', id, result: answer.result } as JSONRPCMessage)
        : errorReply(id, answer.error.code, answer.error.message, answer.error.data),
    );
    this.emit('server_request_answered', { request_id: requestId });
    return true;
  }

  /**
   * Subscribes to the session's events. First hands `listener` what it has not seen: the events
   * after `lastEventId` when the stream resumes, else those no stream has read yet, then the
   * server's requests still waiting (again, if an earlier stream saw them and went away).
   * Returns the unsubscribe function.
   */
  subscribe(listener: (event: RestEvent) => void, lastEventId?: number): () => void {
    const after = lastEventId ?? this.delivered;
    const replayed = new Set<number>();
    for (const event of this.events) {
      if (event.id > after) {
        listener(event);
        replayed.add(event.id);
      }
    }
    for (const { event } of this.asked.values()) if (!replayed.has(event.id)) listener(event);
    this.delivered = Math.max(this.delivered, this.nextEventId - 1);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ── session side (the Transport contract) ──────────────────────────────────────────────

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closed) return;
    if (isRequest(message)) return this.serverRequest(message);
    if (isNotification(message)) return this.notification(message, options?.relatedRequestId);
    if (!isReply(message) || message.id === undefined) return;
    const waiting = this.waiting.get(message.id);
    if (!waiting) return;
    this.waiting.delete(message.id);
    waiting.resolve(message);
  }

  /** The session ended one of our requests without a reply (it was cancelled). */
  requestEnded(id: RequestId): void {
    const waiting = this.waiting.get(id);
    if (!waiting) return;
    this.waiting.delete(id);
    waiting.reject(new GatewayError('GATEWAY_SESSION_CLOSED', 'the request was cancelled'));
  }

  ending(end: { reason: string }): void {
    this.endReason = end.reason;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const reason = this.endReason ?? 'closed';
    const error = new GatewayError('GATEWAY_SESSION_CLOSED', reason);
    for (const waiting of this.waiting.values()) waiting.reject(error);
    this.waiting.clear();
    for (const asked of this.asked.values()) clearTimeout(asked.timer);
    this.asked.clear();
    this.emit('closed', { reason });
    this.listeners.clear();
    this.onended?.();
    this.onclose?.();
  }

  // ── inside ─────────────────────────────────────────────────────────────────────────────

  private deliver(message: JSONRPCMessage): void {
    try {
      this.onmessage?.(message);
    } catch (error) {
      this.onerror?.(error as Error);
    }
  }

  private serverRequest(request: JSONRPCRequest): void {
    const requestId = String(request.id);
    const event = this.emit('server_request', {
      request_id: requestId,
      method: request.method,
      params: request.params ?? {},
      expires_in_ms: this.timeoutMs,
    });
    const timer = setTimeout(() => {
      if (this.asked.get(requestId)?.request !== request) return;
      this.asked.delete(requestId);
      this.deliver(
        errorReply(
          request.id,
          -32001,
          `Request timed out: no REST client answered ${request.method} within ${this.timeoutMs} ms (rest.serverRequestTimeoutMs)`,
        ),
      );
      this.emit('server_request_expired', { request_id: requestId, method: request.method });
    }, this.timeoutMs);
    timer.unref();
    this.asked.set(requestId, { request, event, timer });
  }

  private notification(message: JSONRPCNotification, related: RequestId | undefined): void {
    const params = message.params ?? {};
    const requestId = related === undefined ? {} : { request_id: String(related) };
    this.onnotification?.(message.method);
    switch (message.method) {
      case 'notifications/progress': {
        const tool = related === undefined ? undefined : this.waiting.get(related)?.tool;
        this.emit('progress', { ...requestId, ...(tool && { tool }), ...params });
        return;
      }
      case 'notifications/message':
        this.emit('log', { ...requestId, ...params });
        return;
      case 'notifications/cancelled': {
        // The server gave up on one of its requests: nobody needs to answer it any more.
        const id = String(params.requestId);
        const asked = this.asked.get(id);
        if (asked) {
          clearTimeout(asked.timer);
          this.asked.delete(id);
          this.emit('server_request_cancelled', { request_id: id, reason: params.reason });
        }
        return;
      }
      default:
        this.emit('notification', { ...requestId, method: message.method, params });
    }
  }

  private emit(event: string, data: Record<string, unknown>): RestEvent {
    const e: RestEvent = { id: this.nextEventId++, event, data };
    this.events.push(e);
    if (this.events.length > this.bufferSize) this.events.shift();
    if (this.listeners.size > 0) {
      this.delivered = e.id;
      for (const listener of this.listeners) listener(e);
    }
    return e;
  }
}
