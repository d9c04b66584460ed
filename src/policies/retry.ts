import type { Policy } from '../core/policy.js';
import { isBackendFailure } from './circuit-breaker.js';
import { toErrorReply } from '../core/errors.js';

/** Methods that change nothing, so a second try cannot do harm. Never `tools/call`. */
export const SAFE_METHODS: ReadonlySet<string> = new Set([
  'ping',
  'tools/list',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'completion/complete',
]);

export interface RetryOptions {
  /** Tries after the first. @default 2 */
  attempts?: number;
  /** Delay before the first retry; doubled each time, ±20% jitter. @default 100 */
  backoffMs?: number;
}

/**
 * Retries safe methods when the backend failed (unavailable, exited, timed out), with backoff;
 * an error of the application, or a call that may have had effects, is never retried.
 */
export function retry(settings: () => RetryOptions = () => ({})): Policy {
  return async (ctx, next) => {
    const { attempts = 2, backoffMs = 100 } = settings();
    if (attempts <= 0 || !SAFE_METHODS.has(ctx.message.method)) return next();
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= attempts || ctx.signal.aborted;
      try {
        const reply = await next();
        if (last || !isBackendFailure(reply)) return reply;
      } catch (error) {
        if (last || !isBackendFailure(toErrorReply(null, error))) throw error;
      }
      const delay = backoffMs * 2 ** attempt * (0.8 + Math.random() * 0.4);
      ctx.log.debug(
        { method: ctx.message.method, attempt: attempt + 1, delay },
        'retrying a safe request',
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  };
}
