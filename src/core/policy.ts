import type { Logger } from 'pino';
import type { JSONRPCNotification, JSONRPCReply, JSONRPCRequest, RequestId } from './jsonrpc.js';

/**
 * Which way a message travels. Requests and notifications go either way: a client calls tools,
 * a server asks the client for sampling, elicitation or roots.
 */
export type Direction = 'to-server' | 'to-client';

/** Who is calling. Filled in by authentication; anonymous until then. */
export interface Principal {
  readonly id: string;
  readonly scopes: readonly string[];
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** The one object every policy sees for one message. */
export interface MessageContext {
  readonly message: JSONRPCRequest | JSONRPCNotification;
  readonly direction: Direction;
  readonly sessionId: string;
  /** The client-facing transport the session came in on (`streamable-http`, …). */
  readonly transport: string;
  principal: Principal | undefined;
  /** Aborted when the session ends while the request is in flight. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /**
   * For a notification: the request it belongs to, where the core can tell (a progress
   * notification names its request through its progress token).
   */
  readonly relatedRequestId?: RequestId;
  /** The backend the session is bound to: its name, or `*` for the aggregated endpoint. */
  readonly backend?: string;
  /** The client's IP address, when the transport has one. */
  readonly remoteAddress?: string;
}

/** What a step returns: the reply to a request, or `undefined` for a notification. */
export type Outcome = JSONRPCReply | undefined;

export type Next = () => Promise<Outcome>;

/**
 * One step of the chain. It may act before `await next()`, after it, or instead of it (returning a
 * reply of its own, or throwing a GatewayError, stops the message there).
 */
export type Policy = (ctx: MessageContext, next: Next) => Promise<Outcome>;

/**
 * Folds an ordered list of policies around the final step. The list is read once, here, so the
 * per-message cost is one closure call per policy. A policy may call `next()` again once the
 * previous call has settled (a retry runs the rest of the chain anew), never twice at once.
 */
export function compose(
  policies: readonly Policy[],
  final: (ctx: MessageContext) => Promise<Outcome>,
) {
  if (policies.length === 0) return final;
  return function run(ctx: MessageContext): Promise<Outcome> {
    const dispatch = (i: number): Promise<Outcome> => {
      const policy = policies[i];
      if (policy === undefined) return final(ctx);
      let running = false;
      return policy(ctx, () => {
        if (running)
          return Promise.reject(new Error('next() called again before the previous call settled'));
        running = true;
        return dispatch(i + 1).finally(() => {
          running = false;
        });
      });
    };
    return dispatch(0);
  };
}
