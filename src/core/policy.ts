import type { JSONRPCReply } from './jsonrpc.js';
import type { RequestContext } from './context.js';

export type { Principal, Route, SessionRef } from './context.js';
export { RequestContext } from './context.js';

/** What a step returns: the reply, or `undefined` when the request ended without one (cancelled). */
export type Outcome = JSONRPCReply | undefined;

export type Next = () => Promise<Outcome>;

/**
 * One step of a request's chain. It may act before `await next()`, after it, or instead of it
 * (returning a reply of its own, or throwing a GatewayError, stops the request there). A chain
 * carries requests of one direction only: client→server requests run the gateway-wide chain and
 * then their backend's; a server's requests to the client run a chain of their own.
 */
export type Policy = (ctx: RequestContext, next: Next) => Promise<Outcome>;

/**
 * Folds an ordered list of policies around the final step. The list is read once, here, so the
 * per-request cost is one closure call per policy. A policy may call `next()` again once the
 * previous call has settled (a retry runs the rest of the chain anew), never twice at once.
 */
export function compose(
  policies: readonly Policy[],
  final: (ctx: RequestContext) => Promise<Outcome>,
): (ctx: RequestContext) => Promise<Outcome> {
  if (policies.length === 0) return final;
  return function run(ctx: RequestContext): Promise<Outcome> {
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
