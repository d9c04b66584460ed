import type { JSONRPCNotification, JSONRPCReply, JSONRPCRequest } from '../core/jsonrpc.js';
import { errorReply } from '../core/jsonrpc.js';
import type { Lessee } from './pool-client.js';
import type { PooledSession } from './pool.js';
import { META } from './modern.js';

/** What a `subscriptions/listen` asks for (`params.notifications`). */
export interface ListenFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

/** Where a listen's messages go, and how its stream is kept alive. */
export interface ListenSink {
  notify(message: JSONRPCNotification): void;
  keepalive?(): void;
}

/** How often a listen stream hears a keep-alive comment. */
const KEEPALIVE_MS = 25_000;

/** The filter of a listen request, or undefined when it is not a valid one. */
export function readFilter(params: unknown): ListenFilter | undefined {
  const notifications = (params as { notifications?: unknown } | undefined)?.notifications;
  if (typeof notifications !== 'object' || notifications === null || Array.isArray(notifications))
    return undefined;
  const f = notifications as Record<string, unknown>;
  const out: ListenFilter = {};
  for (const key of ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged'] as const) {
    if (f[key] === undefined) continue;
    if (typeof f[key] !== 'boolean') return undefined;
    out[key] = f[key];
  }
  if (f.resourceSubscriptions !== undefined) {
    const uris = f.resourceSubscriptions;
    if (!Array.isArray(uris) || uris.some((u) => typeof u !== 'string')) return undefined;
    out.resourceSubscriptions = uris as string[];
  }
  return out;
}

/** The part of a filter a legacy server can honour, by what its `initialize` advertised. */
export function honoured(filter: ListenFilter, capabilities: unknown): ListenFilter {
  const caps = (capabilities ?? {}) as Record<
    string,
    { listChanged?: boolean; subscribe?: boolean }
  >;
  const out: ListenFilter = {};
  if (filter.toolsListChanged && caps.tools?.listChanged) out.toolsListChanged = true;
  if (filter.promptsListChanged && caps.prompts?.listChanged) out.promptsListChanged = true;
  if (filter.resourcesListChanged && caps.resources?.listChanged) out.resourcesListChanged = true;
  if (filter.resourceSubscriptions?.length && caps.resources?.subscribe)
    out.resourceSubscriptions = [...new Set(filter.resourceSubscriptions)];
  return out;
}

/**
 * A modern client's `subscriptions/listen` on a legacy server: a borrowed session held for the
 * listen's life, `resources/subscribe` for each URI, and the server's change notifications that
 * match, tagged with the listen's id. It ends when the client closes the stream (the URIs are
 * unsubscribed and the session given back), or gracefully when the gateway or the session ends.
 */
export class Listen implements Lessee {
  readonly done: Promise<JSONRPCReply>;
  private finish!: (reply: JSONRPCReply) => void;
  private timer: NodeJS.Timeout | undefined;
  private over = false;

  constructor(
    private readonly session: PooledSession,
    private readonly request: JSONRPCRequest,
    private readonly filter: ListenFilter,
    private readonly sink: ListenSink,
    private readonly serverInfo: unknown,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  /** Subscribes, acknowledges, and starts forwarding. */
  async open(): Promise<void> {
    this.session.client.lease(this);
    for (const uri of this.filter.resourceSubscriptions ?? []) {
      const { reply } = this.session.client.request('resources/subscribe', { uri });
      const answer = await reply;
      if ('error' in answer) {
        this.end(
          errorReply(
            this.request.id,
            answer.error.code,
            `resources/subscribe ${uri}: ${answer.error.message}`,
          ),
        );
        return;
      }
    }
    this.sink.notify(
      this.tagged('notifications/subscriptions/acknowledged', { notifications: this.filter }),
    );
    if (Object.keys(this.filter).length === 0) {
      this.complete();
      return;
    }
    if (this.sink.keepalive) {
      const keepalive = this.sink.keepalive.bind(this.sink);
      this.timer = setInterval(keepalive, KEEPALIVE_MS);
      this.timer.unref();
    }
  }

  /** The client went away: unsubscribe what this listen subscribed, give the session back. */
  abandon(): Promise<void> {
    if (this.over) return Promise.resolve();
    this.end(errorReply(this.request.id, -32800, 'cancelled'));
    return this.unsubscribe();
  }

  /** A graceful end (gateway shutdown, session gone): the final result on the stream. */
  complete(): void {
    this.end({
      jsonrpc: '2.0',
      id: this.request.id,
      result: {
        resultType: 'complete',
        _meta: { [META.subscriptionId]: this.request.id, [META.serverInfo]: this.serverInfo },
      },
    } as JSONRPCReply);
  }

  async unsubscribe(): Promise<void> {
    for (const uri of this.filter.resourceSubscriptions ?? []) {
      await this.session.client
        .request('resources/unsubscribe', { uri })
        .reply.catch(() => undefined);
    }
  }

  // ── Lessee ─────────────────────────────────────────────────────────────────────────────

  notification(message: JSONRPCNotification): void {
    if (this.over || !this.accepts(message)) return;
    this.sink.notify(this.tagged(message.method, message.params));
  }

  ended(): void {
    this.complete();
  }

  serverRequest(message: JSONRPCRequest): void {
    // A listen carries no input rounds.
    this.session.client.answer(message.id, {
      error: { code: -32601, message: 'no request was in flight to carry this request' },
    });
  }

  private accepts(message: JSONRPCNotification): boolean {
    switch (message.method) {
      case 'notifications/tools/list_changed':
        return this.filter.toolsListChanged === true;
      case 'notifications/prompts/list_changed':
        return this.filter.promptsListChanged === true;
      case 'notifications/resources/list_changed':
        return this.filter.resourcesListChanged === true;
      case 'notifications/resources/updated': {
        const uri = message.params?.uri;
        return typeof uri === 'string' && this.filter.resourceSubscriptions?.includes(uri) === true;
      }
      default:
        return false;
    }
  }

  private tagged(method: string, params: Record<string, unknown> | undefined): JSONRPCNotification {
    const meta = (params?._meta ?? {}) as Record<string, unknown>;
    return {
      jsonrpc: '2.0',
      method,
      params: { ...params, _meta: { ...meta, [META.subscriptionId]: this.request.id } },
    };
  }

  private end(reply: JSONRPCReply): void {
    if (this.over) return;
    this.over = true;
    clearInterval(this.timer);
    this.finish(reply);
  }
}
