import { createHash } from 'node:crypto';
import type { Principal } from '../core/context.js';
import type { Authenticator } from './authenticator.js';

/**
 * Checks per-message tokens (the WebSocket envelope's `auth_token`, and any frontend that carries
 * a token with each message) and keeps each verdict for `cacheMs`, so a client that sends the
 * same token on every message pays for one verification. Tokens are keyed by their SHA-256:
 * the cache holds no secret.
 */
export function messageTokenVerifier(
  authenticator: Authenticator,
  cacheMs: number,
  transport = 'websocket',
): (token: string) => Promise<Principal> {
  const verified = new Map<string, { principal: Principal; until: number }>();
  return async (token) => {
    const key = createHash('sha256').update(token).digest('hex');
    const cached = verified.get(key);
    if (cached && cached.until > Date.now()) return cached.principal;
    const principal = await authenticator.verify(token, transport);
    if (verified.size > 10_000) verified.clear();
    // Never past the token's own expiry (a JWT's or an introspected token's `exp`).
    const exp = principal.claims?.exp;
    const until = Date.now() + cacheMs;
    verified.set(key, {
      principal,
      until: typeof exp === 'number' ? Math.min(until, exp * 1000) : until,
    });
    return principal;
  };
}
