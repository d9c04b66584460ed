import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { runCliIn } from '../frontend-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, loadConfig } from '../../src/index.js';
import { createLogger } from '../../src/core/logger.js';
import { FIXTURES, initializeRequest } from '../helpers.js';

/*
 * `mcp-bridge token create` as a user runs it (the built CLI; `npm run build` first): the token
 * alone on stdout, its claims, and a gateway loaded from the same file accepting it.
 */

const SECRET = 'a-cli-token-secret-of-32-chars!!';
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'http://127.0.0.1/mcp';
let dir: string;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-token-cli-'));
  file = join(dir, 'bridge.json');
  writeFileSync(
    file,
    JSON.stringify({
      server: { host: '127.0.0.1', port: 0 },
      auth: { required: true, jwt: { secret: SECRET, issuer: ISSUER, audience: AUDIENCE } },
      admin: { enabled: false },
      backends: {
        probe: { command: process.execPath, args: [join(FIXTURES, 'probe-server.mjs')] },
      },
    }),
  );
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[], env: Record<string, string> = {}) => runCliIn(dir, args, env);

const initialize = JSON.stringify(initializeRequest({ name: 't' }));

describe('mcp-bridge token create', () => {
  it('prints only a token, signed with the config file secret, that the gateway accepts', async () => {
    const before = Math.floor(Date.now() / 1000);
    const run = await cli([
      'token',
      'create',
      '--config',
      file,
      '--sub',
      'ci-bot',
      '--scopes',
      'tools:read tools:call',
      '--ttl',
      '15m',
    ]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = run.stdout.trim();
    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(SECRET), {
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload).toMatchObject({ sub: 'ci-bot', scope: 'tools:read tools:call' });
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(payload.iat).toBeGreaterThanOrEqual(before);
    expect(payload.iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));

    const gateway = createGateway(loadConfig({ file, env: {}, cwd: dir }), {
      log: createLogger({ level: 'silent' }),
    });
    try {
      const { port } = await gateway.listen();
      const post = (headers: Record<string, string>) =>
        fetch(`http://127.0.0.1:${port}/mcp`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            ...headers,
          },
          body: initialize,
        }).then(async (res) => (await res.text(), res.status));
      expect(await post({ authorization: `Bearer ${token}` })).toBe(200);
      expect(await post({})).toBe(401);
    } finally {
      await gateway.close();
    }
  });

  it('takes BRIDGE_JWT_SECRET without a file, a ttl in seconds, and --issuer/--audience', async () => {
    const run = await cli(
      [
        'token',
        'create',
        '--sub',
        'svc',
        '--ttl',
        '3600',
        '--issuer',
        ISSUER,
        '--audience',
        AUDIENCE,
      ],
      { BRIDGE_JWT_SECRET: SECRET },
    );
    expect(run.code).toBe(0);
    const { payload } = await jwtVerify(run.stdout.trim(), new TextEncoder().encode(SECRET), {
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    expect(payload.sub).toBe('svc');
    expect(payload.scope).toBeUndefined();
    expect(payload.exp! - payload.iat!).toBe(3600);
  });

  it('takes the secret from the variable --secret-env names', async () => {
    const run = await cli(
      ['token', 'create', '--sub', 's', '--ttl', '1h', '--secret-env', 'MINE'],
      {
        MINE: SECRET,
      },
    );
    expect(run.code).toBe(0);
    await expect(
      jwtVerify(run.stdout.trim(), new TextEncoder().encode(SECRET)),
    ).resolves.toBeTruthy();
  });

  it.each([
    [[], {}, 'token create: no signing secret: set BRIDGE_JWT_SECRET (or give --config <file>)'],
    [['--secret-env', 'UNSET'], {}, 'token create: no signing secret: set UNSET'],
    [
      ['--ttl', '15 minutes'],
      { BRIDGE_JWT_SECRET: SECRET },
      'token create: --ttl: expected a duration above zero such as 15m, 1h, 7d or 3600 (seconds), got "15 minutes"',
    ],
  ])('exits 2 with a clear message, nothing on stdout: %j', async (extra, env, message) => {
    const args = ['token', 'create', '--sub', 'a', '--ttl', '1h', ...extra];
    const run = await cli(args, env);
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr: `mcp-bridge: ${message}\nRun "mcp-bridge --help" for usage.\n`,
    });
  });

  it('exits 2 for a missing --sub or --ttl and an unknown subcommand', async () => {
    const env = { BRIDGE_JWT_SECRET: SECRET };
    expect((await cli(['token', 'create', '--ttl', '1h'], env)).stderr).toContain(
      'give --sub <id>',
    );
    expect((await cli(['token', 'create', '--sub', 'a'], env)).stderr).toContain('give --ttl');
    const revoke = await cli(['token', 'revoke'], env);
    expect(revoke.code).toBe(2);
    expect(revoke.stderr).toContain('the only command is "token create", not "token revoke"');
    expect((await cli(['--help'])).stdout).toContain('token create');
  });
});
