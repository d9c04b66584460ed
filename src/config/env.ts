import { readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { parseEnv } from 'node:util';
import { configSchema } from './schema.js';

/*
 * The environment's layer of the configuration: `.env` files under the real environment, and
 * one table from variable to config path (a new variable is one row). Values are parsed here so
 * that a bad one names the variable; ranges and everything else are checked once, by the
 * schema, after all layers are merged.
 */

/** A value that cannot be read; the message says what was expected and what was given. */
class EnvValueError extends Error {}

type Parse = (raw: string) => unknown;

export interface EnvVariable {
  name: string;
  /**
   * Dotted config path. A `*` segment stands for every entry of that record that does not set
   * the key itself (a default for each backend, say), applied after all layers are merged.
   */
  path: string;
  parse: Parse;
}

const LOG_LEVELS: readonly string[] = configSchema.shape.log.unwrap().shape.level.unwrap().options;
const LOG_LEVEL_ALIASES: Readonly<Record<string, string>> = { warning: 'warn', critical: 'fatal' };

function integer(min: number, max?: number): Parse {
  const expected =
    max === undefined ? `an integer, ${min} or more` : `an integer from ${min} to ${max}`;
  return (raw) => {
    const value = Number(raw);
    if (!/^[+-]?\d+$/.test(raw) || value < min || (max !== undefined && value > max))
      throw new EnvValueError(`expected ${expected}, got "${raw}"`);
    return value;
  };
}

/** Seconds, fractions allowed, to whole milliseconds. */
const seconds: Parse = (raw) => {
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(raw))
    throw new EnvValueError(
      `expected a number of seconds, 0 or more (such as 30 or 0.5), got "${raw}"`,
    );
  return Math.round(Number(raw) * 1000);
};

const BOOLEANS: Readonly<Record<string, boolean>> = {
  true: true,
  false: false,
  '1': true,
  '0': false,
  yes: true,
  no: false,
};

const boolean: Parse = (raw) => {
  const value = BOOLEANS[raw.toLowerCase()];
  if (value === undefined)
    throw new EnvValueError(`expected true or false (or 1/0, yes/no), got "${raw}"`);
  return value;
};

const text: Parse = (raw) => raw;

/** Comma-separated; blanks around items and empty items are dropped. */
const list: Parse = (raw) =>
  raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

const logLevel: Parse = (raw) => {
  const lower = raw.toLowerCase();
  const level = LOG_LEVEL_ALIASES[lower] ?? lower;
  if (!LOG_LEVELS.includes(level))
    throw new EnvValueError(`expected one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  return level;
};

/** Every variable the gateway reads, in the order docs/configuration.md lists them. */
export const ENV_VARIABLES: readonly EnvVariable[] = [
  { name: 'BRIDGE_HOST', path: 'server.host', parse: text },
  { name: 'BRIDGE_PORT', path: 'server.port', parse: integer(0, 65535) },
  { name: 'BRIDGE_ENABLE_HTTP', path: 'server.http', parse: boolean },
  { name: 'BRIDGE_ENABLE_SSE', path: 'server.sse', parse: boolean },
  { name: 'BRIDGE_ENABLE_WEBSOCKET', path: 'server.websocket', parse: boolean },
  { name: 'BRIDGE_CORS_ORIGINS', path: 'server.allowedOrigins', parse: list },
  { name: 'BRIDGE_REQUIRE_AUTH', path: 'auth.required', parse: boolean },
  { name: 'BRIDGE_API_KEYS', path: 'auth.apiKeys', parse: list },
  { name: 'BRIDGE_JWT_SECRET', path: 'auth.jwt.secret', parse: text },
  {
    name: 'BRIDGE_INTROSPECTION_SECRET',
    path: 'auth.introspection.clientSecret',
    parse: text,
  },
  { name: 'BRIDGE_MAX_PROCESSES', path: 'processes.max', parse: integer(0) },
  { name: 'BRIDGE_PROCESS_TIMEOUT', path: 'backends.*.timeoutMs', parse: seconds },
  { name: 'BRIDGE_PROCESS_IDLE_TIMEOUT', path: 'processes.idleTimeoutMs', parse: seconds },
  { name: 'BRIDGE_HEALTH_CHECK_INTERVAL', path: 'processes.healthCheckIntervalMs', parse: seconds },
  { name: 'BRIDGE_RESTART_ON_FAILURE', path: 'processes.restartOnFailure', parse: boolean },
  { name: 'BRIDGE_MAX_RESTART_ATTEMPTS', path: 'processes.maxRestartAttempts', parse: integer(0) },
  { name: 'BRIDGE_MAX_SESSIONS_PER_CLIENT', path: 'sessions.maxPerClient', parse: integer(0) },
  { name: 'BRIDGE_SESSION_TIMEOUT', path: 'sessions.idleTimeoutMs', parse: seconds },
  { name: 'BRIDGE_SESSION_CLEANUP_INTERVAL', path: 'sessions.cleanupIntervalMs', parse: seconds },
  { name: 'BRIDGE_LOG_LEVEL', path: 'log.level', parse: logLevel },
  { name: 'BRIDGE_LOG_FILE', path: 'log.file', parse: text },
  { name: 'BRIDGE_LOG_FORMAT', path: 'log.format', parse: text },
  { name: 'BRIDGE_ENABLE_METRICS', path: 'admin.enabled', parse: boolean },
  { name: 'BRIDGE_METRICS_PORT', path: 'admin.port', parse: integer(0, 65535) },
  { name: 'BRIDGE_ENABLE_RATE_LIMITING', path: 'rateLimits.enabled', parse: boolean },
  { name: 'BRIDGE_RATE_LIMIT_REQUESTS', path: 'rateLimits.requests', parse: integer(0) },
  { name: 'BRIDGE_RATE_LIMIT_PERIOD', path: 'rateLimits.periodMs', parse: seconds },
  { name: 'REDIS_URL', path: 'redis.url', parse: text },
  { name: 'BRIDGE_CLUSTER', path: 'cluster.enabled', parse: boolean },
  { name: 'BRIDGE_REPLICA_ID', path: 'cluster.replicaId', parse: text },
  { name: 'BRIDGE_CLUSTER_SECRET', path: 'cluster.secret', parse: text },
  { name: 'BRIDGE_CLUSTER_PORT', path: 'cluster.port', parse: integer(0, 65535) },
  { name: 'BRIDGE_CLUSTER_ADVERTISE', path: 'cluster.advertise', parse: text },
];

/** One setting taken from the environment. */
export interface EnvSetting {
  variable: string;
  /** The config path, split; may hold a `*` segment (see EnvVariable.path). */
  path: readonly string[];
  value: unknown;
}

/**
 * The settings the environment gives, in table order. Unset and empty variables give none;
 * unknown BRIDGE_* variables are ignored. Values that cannot be read are returned as problems,
 * `VARIABLE: expected …, got "…"`, so that all of them can be reported at once.
 */
export function readEnvironment(env: NodeJS.ProcessEnv): {
  settings: EnvSetting[];
  problems: string[];
} {
  const settings: EnvSetting[] = [];
  const problems: string[] = [];
  for (const variable of ENV_VARIABLES) {
    const raw = env[variable.name]?.trim();
    if (raw === undefined || raw === '') continue;
    try {
      settings.push({
        variable: variable.name,
        path: variable.path.split('.'),
        value: variable.parse(raw),
      });
    } catch (error) {
      if (!(error instanceof EnvValueError)) throw error;
      problems.push(`${variable.name}: ${error.message}`);
    }
  }
  return { settings, problems };
}

// ---------------------------------------------------------------------------------------------
// .env files

/**
 * `env` with the variables of `.env` files under it: the real environment wins, then the files
 * in the order given. Missing files are skipped; a malformed line is a problem naming the file
 * (relative to `cwd` when under it) and the line.
 */
export function withDotenv(
  env: NodeJS.ProcessEnv,
  files: readonly string[],
  cwd: string,
): { env: NodeJS.ProcessEnv; problems: string[] } {
  const merged: NodeJS.ProcessEnv = {};
  const problems: string[] = [];
  for (const file of [...files].reverse()) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      problems.push(`${shortPath(file, cwd)}: cannot read the file: ${(error as Error).message}`);
      continue;
    }
    const bad = malformedDotenvLines(text);
    for (const line of bad)
      problems.push(`${shortPath(file, cwd)}: line ${line}: expected NAME=value`);
    if (bad.length === 0) Object.assign(merged, parseEnv(text));
  }
  for (const [name, value] of Object.entries(env)) if (value !== undefined) merged[name] = value;
  return { env: merged, problems };
}

/**
 * Line numbers that are neither blank, a comment, nor `[export ]NAME=value`. util.parseEnv
 * skips such lines silently, or worse, reads them into the next variable's name. Quoted values
 * may span lines, as util.parseEnv allows. Values never appear in a message: they may be secrets.
 */
export function malformedDotenvLines(text: string): number[] {
  const lines = text.split(/\r?\n/);
  const bad: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*(.*)$/.exec(line);
    if (!match) {
      bad.push(i + 1);
      continue;
    }
    const value = match[1]!;
    const quote = value[0];
    if ((quote === '"' || quote === "'" || quote === '`') && value.indexOf(quote, 1) === -1) {
      let end = i + 1;
      while (end < lines.length && !lines[end]!.includes(quote)) end++;
      if (end === lines.length) bad.push(i + 1);
      i = end;
    }
  }
  return bad;
}

function shortPath(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel.startsWith('..') || isAbsolute(rel) ? file : rel;
}
