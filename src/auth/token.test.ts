import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../config/schema.js';
import { Authenticator } from './authenticator.js';
import { TokenError, createToken, parseDuration } from './token.js';

const SECRET = 'a-token-secret-of-32-characters!!';
const NOW = 1_800_000_000;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-token-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const key = (secret = SECRET) => new TextEncoder().encode(secret);
/** Verified at NOW, with the issuer and audience the token must carry. */
const verify = async (token: string, options: { issuer?: string; audience?: string } = {}) =>
  (await jwtVerify(token, key(), { ...options, currentDate: new Date(NOW * 1000) })).payload;

describe('parseDuration', () => {
  it.each([
    ['15m', 900],
    ['1h', 3600],
    ['3600', 3600],
    ['90s', 90],
    ['7d', 604_800],
    [' 2h ', 7200],
  ])('%s is %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', '0', '0m', '-5', '1.5h', '15 minutes', '1w', 'h', '1e3'])(
    '"%s" is refused, saying what is expected',
    (text) => {
      expect(() => parseDuration(text)).toThrow(
        new TokenError(
          `--ttl: expected a duration above zero such as 15m, 1h, 7d or 3600 (seconds), got "${text}"`,
        ),
      );
    },
  );
});

describe('createToken', () => {
  it('signs an HS256 JWT with sub, scope, iat, exp = now + ttl and a jti, from BRIDGE_JWT_SECRET', async () => {
    const token = await createToken({
      subject: 'ci-bot',
      scopes: ['tools:read', 'tools:call'],
      ttl: '15m',
      env: { BRIDGE_JWT_SECRET: SECRET },
      cwd: dir,
      now: NOW,
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(await verify(token)).toEqual({
      sub: 'ci-bot',
      scope: 'tools:read tools:call',
      iat: NOW,
      exp: NOW + 900,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });

  it('omits scope when none is given', async () => {
    const token = await createToken({
      subject: 'x',
      scopes: [''],
      ttl: '60',
      env: { BRIDGE_JWT_SECRET: SECRET },
      cwd: dir,
      now: NOW,
    });
    expect(await verify(token)).not.toHaveProperty('scope');
  });

  it("takes the secret, issuer and audience from the config file; the flags' win", async () => {
    const file = join(dir, 'bridge.yaml');
    writeFileSync(
      file,
      [
        'auth:',
        '  jwt: { secret: "${TOKEN_SECRET}", issuer: https://issuer.test, audience: [https://a.test, https://b.test] }',
        'backends: { x: { command: x } }',
      ].join('\n'),
    );
    const base = { subject: 'ci-bot', ttl: '1h', configFile: file, cwd: dir, now: NOW };
    const env = { TOKEN_SECRET: SECRET };
    const fromFile = await verify(await createToken({ ...base, env }), {
      issuer: 'https://issuer.test',
      audience: 'https://b.test',
    });
    expect(fromFile).toMatchObject({
      iss: 'https://issuer.test',
      aud: ['https://a.test', 'https://b.test'],
    });
    const flagged = await verify(
      await createToken({ ...base, env, issuer: 'https://other.test', audience: 'https://c.test' }),
    );
    expect(flagged).toMatchObject({ iss: 'https://other.test', aud: 'https://c.test' });
    // BRIDGE_JWT_SECRET wins over the file, as it would for the gateway.
    const other = 'another-secret-of-enough-length';
    const token = await createToken({ ...base, env: { ...env, BRIDGE_JWT_SECRET: other } });
    await expect(
      jwtVerify(token, key(other), { currentDate: new Date(NOW * 1000) }),
    ).resolves.toBeTruthy();
  });

  it('takes the secret from the variable --secret-env names', async () => {
    const token = await createToken({
      subject: 'a',
      ttl: '1m',
      secretEnv: 'MY_SECRET',
      env: { MY_SECRET: SECRET, BRIDGE_JWT_SECRET: 'not-this-one-0000000000' },
      cwd: dir,
      now: NOW,
    });
    expect((await verify(token)).sub).toBe('a');
  });

  it.each([
    [{}, undefined, 'no signing secret: set BRIDGE_JWT_SECRET (or give --config <file>)'],
    [{ MY_SECRET: '' }, 'MY_SECRET', 'no signing secret: set MY_SECRET'],
    [
      { BRIDGE_JWT_SECRET: 'short' },
      undefined,
      'BRIDGE_JWT_SECRET (or give --config <file>): expected a secret of at least 16 characters',
    ],
  ])('refuses to sign without a usable secret (%j)', async (env, secretEnv, message) => {
    await expect(
      createToken({ subject: 'a', ttl: '1m', env, secretEnv, cwd: dir }),
    ).rejects.toThrow(new TokenError(message));
  });

  it('refuses an empty subject and a bad ttl before looking for a secret', async () => {
    await expect(createToken({ subject: ' ', ttl: '1m', env: {}, cwd: dir })).rejects.toThrow(
      new TokenError('--sub: expected a non-empty subject'),
    );
    await expect(createToken({ subject: 'a', ttl: 'soon', env: {}, cwd: dir })).rejects.toThrow(
      /^--ttl: expected a duration/,
    );
  });

  it('reports a config file without a secret, and one that cannot be loaded', async () => {
    const file = join(dir, 'no-secret.yaml');
    writeFileSync(file, 'backends: { x: { command: x } }\n');
    await expect(
      createToken({ subject: 'a', ttl: '1m', configFile: file, env: {}, cwd: dir }),
    ).rejects.toThrow(
      new TokenError(`no signing secret: set auth.jwt.secret of ${file} (or BRIDGE_JWT_SECRET)`),
    );
    await expect(
      createToken({
        subject: 'a',
        ttl: '1m',
        configFile: join(dir, 'nope.yaml'),
        env: {},
        cwd: dir,
      }),
    ).rejects.toBeInstanceOf(ConfigError);
  });

  it('makes tokens the gateway accepts, with the subject as principal and the scopes', async () => {
    const token = await createToken({
      subject: 'ci-bot',
      scopes: ['tools:read'],
      ttl: '5m',
      issuer: 'https://issuer.test',
      audience: 'http://127.0.0.1/mcp',
      env: { BRIDGE_JWT_SECRET: SECRET },
      cwd: dir,
    });
    const authenticator = new Authenticator({
      apiKeys: [],
      jwt: {
        secret: SECRET,
        issuer: 'https://issuer.test',
        audience: 'http://127.0.0.1/mcp',
        clockToleranceSec: 0,
      },
    });
    expect(await authenticator.verify(token, 'http')).toMatchObject({
      id: 'ci-bot',
      scopes: ['tools:read'],
    });
  });

  it('never makes a token the gateway would refuse for its lifetime or principal claim', async () => {
    await expect(
      createToken({ subject: 'a', ttl: '7d', env: { BRIDGE_JWT_SECRET: SECRET }, cwd: dir }),
    ).rejects.toThrow(
      new TokenError(
        '--ttl: 7d is longer than the 86400 s a gateway accepts (auth.jwt.maxLifetimeSeconds)',
      ),
    );
    const file = join(dir, 'claim.yaml');
    writeFileSync(
      file,
      [
        'auth:',
        '  jwt: { secret: "' + SECRET + '", maxLifetimeSeconds: 604800, principalClaim: email }',
        'backends: { x: { command: x } }',
      ].join('\n'),
    );
    const token = await createToken({
      subject: 'eve@example.com',
      ttl: '7d',
      configFile: file,
      env: {},
      cwd: dir,
    });
    const authenticator = new Authenticator({
      apiKeys: [],
      jwt: {
        secret: SECRET,
        clockToleranceSec: 0,
        maxLifetimeSeconds: 604_800,
        principalClaim: 'email',
      },
    });
    expect((await authenticator.verify(token, 'http')).id).toBe('eve@example.com');
  });
});
