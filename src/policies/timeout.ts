import { GatewayError } from '../core/errors.js';
import type { RequestContext } from '../core/context.js';
import type { Outcome, Policy } from '../core/policy.js';

export interface TimeoutOptions {
  /** The deadline of a request, in ms (0: none). */
  baseFor(ctx: RequestContext): number;
  /** How far progress notifications may push the deadline, from the start (0: not at all). */
  maxFor(ctx: RequestContext): number;
}

/**
 * A deadline on a request to a backend. Each progress notification the backend sends for the
 * request (its link finds the request by progress token) moves the deadline to `base` ms after
 * it, but never beyond `max` ms after the start. When the deadline passes, the request is
 * cancelled where it was forwarded (the backend hears `notifications/cancelled`) and the client
 * gets GATEWAY_TIMEOUT.
 */
export function timeout(options: TimeoutOptions): Policy {
  return (ctx, next) => {
    const base = options.baseFor(ctx);
    if (!base) return next();
    const max = Math.max(base, options.maxFor(ctx));
    const started = Date.now();
    return new Promise<Outcome>((resolve, reject) => {
      let deadline = started + base;
      const fire = () => {
        ctx.onProgress = undefined;
        const error = new GatewayError(
          'GATEWAY_TIMEOUT',
          `${ctx.backend ?? 'the backend'} did not answer ${ctx.message.method} within ${Date.now() - started} ms`,
        );
        reject(error);
        ctx.cancel('the gateway gave up on it: timed out', error);
      };
      let timer = setTimeout(fire, base);
      ctx.onProgress = () => {
        const later = Math.min(Date.now() + base, started + max);
        if (later <= deadline) return;
        deadline = later;
        clearTimeout(timer);
        timer = setTimeout(fire, deadline - Date.now());
      };
      next().then(
        (outcome) => {
          clearTimeout(timer);
          ctx.onProgress = undefined;
          resolve(outcome);
        },
        (error: unknown) => {
          clearTimeout(timer);
          ctx.onProgress = undefined;
          reject(error);
        },
      );
    });
  };
}
