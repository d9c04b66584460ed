import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { readEnvironment, withDotenv } from '../config/env.js';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../config/schema.js';
import { DEFAULT_MAX_LIFETIME_SECONDS } from './authenticator.js';

/*
 * `mcp-bridge token create`: an HS256 JWT that a gateway configured with the same
 * `auth.jwt.secret` accepts, for scripts, tests and service accounts. The secret comes from the
 * gateway's own configuration (file and environment, as a start would load them), or from a
 * variable named on the command line; the token never goes anywhere but the caller's stdout.
 */

/** A request that cannot be served (no secret, a bad duration); the CLI exits 2 with it. */
export class TokenError extends Error {
  override name = 'TokenError';
}

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `15m`, `1h`, `7d`, `90s` or plain seconds (`3600`), to whole seconds above zero. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  const seconds = match ? Number(match[1]) * UNITS[match[2] || 's']! : 0;
  if (!match || seconds <= 0 || !Number.isSafeInteger(seconds))
    throw new TokenError(
      `--ttl: expected a duration above zero such as 15m, 1h, 7d or 3600 (seconds), got "${text}"`,
    );
  return seconds;
}

export interface TokenRequest {
  /** The `sub` claim: who the token stands for. */
  subject: string;
  /** The `scope` claim, space-separated; omitted when empty. @default [] */
  scopes?: readonly string[];
  /** Lifetime: `15m`, `1h`, `3600`… */
  ttl: string;
  /** Take the secret, issuer and audience from this config file (with the environment). */
  configFile?: string;
  /** Take the secret from this environment variable instead of the configuration. */
  secretEnv?: string;
  /** The `iss` claim. @default `auth.jwt.issuer` of the configuration, if any */
  issuer?: string;
  /** The `aud` claim. @default `auth.jwt.audience` of the configuration, if any */
  audience?: string;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Where `.env` and a relative `configFile` are looked for. @default process.cwd() */
  cwd?: string;
  /** Seconds since the epoch, for `iat` and `exp`. @default now */
  now?: number;
}

interface SigningSettings {
  secret: string | undefined;
  issuer?: string;
  audience?: string | readonly string[];
  /** What the gateway accepts, so that a token is never made that it would refuse. */
  maxLifetimeSeconds?: number;
  principalClaim?: string;
  source: string;
}

/** Where the secret comes from: `secretEnv`, the config file, or BRIDGE_JWT_SECRET. */
function signingSettings(request: TokenRequest): SigningSettings {
  const env = request.env ?? process.env;
  const cwd = request.cwd ?? process.cwd();
  let settings: SigningSettings;
  if (request.configFile !== undefined) {
    // Throws ConfigLoadError naming every problem, as a start of the gateway would.
    const jwt = loadConfig({ file: request.configFile, env, cwd }).auth.jwt;
    settings = {
      secret: jwt?.secret,
      issuer: jwt?.issuer,
      audience: jwt?.audience,
      maxLifetimeSeconds: jwt?.maxLifetimeSeconds,
      principalClaim: jwt?.principalClaim,
      source: `auth.jwt.secret of ${request.configFile} (or BRIDGE_JWT_SECRET)`,
    };
  } else {
    const { env: merged, problems } = withDotenv(env, [join(cwd, '.env')], cwd);
    if (problems.length > 0) throw new ConfigError(problems);
    const secret = readEnvironment(merged).settings.find(
      (s) => s.path.join('.') === 'auth.jwt.secret',
    )?.value as string | undefined;
    settings = { secret, source: 'BRIDGE_JWT_SECRET (or give --config <file>)' };
  }
  if (request.secretEnv !== undefined) {
    settings.secret = env[request.secretEnv] || undefined;
    settings.source = request.secretEnv;
  }
  return settings;
}

/**
 * Signs the token. Throws TokenError for a missing or short secret or a bad ttl, and ConfigError
 * for a configuration (or `.env`) that cannot be loaded.
 */
export async function createToken(request: TokenRequest): Promise<string> {
  const ttl = parseDuration(request.ttl);
  if (request.subject.trim() === '') throw new TokenError('--sub: expected a non-empty subject');
  const settings = signingSettings(request);
  if (settings.secret === undefined)
    throw new TokenError(`no signing secret: set ${settings.source}`);
  if (settings.secret.length < 16)
    throw new TokenError(`${settings.source}: expected a secret of at least 16 characters`);
  const max = settings.maxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS;
  if (ttl > max)
    throw new TokenError(
      `--ttl: ${request.ttl} is longer than the ${max} s a gateway accepts (auth.jwt.maxLifetimeSeconds)`,
    );
  const now = request.now ?? Math.floor(Date.now() / 1000);
  const scopes = (request.scopes ?? []).filter(Boolean);
  const claims: Record<string, string> = scopes.length > 0 ? { scope: scopes.join(' ') } : {};
  const claim = settings.principalClaim ?? 'sub';
  if (claim !== 'sub') claims[claim] = request.subject;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(request.subject)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .setJti(randomUUID());
  const issuer = request.issuer ?? settings.issuer;
  const audience = request.audience ?? settings.audience;
  if (issuer !== undefined) jwt.setIssuer(issuer);
  if (audience !== undefined)
    jwt.setAudience(typeof audience === 'string' ? audience : [...audience]);
  return jwt.sign(new TextEncoder().encode(settings.secret));
}
