import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { channels } from '../core/diagnostics.js';
import { GatewayError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Policy, RequestContext } from '../core/policy.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { globMatcher } from '../core/glob.js';

/*
 * Rate limits as a sliding window: the count of the current fixed window plus the previous
 * window's count weighted by how much of it still overlaps the last `period` (the estimate
 * Cloudflare describes). rate-limiter-flexible does the counting: atomically in Redis when
 * `redis.url` is set, so replicas share one limit, in memory otherwise. Redis sits behind a
 * circuit breaker: when it fails, counting falls back to memory at once, and goes back to Redis
 * once probes succeed again.
 */

export type LimitScope = 'ip' | 'principal' | 'apiKey' | 'backend' | 'tool';

export interface LimitRule {
  scope: LimitScope;
  /** Glob over the backend or tool name, for those scopes. */
  match?: string;
  requests: number;
  periodMs: number;
}

export interface RateLimitOptions {
  rules: LimitRule[];
  /** Redis connection (`redis://…` or a Unix socket path); in memory when absent. */
  redisUrl?: string;
  keyPrefix?: string;
  log: Logger;
}

const HUGE = 1_000_000_000;

/**
 * Which store the counts come from, told once per change: the log says when Redis is lost and
 * when it is back, and `ratelimit:store` feeds the metric.
 */
class StoreState {
  current: 'redis' | 'memory' | undefined;

  constructor(private readonly log: Logger) {}

  use(store: 'redis' | 'memory', error?: unknown): void {
    if (this.current === store) return;
    const was = this.current;
    this.current = store;
    if (store === 'memory' && was === 'redis')
      this.log.warn(
        { err: error },
        'rate-limit store (Redis) lost: counting in memory, per replica, until it is back',
      );
    else if (store === 'redis' && was === 'memory')
      this.log.info('rate-limit store (Redis) back: counting in Redis, shared by every replica');
    if (channels.rateLimitStore.hasSubscribers) channels.rateLimitStore.publish({ store });
  }
}

class Counter {
  private readonly memory: RateLimiterMemory;
  private readonly redis: RateLimiterRedis | undefined;

  constructor(
    periodMs: number,
    prefix: string,
    private readonly client: Redis | undefined,
    private readonly breaker: CircuitBreaker,
    private readonly store: StoreState,
  ) {
    // Counters live two periods, so the previous window can still be read.
    const duration = Math.max(1, Math.ceil((2 * periodMs) / 1000));
    this.memory = new RateLimiterMemory({ points: HUGE, duration, keyPrefix: prefix });
    this.redis = client
      ? new RateLimiterRedis({ storeClient: client, points: HUGE, duration, keyPrefix: prefix })
      : undefined;
  }

  /**
   * Runs `work` on Redis when it can, and always on memory. Memory counts every request this
   * replica saw, so a fallback starts from this replica's own counts, not from zero: while Redis
   * is away, a caller gets at most the limit per replica, never twice it on one.
   */
  private async run<T>(work: (limiter: RateLimiterAbstract) => Promise<T>): Promise<T> {
    const local = work(this.memory);
    if (this.redis && this.client?.status === 'ready' && this.breaker.admit()) {
      try {
        const shared = await work(this.redis);
        this.breaker.record(true);
        this.store.use('redis');
        await local;
        return shared;
      } catch (error) {
        this.breaker.record(false);
        this.store.use('memory', error);
      }
    } else if (this.redis) {
      this.store.use('memory');
    }
    return local;
  }

  /** Counts one request in `key`'s current window; returns both windows' counts. */
  async count(key: string, window: number): Promise<{ current: number; previous: number }> {
    return this.run(async (limiter) => {
      const [res, prev] = await Promise.all([
        limiter.consume(`${key}:${window}`, 1),
        limiter.get(`${key}:${window - 1}`),
      ]);
      return { current: res.consumedPoints, previous: prev?.consumedPoints ?? 0 };
    });
  }

  /** Takes back a counted request that was refused, so refusals do not extend the wait. */
  async refund(key: string, window: number): Promise<void> {
    await this.run((limiter) => limiter.reward(`${key}:${window}`, 1)).catch(() => {});
  }
}

function keyFor(
  rule: LimitRule,
  ctx: RequestContext,
  toolOf: (ctx: RequestContext) => string | undefined,
): string | undefined {
  switch (rule.scope) {
    case 'ip':
      return ctx.remoteAddress;
    case 'principal':
      return ctx.principal?.id;
    case 'apiKey':
      return (ctx.principal?.claims?.keyId as string | undefined) ?? undefined;
    case 'backend':
      return ctx.backend;
    case 'tool':
      return toolOf(ctx);
  }
}

/** A principal's own limit, from its token's `rate_limit` claim. */
function claimedLimit(ctx: RequestContext): LimitRule | undefined {
  const claim = ctx.principal?.claims?.rate_limit as
    { requests_per_minute?: unknown; burst?: unknown } | undefined;
  const rpm = Number(claim?.requests_per_minute);
  if (!Number.isFinite(rpm) || rpm <= 0) return undefined;
  const burst = Number(claim?.burst);
  return {
    scope: 'principal',
    requests: rpm + (Number.isFinite(burst) && burst > 0 ? burst : 0),
    periodMs: 60_000,
  };
}

/** Scopes counted where a request meets its backend (in the backend's chain), not per caller. */
const BACKEND_SCOPES: ReadonlySet<LimitScope> = new Set(['backend', 'tool']);

/**
 * How long (as a share of the period) until one more request fits, given `counted` requests in
 * the current window (this one not among them), `previous` in the one before, and how far into
 * the current window we are. The estimate is `previous × (1 − elapsed) + current`: with room in
 * this window, the wait is for the previous window's weight to fade; with none, for the next
 * window, where this window's count is the one that fades.
 */
export function admittedIn(
  limit: number,
  counted: number,
  previous: number,
  elapsed: number,
): number {
  if (counted + 1 <= limit) {
    if (previous <= 0) return 0;
    return Math.max(0, 1 - (limit - counted - 1) / previous - elapsed);
  }
  // Next window: `counted` becomes the previous window's count, and the new one starts empty.
  return 1 - elapsed + Math.max(0, 1 - (limit - 1) / counted);
}

export interface RateLimiter {
  /** Limits by caller (address, principal, key): once per client request, in the gateway-wide chain. */
  callerPolicy: Policy;
  /** Limits by backend and tool, in each backend's chain; undefined when no rule has those scopes. */
  backendPolicy: Policy | undefined;
  /** Whether Redis is being used right now (false: counting in memory). */
  readonly sharedNow: boolean;
  close(): Promise<void>;
}

export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const prefix = options.keyPrefix ?? 'mcp-bridge:';
  // Fail fast while Redis is away: the breaker and the memory fallback take over.
  const clientOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 0 };
  const url = options.redisUrl;
  const client = url
    ? url.startsWith('/')
      ? new Redis({ ...clientOptions, path: url })
      : new Redis(url, clientOptions)
    : undefined;
  client?.on('error', (error: Error) => options.log.debug({ err: error }, 'redis error'));
  const breaker = new CircuitBreaker('redis', {
    failureThreshold: 3,
    failureRatio: 0,
    openMs: 2000,
    successThreshold: 1,
  });
  const counters = new Map<number, Counter>();
  const store = new StoreState(options.log);
  const counterFor = (periodMs: number) => {
    let c = counters.get(periodMs);
    if (!c)
      counters.set(
        periodMs,
        (c = new Counter(periodMs, `${prefix}rl:${periodMs}`, client, breaker, store)),
      );
    return c;
  };
  const rules = options.rules.map((rule) => ({
    rule,
    matcher: globMatcher(rule.match ? [rule.match] : undefined),
  }));
  const toolOf = (ctx: RequestContext) =>
    ctx.message.method === 'tools/call' ? String(ctx.message.params?.name ?? '') : undefined;

  async function check(rule: LimitRule, key: string): Promise<void> {
    const now = Date.now();
    const window = Math.floor(now / rule.periodMs);
    const counter = counterFor(rule.periodMs);
    const { current, previous } = await counter.count(`${rule.scope}:${key}`, window);
    const elapsed = (now - window * rule.periodMs) / rule.periodMs;
    const estimate = previous * (1 - elapsed) + current;
    if (estimate <= rule.requests) return;
    await counter.refund(`${rule.scope}:${key}`, window);
    const retryAfter = Math.max(
      1,
      Math.ceil((admittedIn(rule.requests, current - 1, previous, elapsed) * rule.periodMs) / 1000),
    );
    if (channels.rateLimited.hasSubscribers)
      channels.rateLimited.publish({
        scope: rule.scope,
        key: rule.scope === 'apiKey' ? '(key)' : key,
      });
    throw new GatewayError(
      'GATEWAY_RATE_LIMITED',
      `${rule.requests} requests per ${rule.periodMs / 1000} s by ${rule.scope}; retry in ${retryAfter} s`,
      { data: { retryAfter } },
    );
  }

  const perCaller = rules.filter((r) => !BACKEND_SCOPES.has(r.rule.scope));
  const perBackend = rules.filter((r) => BACKEND_SCOPES.has(r.rule.scope));

  async function apply(ctx: RequestContext, applicable: typeof rules): Promise<void> {
    for (const { rule, matcher } of applicable) {
      const key = keyFor(rule, ctx, toolOf);
      if (key === undefined || key === '' || (matcher && !matcher.test(key))) continue;
      await check(rule, key);
    }
  }

  const callerPolicy: Policy = async (ctx, next) => {
    const own = claimedLimit(ctx);
    await apply(
      ctx,
      own
        ? [
            { rule: own, matcher: undefined },
            ...perCaller.filter((r) => r.rule.scope !== 'principal'),
          ]
        : perCaller,
    );
    return next();
  };

  const backendPolicy: Policy = async (ctx, next) => {
    await apply(ctx, perBackend);
    return next();
  };

  return {
    callerPolicy,
    backendPolicy: perBackend.length > 0 ? backendPolicy : undefined,
    get sharedNow() {
      return client?.status === 'ready' && breaker.state !== 'open';
    },
    async close() {
      client?.disconnect();
    },
  };
}
