import { GatewayError } from '../core/errors.js';
import type { MessageContext, Outcome, Policy } from '../core/policy.js';
import type { RequestId } from '../core/jsonrpc.js';

export interface TimeoutOptions {
  /** The deadline of a request, in ms (0: none): per backend and per method. */
  baseFor(ctx: MessageContext): number;
  /** How far progress notifications may push the deadline, from the start (0: not at all). */
  maxFor(ctx: MessageContext): number;
}

/**
 * A deadline on every request to a backend. Each progress notification the backend sends for
 * the request moves the deadline to `base` ms after it, but never beyond `max` ms after the
 * start. When the deadline passes, the client gets GATEWAY_TIMEOUT and the session tells the
 * backend `notifications/cancelled`.
 */
export function timeout(options: TimeoutOptions): Policy {
  const running = new Map<string, () => void>();
  const keyOf = (sessionId: string, id: RequestId) => `${sessionId}\u0000${id}`;

  return (ctx, next) => {
    const { message } = ctx;
    if (
      ctx.direction === 'to-client' &&
      message.method === 'notifications/progress' &&
      ctx.relatedRequestId !== undefined
    ) {
      running.get(keyOf(ctx.sessionId, ctx.relatedRequestId))?.();
      return next();
    }
    if (ctx.direction !== 'to-server' || !('id' in message)) return next();
    const base = options.baseFor(ctx);
    if (!base) return next();
    const max = Math.max(base, options.maxFor(ctx));
    const started = Date.now();
    const key = keyOf(ctx.sessionId, message.id);
    return new Promise<Outcome>((resolve, reject) => {
      let deadline = started + base;
      const fire = () => {
        running.delete(key);
        reject(
          new GatewayError(
            'GATEWAY_TIMEOUT',
            `${ctx.backend ?? 'the backend'} did not answer ${message.method} within ${Date.now() - started} ms`,
          ),
        );
      };
      let timer = setTimeout(fire, base);
      running.set(key, () => {
        const next = Math.min(Date.now() + base, started + max);
        if (next <= deadline) return;
        deadline = next;
        clearTimeout(timer);
        timer = setTimeout(fire, deadline - Date.now());
      });
      next().then(
        (outcome) => {
          clearTimeout(timer);
          running.delete(key);
          resolve(outcome);
        },
        (error: unknown) => {
          clearTimeout(timer);
          running.delete(key);
          reject(error);
        },
      );
    });
  };
}
