import { describe, expect, it } from 'vitest';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { createHash } from 'node:crypto';
import { AuthError, Authenticator, missingScope } from './authenticator.js';

async function signed(alg: 'RS256' | 'ES256', claims: Record<string, unknown> = {}) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg })
    .setSubject('carol')
    .setExpirationTime('5m')
    .sign(privateKey);
  return { token, pem: await exportSPKI(publicKey) };
}

describe('Authenticator', () => {
  it.each(['RS256', 'ES256'] as const)(
    'verifies %s tokens against a PEM public key',
    async (alg) => {
      const { token, pem } = await signed(alg, {
        scopes: ['a', 'b'],
        rate_limit: { requests_per_minute: 5 },
      });
      const auth = new Authenticator({
        apiKeys: [],
        jwt: { publicKey: pem, clockToleranceSec: 5 },
      });
      const principal = await auth.verify(token, 'test');
      expect(principal).toMatchObject({ id: 'carol', scopes: ['a', 'b'] });
      expect(principal.claims?.rate_limit).toEqual({ requests_per_minute: 5 });
      // The raw token is kept for backends, but never shows in the principal's JSON.
      expect(JSON.stringify(principal)).not.toContain(token);
    },
  );

  it('refuses a token signed by another key', async () => {
    const { pem } = await signed('ES256');
    const { token } = await signed('ES256');
    const auth = new Authenticator({ apiKeys: [], jwt: { publicKey: pem, clockToleranceSec: 5 } });
    await expect(auth.verify(token, 'test')).rejects.toMatchObject({ reason: 'invalid_token' });
  });

  it('accepts API keys given in plain or as a SHA-256 hash, and no other', async () => {
    const hashed = `sha256:${createHash('sha256').update('second-key-123456').digest('hex')}`;
    const auth = new Authenticator({ apiKeys: ['first-key-1234567', hashed] });
    expect((await auth.verify('first-key-1234567', 'test')).scopes).toEqual(['*']);
    expect((await auth.verify('second-key-123456', 'test')).id).toMatch(/^key-[0-9a-f]{8}$/);
    await expect(auth.verify('third-key-1234567', 'test')).rejects.toBeInstanceOf(AuthError);
    await expect(auth.verify(undefined, 'test')).rejects.toMatchObject({
      reason: 'missing',
      status: 401,
    });
  });

  it('reads scope as a space-separated string and finds what is missing', async () => {
    const secret = 'a-secret-of-at-least-32-characters-long';
    const token = await new SignJWT({ scope: 'read write' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('dave')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(secret));
    const principal = await new Authenticator({
      apiKeys: [],
      jwt: { secret, clockToleranceSec: 5 },
    }).verify(token, 'test');
    expect(principal.scopes).toEqual(['read', 'write']);
    expect(missingScope(principal, ['read', 'admin'])).toBe('admin');
    expect(missingScope(principal, ['write'])).toBeUndefined();
  });
});

describe('weak JWTs are refused', () => {
  const secret = 'a-secret-of-at-least-32-characters-long';
  const key = new TextEncoder().encode(secret);
  const now = Math.floor(Date.now() / 1000);
  const auth = (jwt: { maxLifetimeSeconds?: number; principalClaim?: string } = {}) =>
    new Authenticator({ apiKeys: [], jwt: { secret, clockToleranceSec: 5, ...jwt } });
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key);

  it('a token without exp, which never expired, is refused', async () => {
    const token = await sign({ sub: 'alice', iat: now });
    await expect(auth().verify(token, 'test')).rejects.toMatchObject({
      reason: 'invalid_token',
      message: expect.stringContaining('(exp)'),
    });
  });

  it('a token living longer than auth.jwt.maxLifetimeSeconds is refused, by exp - iat or exp - now', async () => {
    const long = await sign({ sub: 'alice', iat: now, exp: now + 86_400 + 60 });
    await expect(auth().verify(long, 'test')).rejects.toMatchObject({
      reason: 'invalid_token',
      message: expect.stringContaining('maxLifetimeSeconds'),
    });
    const noIat = await sign({ sub: 'alice', exp: now + 3600 });
    await expect(auth({ maxLifetimeSeconds: 600 }).verify(noIat, 'test')).rejects.toMatchObject({
      message: expect.stringContaining('600 s'),
    });
    expect((await auth({ maxLifetimeSeconds: 7200 }).verify(noIat, 'test')).id).toBe('alice');
    const day = await sign({ sub: 'alice', iat: now, exp: now + 86_400 });
    expect((await auth().verify(day, 'test')).id).toBe('alice');
  });

  it('a token without sub, which made every such caller one principal, is refused', async () => {
    const token = await sign({ iat: now, exp: now + 60 });
    await expect(auth().verify(token, 'test')).rejects.toMatchObject({
      reason: 'invalid_token',
      message: expect.stringContaining('(sub)'),
    });
    const empty = await sign({ sub: '', iat: now, exp: now + 60 });
    await expect(auth().verify(empty, 'test')).rejects.toMatchObject({ reason: 'invalid_token' });
  });

  it('the principal claim is configurable (auth.jwt.principalClaim)', async () => {
    const token = await sign({ sub: 'shared', email: 'eve@example.com', iat: now, exp: now + 60 });
    expect((await auth({ principalClaim: 'email' }).verify(token, 'test')).id).toBe(
      'eve@example.com',
    );
    const without = await sign({ sub: 'shared', iat: now, exp: now + 60 });
    await expect(auth({ principalClaim: 'email' }).verify(without, 'test')).rejects.toMatchObject({
      message: expect.stringContaining('(email)'),
    });
  });
});
