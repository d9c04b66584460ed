import { isDeepStrictEqual } from 'node:util';
import type { BackendConfig, GatewayConfig } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import type { Policy } from '../core/policy.js';
import { createAuthorizer } from '../policies/authorization.js';
import { BreakerRegistry, circuitBreaker } from '../policies/circuit-breaker.js';
import { createRateLimiter } from '../policies/rate-limit.js';
import type { RateLimiter } from '../policies/rate-limit.js';
import { retry } from '../policies/retry.js';
import { timeout } from '../policies/timeout.js';
import { toolView } from '../policies/tool-view.js';
import { createResponseCache } from '../policies/response-cache.js';
import type { JSONRPCNotification } from '../core/jsonrpc.js';

/*
 * The policies of a gateway, in their fixed order.
 *
 *   gateway-wide, once per client request:   the embedder's (tracing, audit), rate limits by
 *                                            caller (address, principal, key)
 *   per backend, wherever a request meets it: tool view, authorization, rate limits by backend
 *                                            and tool, response cache, deadline, retries,
 *                                            circuit breaker
 *
 * A server's requests to the client run a chain of their own (empty unless the embedder gives
 * one). Settings a reload may change are read when a request runs, so a reload applies to
 * sessions already open.
 */

export interface GatewayPolicies {
  /** The gateway-wide chain, after the embedder's policies. */
  readonly gatewayWide: readonly Policy[];
  /** One backend's chain. */
  forBackend(name: string, config: Readonly<BackendConfig>): Policy[];
  readonly breakers: BreakerRegistry;
  readonly limiter: RateLimiter | undefined;
  /** What the backend's response cache must hear of its notifications; undefined: nothing. */
  changeHook(
    name: string,
    config: Readonly<BackendConfig>,
  ): ((message: JSONRPCNotification) => void) | undefined;
  /** Takes the settings a reload may change (retries, breakers). */
  reconfigure(next: Readonly<GatewayConfig>): void;
  close(): Promise<void>;
}

export function createPolicies(config: Readonly<GatewayConfig>, log: Logger): GatewayPolicies {
  let current = config;
  const breakers = new BreakerRegistry({ ...config.breakers });
  const limits = config.rateLimits;
  const limiter = limits.enabled
    ? createRateLimiter({
        rules: [
          ...(limits.requests > 0
            ? [{ scope: 'ip' as const, requests: limits.requests, periodMs: limits.periodMs }]
            : []),
          ...limits.rules,
        ],
        redisUrl: config.redis.url,
        keyPrefix: config.redis.keyPrefix,
        log,
      })
    : undefined;
  const rules = config.authorization;
  const authorizer =
    rules.rules.length > 0 || rules.default === 'deny'
      ? createAuthorizer({ rules: [...rules.rules], default: rules.default })
      : undefined;
  // Read per request: a reload that turns them on or off, or changes the attempts, applies.
  const cache = createResponseCache(config, log);
  const retries = retry(() => current.retries);
  const breakersOn = () => current.breakers.enabled;

  return {
    gatewayWide: limiter ? [limiter.callerPolicy] : [],
    forBackend(name, backend) {
      // initialize is bounded by the transport's own start-up, not by a request deadline.
      // Own keys only: a method named `__proto__` or `constructor` gets the default deadline.
      const base = (method: string) =>
        method === 'initialize'
          ? 0
          : Object.hasOwn(backend.methodTimeoutsMs, method)
            ? backend.methodTimeoutsMs[method]!
            : backend.timeoutMs;
      const steps: Array<Policy | undefined> = [
        toolView(backend.tools),
        authorizer?.policy,
        limiter?.backendPolicy,
        cache?.forBackend(name, backend)?.policy,
        timeout({
          baseFor: (ctx) => base(ctx.message.method),
          maxFor: (ctx) => backend.maxTimeoutMs || 10 * base(ctx.message.method),
        }),
        retries,
        circuitBreaker(breakers, name, breakersOn),
      ];
      return steps.filter((step) => step !== undefined);
    },
    breakers,
    limiter,
    changeHook: (name, backend) => cache?.forBackend(name, backend)?.observe,
    reconfigure(next) {
      const before = current.breakers;
      current = next;
      if (!isDeepStrictEqual(before, next.breakers)) breakers.configure({ ...next.breakers });
    },
    async close() {
      await limiter?.close();
      await cache?.close();
    },
  };
}
