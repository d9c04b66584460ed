import { describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import type { Policy, RequestContext } from '../core/policy.js';
import { admittedIn, createRateLimiter } from './rate-limit.js';
import { messageContext } from '../../test/contexts.js';

const log = pino({ level: 'silent' });

function ctx(extra: Parameters<typeof messageContext>[0]): RequestContext {
  return messageContext({
    message: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'search' } },
    ...extra,
  });
}

async function admitted(policy: Policy, c: RequestContext, n: number) {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    try {
      await policy(c, async () => undefined);
      ok++;
    } catch (error) {
      expect((error as { code?: string }).code).toBe('GATEWAY_RATE_LIMITED');
    }
  }
  return ok;
}

describe('rate limits in memory', () => {
  it("gives a principal its token's rate_limit claim: requests per minute plus burst", async () => {
    const limiter = createRateLimiter({
      rules: [{ scope: 'principal', requests: 100, periodMs: 60_000 }],
      log,
    });
    const alice = ctx({
      principal: {
        id: 'alice',
        scopes: [],
        claims: { rate_limit: { requests_per_minute: 3, burst: 2 } },
      },
    });
    expect(await admitted(limiter.callerPolicy, alice, 8)).toBe(5);
    const bob = ctx({ principal: { id: 'bob', scopes: [] } });
    expect(await admitted(limiter.callerPolicy, bob, 8)).toBe(8);
    await limiter.close();
  });

  it('limits a tool by name glob, and counts principals apart', async () => {
    const limiter = createRateLimiter({
      rules: [{ scope: 'tool', match: 'sea*', requests: 2, periodMs: 60_000 }],
      log,
    });
    // A tool's limit is counted where the call meets its backend.
    expect(limiter.backendPolicy).toBeDefined();
    expect(await admitted(limiter.backendPolicy!, ctx({}), 4)).toBe(2);
    expect(await admitted(limiter.callerPolicy, ctx({}), 4)).toBe(4);
    const other = ctx({
      message: { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'fetch' } },
    });
    expect(await admitted(limiter.backendPolicy!, other, 4)).toBe(4);
    await limiter.close();
  });

  it('says when to retry', async () => {
    const limiter = createRateLimiter({
      rules: [{ scope: 'ip', requests: 1, periodMs: 10_000 }],
      log,
    });
    const c = ctx({ remoteAddress: '10.1.2.3' });
    await limiter.callerPolicy(c, async () => undefined);
    await expect(limiter.callerPolicy(c, async () => undefined)).rejects.toMatchObject({
      code: 'GATEWAY_RATE_LIMITED',
      data: { retryAfter: expect.any(Number) },
    });
    await limiter.close();
  });
});

// The message and Retry-After said "retry in 1 s" when the caller had to wait several.
describe('when a refused caller may come back', () => {
  it('admittedIn: the wait until the sliding estimate has room for one more', () => {
    // Room in this window: the previous window's weight must fade to 4 (of 8).
    expect(admittedIn(5, 0, 8, 0.25)).toBeCloseTo(0.25);
    // No room in this window (5 of 5 counted, 0.1 in): the rest of it, then 20% of the next.
    expect(admittedIn(5, 5, 0, 0.1)).toBeCloseTo(0.9 + 0.2);
    expect(admittedIn(5, 2, 0, 0.5)).toBe(0);
  });

  it('tells the truth: refused a second before Retry-After, admitted at it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const period = 10_000;
      vi.setSystemTime(1_700_000_000_000 + 1000); // 1 s into a window
      const limiter = createRateLimiter({
        rules: [{ scope: 'ip', requests: 5, periodMs: period }],
        log,
      });
      const c = ctx({ remoteAddress: '10.9.8.7' });
      const attempt = () =>
        limiter
          .callerPolicy(c, async () => undefined)
          .then(
            () => 0,
            (error: { data?: { retryAfter: number } }) => error.data!.retryAfter,
          );
      for (let i = 0; i < 5; i++) expect(await attempt()).toBe(0);
      const retryAfter = await attempt();
      // 9 s left in this window, then 20% of the next: 11 s, not 1.
      expect(retryAfter).toBe(11);
      vi.setSystemTime(Date.now() + (retryAfter - 1) * 1000);
      expect(await attempt()).toBeGreaterThan(0);
      vi.setSystemTime(Date.now() + 1000);
      expect(await attempt()).toBe(0);
      await limiter.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
