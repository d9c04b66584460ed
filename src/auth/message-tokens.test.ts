import { describe, expect, it } from 'vitest';
import type { Principal } from '../core/context.js';
import type { Authenticator } from './authenticator.js';
import { messageTokenVerifier } from './message-tokens.js';

/** An authenticator that counts its checks and names `claims` on the principal it returns. */
function counting(claims: Record<string, unknown>) {
  let checks = 0;
  const authenticator = {
    verify: async (): Promise<Principal> => {
      checks++;
      return { id: 'p', scopes: [], claims };
    },
  } as unknown as Authenticator;
  return { authenticator, checks: () => checks };
}

describe('messageTokenVerifier', () => {
  it('keeps a verdict for cacheMs', async () => {
    const { authenticator, checks } = counting({});
    const verify = messageTokenVerifier(authenticator, 60_000);
    await verify('t');
    await verify('t');
    expect(checks()).toBe(1);
  });

  it("never keeps a verdict past the token's exp (an introspected or JWT token)", async () => {
    const { authenticator, checks } = counting({ exp: Math.floor(Date.now() / 1000) - 1 });
    const verify = messageTokenVerifier(authenticator, 60_000);
    await verify('t');
    await verify('t');
    expect(checks()).toBe(2);
  });
});
