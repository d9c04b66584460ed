import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  importSPKI,
  jwtVerify,
  errors as joseErrors,
} from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';

type VerifyKey = Awaited<ReturnType<typeof importSPKI>>;
import type { Principal } from '../core/policy.js';
import { GatewayError } from '../core/errors.js';
import { withCallerToken } from '../backends/credentials.js';
import { channels } from '../core/diagnostics.js';

/*
 * Who is calling: an API key (X-API-Key, or a bearer token that is not a JWT) or a JWT (HS256
 * with a secret, RS256/ES256 with a PEM public key or a JWKS URL). Keys are kept as SHA-256
 * hashes and compared in constant time; tokens are checked for signature, issuer, audience,
 * expiry and not-before, with a small clock skew; with introspection (introspection.ts), a token
 * that is neither a known key nor a JWT this gateway verifies is asked about at the
 * authorization server (introspection.ts's TokenIntrospector). A token must expire (`exp`, within the maximum
 * lifetime: a leaked token without one is good forever) and name its caller (the principal
 * claim: tokens without one would all be one caller, able to use each other's sessions). The
 * caller's token or key never reaches a log.
 */

export const DEFAULT_MAX_LIFETIME_SECONDS = 86_400;

export interface AuthOptions {
  /** API keys, plain or as `sha256:<hex>`. */
  apiKeys: readonly string[];
  jwt?: {
    secret?: string;
    publicKey?: string;
    jwksUrl?: string;
    /** A JWKS given inline (tests, air-gapped setups). */
    jwks?: { keys: unknown[] };
    issuer?: string;
    audience?: string | string[];
    clockToleranceSec: number;
    /** Longest `exp - iat` (or `exp - now` without `iat`) accepted. @default 86400 */
    maxLifetimeSeconds?: number;
    /** The claim naming the caller, required. @default 'sub' */
    principalClaim?: string;
  };
  /** Checks opaque bearer tokens at the authorization server (RFC 7662). */
  introspector?: { verify(token: string): Promise<Principal> };
}

/** Why a request was refused, for the reply and for the failed-auth counters. */
export type AuthFailureReason =
  | 'missing'
  | 'invalid_key'
  | 'invalid_token'
  | 'expired'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'insufficient_scope';

export class AuthError extends GatewayError {
  constructor(
    readonly reason: AuthFailureReason,
    detail: string,
    readonly scope?: string,
  ) {
    super(reason === 'insufficient_scope' ? 'GATEWAY_FORBIDDEN' : 'GATEWAY_UNAUTHORIZED', detail);
  }
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

function looksLikeJwt(token: string): boolean {
  const parts = token.split('.');
  return (
    parts.length === 3 && parts.every((p) => /^[A-Za-z0-9_-]*$/.test(p)) && parts[0]!.length > 0
  );
}

function scopesOf(payload: JWTPayload): string[] {
  const scope = payload.scope;
  const scopes = payload.scopes;
  if (typeof scope === 'string') return scope.split(' ').filter(Boolean);
  if (Array.isArray(scopes)) return scopes.filter((s): s is string => typeof s === 'string');
  if (typeof scopes === 'string') return scopes.split(/[ ,]/).filter(Boolean);
  return [];
}

export class Authenticator {
  private readonly keyHashes: Buffer[];
  private readonly keyFor: JWTVerifyGetKey | Uint8Array | undefined;
  private readonly pemKey: Promise<VerifyKey> | undefined;

  constructor(private readonly options: AuthOptions) {
    this.keyHashes = options.apiKeys.map((key) =>
      key.startsWith('sha256:') ? Buffer.from(key.slice(7), 'hex') : sha256(key),
    );
    const jwt = options.jwt;
    if (jwt?.jwksUrl)
      this.keyFor = createRemoteJWKSet(new URL(jwt.jwksUrl), { cooldownDuration: 1000 });
    else if (jwt?.jwks)
      this.keyFor = createLocalJWKSet(jwt.jwks as Parameters<typeof createLocalJWKSet>[0]);
    else if (jwt?.secret) this.keyFor = new TextEncoder().encode(jwt.secret);
    if (jwt?.publicKey) {
      const alg = jwt.publicKey.includes('EC PUBLIC') ? 'ES256' : 'RS256';
      this.pemKey = importSPKI(jwt.publicKey, alg).catch(() => importSPKI(jwt.publicKey!, 'ES256'));
    }
  }

  get configured(): boolean {
    return (
      this.keyHashes.length > 0 ||
      this.keyFor !== undefined ||
      this.pemKey !== undefined ||
      this.options.introspector !== undefined
    );
  }

  /** The credential a request carries: X-API-Key, else a bearer token. */
  static credential(headers: IncomingHttpHeaders): string | undefined {
    const key = headers['x-api-key'];
    if (typeof key === 'string' && key !== '') return key;
    const auth = headers.authorization;
    if (typeof auth === 'string' && /^bearer /i.test(auth))
      return auth.slice(7).trim() || undefined;
    return undefined;
  }

  /** Checks a credential; throws AuthError with the reason. `transport` labels the failure event. */
  async verify(credential: string | undefined, transport: string): Promise<Principal> {
    try {
      if (credential === undefined)
        throw new AuthError('missing', 'send an API key (X-API-Key) or a bearer token');
      const introspector = this.options.introspector;
      const principal =
        looksLikeJwt(credential) && (this.keyFor || this.pemKey)
          ? await this.verifyJwt(credential)
          : introspector
            ? (this.matchKey(credential) ?? (await introspector.verify(credential)))
            : this.verifyKey(credential);
      // Kept (out of sight) for backends that take the caller's token or an exchanged one.
      return withCallerToken(principal, credential);
    } catch (error) {
      if (channels.authFailure.hasSubscribers) {
        if (error instanceof AuthError)
          channels.authFailure.publish({ reason: error.reason, transport });
        else if (error instanceof GatewayError && error.code === 'GATEWAY_AUTH_UNAVAILABLE')
          channels.authFailure.publish({ reason: 'unavailable', transport });
      }
      throw error;
    }
  }

  private verifyKey(credential: string): Principal {
    const principal = this.matchKey(credential);
    if (!principal) throw new AuthError('invalid_key', 'the API key is not valid');
    return principal;
  }

  private matchKey(credential: string): Principal | undefined {
    if (this.keyHashes.length === 0) return undefined;
    const hash = sha256(credential);
    let match = -1;
    // Compare with every key, so the time taken does not say which one came close.
    this.keyHashes.forEach((known, i) => {
      if (known.length === hash.length && timingSafeEqual(known, hash)) match = i;
    });
    if (match < 0) return undefined;
    const keyId = `key-${this.keyHashes[match]!.toString('hex').slice(0, 8)}`;
    return { id: keyId, scopes: ['*'], claims: { keyId } };
  }

  private async verifyJwt(token: string): Promise<Principal> {
    const jwt = this.options.jwt!;
    const claim = jwt.principalClaim ?? 'sub';
    const options = {
      issuer: jwt.issuer,
      audience: jwt.audience,
      clockTolerance: jwt.clockToleranceSec,
      requiredClaims: ['exp'],
    };
    let payload: JWTPayload;
    try {
      const key = this.pemKey ? await this.pemKey : this.keyFor!;
      ({ payload } =
        typeof key === 'function'
          ? await jwtVerify(token, key, options)
          : await jwtVerify(token, key as Uint8Array, options));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired)
        throw new AuthError('expired', 'the token has expired');
      if (error instanceof joseErrors.JWTClaimValidationFailed) {
        if (error.claim === 'aud')
          throw new AuthError('wrong_audience', 'the token is not meant for this gateway (aud)');
        if (error.claim === 'iss')
          throw new AuthError(
            'wrong_issuer',
            'the token was issued by an issuer this gateway does not trust (iss)',
          );
        if (error.claim === 'nbf')
          throw new AuthError('invalid_token', 'the token is not valid yet (nbf)');
        if (error.claim === 'exp' && error.reason === 'missing')
          throw new AuthError('invalid_token', 'the token has no expiry (exp)');
        throw new AuthError('invalid_token', `the token's ${error.claim} claim is not acceptable`);
      }
      throw new AuthError('invalid_token', 'the token could not be verified');
    }
    const max = jwt.maxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS;
    const exp = payload.exp!;
    const lifetime = exp - (typeof payload.iat === 'number' ? payload.iat : Date.now() / 1000);
    if (lifetime > max) {
      throw new AuthError(
        'invalid_token',
        `the token lives longer than the ${max} s this gateway accepts (auth.jwt.maxLifetimeSeconds)`,
      );
    }
    const id = payload[claim];
    if (typeof id !== 'string' || id === '')
      throw new AuthError('invalid_token', `the token does not name its caller (${claim})`);
    return { id, scopes: scopesOf(payload), claims: payload as Record<string, unknown> };
  }
}

/** Whether a principal holds every scope in `required` (API keys hold `*`). */
export function missingScope(
  principal: Principal,
  required: readonly string[],
): string | undefined {
  if (principal.scopes.includes('*')) return undefined;
  return required.find((scope) => !principal.scopes.includes(scope));
}
