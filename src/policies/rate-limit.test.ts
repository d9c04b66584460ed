import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Policy, RequestContext } from '../core/policy.js';
import { createRateLimiter } from './rate-limit.js';
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
