import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigLoadError, loadConfig } from './load.js';
import type { ConfigOverrides } from './load.js';

/* The seed systems' environment variables, read as deprecated aliases of ours. */

const dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-env-aliases-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const oneBackend: ConfigOverrides = { backends: { probe: { command: 'probe-server' } } };

function load(env: NodeJS.ProcessEnv, flags: ConfigOverrides = oneBackend) {
  const warnings: string[] = [];
  const config = loadConfig({ env, cwd: dir, flags, warn: (m) => warnings.push(m) });
  return { config, warnings };
}

function problems(env: NodeJS.ProcessEnv, flags: ConfigOverrides = oneBackend): string[] {
  try {
    loadConfig({ env, cwd: dir, flags });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigLoadError);
    return (error as ConfigLoadError).problems;
  }
  throw new Error('expected the load to fail');
}

const SECRET = 'a-seed-secret-of-32-characters!!';

describe('JWT secrets of seeds 002-003', () => {
  it.each(['MCP_JWT_SECRET_KEY', 'JWT_SECRET_KEY'])(
    '%s is read as BRIDGE_JWT_SECRET, with a note',
    (name) => {
      const { config, warnings } = load({ [name]: SECRET });
      expect(config.auth.jwt?.secret).toBe(SECRET);
      expect(warnings).toEqual([
        expect.stringMatching(new RegExp(`^${name} .*deprecated, set BRIDGE_JWT_SECRET`)),
      ]);
    },
  );

  it('ours wins when both are set, and the alias is named as ignored', () => {
    const { config, warnings } = load({
      BRIDGE_JWT_SECRET: SECRET,
      JWT_SECRET_KEY: 'another-secret-of-enough-length',
    });
    expect(config.auth.jwt?.secret).toBe(SECRET);
    expect(warnings).toEqual([
      'JWT_SECRET_KEY (seed 002-003) is ignored: BRIDGE_JWT_SECRET is set',
    ]);
  });

  it('MCP_JWT_SECRET_KEY wins over JWT_SECRET_KEY, as in seed 003', () => {
    const { config } = load({
      MCP_JWT_SECRET_KEY: SECRET,
      JWT_SECRET_KEY: 'another-secret-of-enough-length',
    });
    expect(config.auth.jwt?.secret).toBe(SECRET);
  });

  it('a short secret is named by the seed variable', () => {
    expect(problems({ JWT_SECRET_KEY: 'short' })).toEqual([
      'JWT_SECRET_KEY: auth.jwt.secret: expected a secret of at least 16 characters',
    ]);
  });
});

describe('REDIS_PASSWORD', () => {
  it('goes into the Redis URL', () => {
    const { config, warnings } = load({
      REDIS_URL: 'redis://127.0.0.1:6379/0',
      REDIS_PASSWORD: 'p@ss word',
    });
    expect(config.redis.url).toBe('redis://:p%40ss%20word@127.0.0.1:6379/0');
    expect(warnings[0]).toMatch(/REDIS_PASSWORD .* put into redis\.url/);
  });

  it('does not replace a password the URL has', () => {
    const { config, warnings } = load({
      REDIS_URL: 'redis://:own@h:6379',
      REDIS_PASSWORD: 'other',
    });
    expect(config.redis.url).toBe('redis://:own@h:6379');
    expect(warnings[0]).toMatch(/has a password of its own/);
  });

  it('without a Redis URL is named as ignored', () => {
    const { config, warnings } = load({ REDIS_PASSWORD: 'p' });
    expect(config.redis.url).toBeUndefined();
    expect(warnings[0]).toMatch(/ignored: no Redis URL/);
  });
});

describe('seed 000: MCP_SERVER_PATH, MCP_SERVER_ARGS, MCP_SERVER_ENV', () => {
  it('a Python module becomes python3 -m, with its arguments and environment', () => {
    const { config, warnings } = load(
      {
        MCP_SERVER_PATH: 'src.main',
        MCP_SERVER_ARGS: '--root "/srv/my data"',
        MCP_SERVER_ENV: 'A=1,B=two',
      },
      {},
    );
    expect(config.backends['mcp-server']).toMatchObject({
      transport: 'stdio',
      command: 'python3',
      args: ['-m', 'src.main', '--root', '/srv/my data'],
      env: { A: '1', B: 'two' },
    });
    expect(warnings[0]).toMatch(/read as the backend "mcp-server"; they are deprecated/);
  });

  it('a program is run as it is; MCP_SERVER_ENV may be JSON', () => {
    const { config } = load(
      { MCP_SERVER_PATH: '/usr/bin/my-server', MCP_SERVER_ENV: '{"TOKEN": "x"}' },
      {},
    );
    expect(config.backends['mcp-server']).toMatchObject({
      command: '/usr/bin/my-server',
      args: [],
      env: { TOKEN: 'x' },
    });
  });

  it('a Python file is run by python3', () => {
    const { config } = load({ MCP_SERVER_PATH: 'server.py' }, {});
    expect(config.backends['mcp-server']).toMatchObject({
      command: 'python3',
      args: ['server.py'],
    });
  });

  it('bad values are named', () => {
    expect(problems({ MCP_SERVER_PATH: 'x', MCP_SERVER_ENV: 'no-equals' }, {})).toContain(
      'MCP_SERVER_ENV: expected NAME=value pairs, got "no-equals"',
    );
    expect(problems({ MCP_SERVER_PATH: 'x', MCP_SERVER_ARGS: 'a | b' }, {})[0]).toMatch(
      /^MCP_SERVER_ARGS: .*shell operator/,
    );
    expect(problems({ MCP_SERVER_ARGS: '--x' })).toEqual([
      'MCP_SERVER_ARGS: set without MCP_SERVER_PATH, the server it is for (seed 000)',
    ]);
  });
});

describe('BRIDGE_WORKERS', () => {
  it('is refused above 1, with the reason and what to do instead', () => {
    expect(problems({ BRIDGE_WORKERS: '4' })).toEqual([
      expect.stringMatching(/^BRIDGE_WORKERS: not supported .*cluster\.enabled/),
    ]);
  });

  it('1 is what we do anyway: a note only', () => {
    const { warnings } = load({ BRIDGE_WORKERS: '1' });
    expect(warnings).toEqual([expect.stringMatching(/BRIDGE_WORKERS=1 .* ignored/)]);
  });
});

describe('others that map onto ours', () => {
  it('STDIO_SOCKET_PATH, MCP_LOGGING_LEVEL, MCP_METRICS_PORT', () => {
    const { config, warnings } = load({
      STDIO_SOCKET_PATH: '/tmp/gw.sock',
      MCP_LOGGING_LEVEL: 'debug',
      MCP_METRICS_PORT: '9091',
    });
    expect(config.server.unixSocket).toBe('/tmp/gw.sock');
    expect(config.log.level).toBe('debug');
    expect(config.admin.port).toBe(9091);
    expect(warnings).toHaveLength(3);
  });

  it('a bad value is named by the seed variable', () => {
    expect(problems({ MCP_METRICS_PORT: 'ninety' })).toEqual([
      'MCP_METRICS_PORT: expected an integer from 0 to 65535, got "ninety"',
    ]);
  });

  it('HOST, PORT, DEBUG and LOG_LEVEL are not read', () => {
    const { config, warnings } = load({
      HOST: '0.0.0.0',
      PORT: '1234',
      DEBUG: 'true',
      LOG_LEVEL: 'debug',
    });
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.server.port).toBe(8080);
    expect(config.log.level).toBe('info');
    expect(warnings).toEqual([]);
  });
});
