import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_VARIABLES, readEnvironment } from './env.js';
import { ConfigLoadError, loadConfig } from './load.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-bridge-env-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function withEnv(env: NodeJS.ProcessEnv) {
  return loadConfig({ env, cwd: dir, flags: { backends: { a: { command: 'x' } } } });
}

function valueAt(config: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], config);
}

describe('environment overrides', () => {
  it.each([
    ['BRIDGE_HOST', '0.0.0.0', 'server.host', '0.0.0.0'],
    ['BRIDGE_PORT', '9090', 'server.port', 9090],
    ['BRIDGE_PORT', '0', 'server.port', 0],
    ['BRIDGE_ENABLE_HTTP', 'false', 'server.http', false],
    ['BRIDGE_ENABLE_SSE', 'NO', 'server.sse', false],
    ['BRIDGE_ENABLE_WEBSOCKET', '0', 'server.websocket', false],
    ['BRIDGE_ENABLE_WEBSOCKET', 'Yes', 'server.websocket', true],
    [
      'BRIDGE_CORS_ORIGINS',
      'https://a.test, https://b.test,',
      'server.allowedOrigins',
      ['https://a.test', 'https://b.test'],
    ],
    ['BRIDGE_CORS_ORIGINS', '*', 'server.allowedOrigins', ['*']],
    ['BRIDGE_REQUIRE_AUTH', 'true', 'auth.required', true],
    [
      'BRIDGE_API_KEYS',
      'key-one-0123,sha256:abcd',
      'auth.apiKeys',
      ['key-one-0123', 'sha256:abcd'],
    ],
    ['BRIDGE_JWT_SECRET', 'a-secret-of-16-chars+', 'auth.jwt.secret', 'a-secret-of-16-chars+'],
    ['BRIDGE_MAX_PROCESSES', '12', 'processes.max', 12],
    ['BRIDGE_PROCESS_TIMEOUT', '90', 'backends.a.timeoutMs', 90_000],
    ['BRIDGE_PROCESS_IDLE_TIMEOUT', '0.25', 'processes.idleTimeoutMs', 250],
    ['BRIDGE_HEALTH_CHECK_INTERVAL', '15', 'processes.healthCheckIntervalMs', 15_000],
    ['BRIDGE_RESTART_ON_FAILURE', 'FALSE', 'processes.restartOnFailure', false],
    ['BRIDGE_RESTART_ON_FAILURE', '1', 'processes.restartOnFailure', true],
    ['BRIDGE_MAX_RESTART_ATTEMPTS', '5', 'processes.maxRestartAttempts', 5],
    ['BRIDGE_MAX_SESSIONS_PER_CLIENT', '3', 'sessions.maxPerClient', 3],
    ['BRIDGE_SESSION_TIMEOUT', '1800', 'sessions.idleTimeoutMs', 1_800_000],
    ['BRIDGE_SESSION_CLEANUP_INTERVAL', '.5', 'sessions.cleanupIntervalMs', 500],
    ['BRIDGE_LOG_LEVEL', 'DEBUG', 'log.level', 'debug'],
    ['BRIDGE_LOG_LEVEL', 'Warning', 'log.level', 'warn'],
    ['BRIDGE_LOG_LEVEL', 'CRITICAL', 'log.level', 'fatal'],
    ['BRIDGE_LOG_FILE', '/var/log/mcp-bridge.log', 'log.file', '/var/log/mcp-bridge.log'],
  ])('%s=%s sets %s', (name, raw, path, value) => {
    expect(valueAt(withEnv({ [name]: raw }), path)).toEqual(value);
  });

  it.each([
    ['BRIDGE_PORT', 'abc', 'expected an integer from 0 to 65535, got "abc"'],
    ['BRIDGE_PORT', '70000', 'expected an integer from 0 to 65535, got "70000"'],
    ['BRIDGE_PORT', '80.5', 'expected an integer from 0 to 65535, got "80.5"'],
    ['BRIDGE_MAX_PROCESSES', '-1', 'expected an integer, 0 or more, got "-1"'],
    ['BRIDGE_MAX_RESTART_ATTEMPTS', 'many', 'expected an integer, 0 or more, got "many"'],
    ['BRIDGE_MAX_SESSIONS_PER_CLIENT', '1e3', 'expected an integer, 0 or more, got "1e3"'],
    [
      'BRIDGE_PROCESS_TIMEOUT',
      '30s',
      'expected a number of seconds, 0 or more (such as 30 or 0.5), got "30s"',
    ],
    [
      'BRIDGE_SESSION_TIMEOUT',
      '-5',
      'expected a number of seconds, 0 or more (such as 30 or 0.5), got "-5"',
    ],
    ['BRIDGE_ENABLE_SSE', 'maybe', 'expected true or false (or 1/0, yes/no), got "maybe"'],
    [
      'BRIDGE_LOG_LEVEL',
      'loud',
      'expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
  ])('%s=%s is refused, naming the variable', (name, raw, message) => {
    try {
      withEnv({ [name]: raw });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigLoadError);
      expect((error as ConfigLoadError).problems).toEqual([`${name}: ${message}`]);
    }
  });

  it('reports every bad variable at once', () => {
    expect(readEnvironment({ BRIDGE_PORT: 'x', BRIDGE_ENABLE_HTTP: 'y' }).problems).toEqual([
      'BRIDGE_PORT: expected an integer from 0 to 65535, got "x"',
      'BRIDGE_ENABLE_HTTP: expected true or false (or 1/0, yes/no), got "y"',
    ]);
  });

  it('ignores unknown BRIDGE_* variables and empty ones; trims values', () => {
    const { settings, problems } = readEnvironment({
      BRIDGE_SOMETHING_NEW: 'x',
      BRIDGE_PORT: '',
      BRIDGE_HOST: '  ::1 ',
    });
    expect(problems).toEqual([]);
    expect(settings).toEqual([{ variable: 'BRIDGE_HOST', path: ['server', 'host'], value: '::1' }]);
  });

  it('has one row per variable, each documented in docs/configuration.md', () => {
    const names = ENV_VARIABLES.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    const docs = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    for (const name of names) expect(docs).toContain(`| \`${name}\``);
  });
});
