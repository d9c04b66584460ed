import { splitCommandLine } from './command-line.js';
import type { EnvSetting, EnvVariable } from './env.js';

/*
 * Environment variables of the seed systems (docs/migrating.md), read as aliases of ours so
 * that their users' environments keep working. Each one read is named in the log as deprecated,
 * with the variable to set instead; ours wins when both are set. Variables whose names other
 * tools use too (HOST, PORT, DEBUG, LOG_LEVEL, …) are deliberately not read.
 */

type Plain = Record<string, unknown>;

class AliasValueError extends Error {}

interface Alias {
  name: string;
  /** The seed systems that document it. */
  seeds: string;
  /** Our variable it stands for (its path and parser are used). */
  of?: string;
  /** Or a path and parser of its own, when we have no variable for the setting. */
  path?: string;
  parse?: (raw: string) => unknown;
  /** What to set instead, for the deprecation note (default: `of`). */
  instead?: string;
}

const text = (raw: string) => raw;

const ALIASES: readonly Alias[] = [
  { name: 'MCP_JWT_SECRET_KEY', seeds: '002-003', of: 'BRIDGE_JWT_SECRET' },
  { name: 'JWT_SECRET_KEY', seeds: '002-003', of: 'BRIDGE_JWT_SECRET' },
  { name: 'MCP_LOGGING_LEVEL', seeds: '004', of: 'BRIDGE_LOG_LEVEL' },
  { name: 'MCP_METRICS_PORT', seeds: '004', of: 'BRIDGE_METRICS_PORT' },
  {
    name: 'STDIO_SOCKET_PATH',
    seeds: '003',
    path: 'server.unixSocket',
    parse: text,
    instead: 'server.unixSocket in the config file, or --unix',
  },
];

/** The backend seed 000's variables describe, under this name. */
export const SEED_000_BACKEND = 'mcp-server';

/** What the seed variables in `env` give: settings, problems, and the deprecation notes. */
export function readSeedEnvironment(
  env: NodeJS.ProcessEnv,
  ours: readonly EnvVariable[],
  taken: ReadonlySet<string>,
): { settings: EnvSetting[]; problems: string[]; notes: string[] } {
  const settings: EnvSetting[] = [];
  const problems: string[] = [];
  const notes: string[] = [];
  const value = (name: string) => {
    const raw = env[name]?.trim();
    return raw === '' ? undefined : raw;
  };
  for (const alias of ALIASES) {
    const raw = value(alias.name);
    if (raw === undefined) continue;
    const target = alias.of ? ours.find((v) => v.name === alias.of) : undefined;
    const path = target?.path ?? alias.path!;
    const instead = alias.instead ?? alias.of!;
    if (taken.has(path) || settings.some((s) => s.path.join('.') === path)) {
      notes.push(`${alias.name} (seed ${alias.seeds}) is ignored: ${instead} is set`);
      continue;
    }
    try {
      settings.push({
        variable: alias.name,
        path: path.split('.'),
        value: (target?.parse ?? alias.parse!)(raw),
      });
      notes.push(
        `${alias.name} (seed ${alias.seeds}) is read as ${instead}; it is deprecated, set ${instead} instead`,
      );
    } catch (error) {
      problems.push(`${alias.name}: ${(error as Error).message}`);
    }
  }
  const workers = value('BRIDGE_WORKERS');
  if (workers !== undefined && workers !== '1') {
    problems.push(
      `BRIDGE_WORKERS: not supported (seed 000): mcp-bridge is one process whose event loop serves every session; for more, run several replicas with cluster.enabled (docs/scaling.md), or unset it`,
    );
  } else if (workers === '1')
    notes.push('BRIDGE_WORKERS=1 (seed 000) is ignored: mcp-bridge is always one process');
  const serverPath = value('MCP_SERVER_PATH');
  if (serverPath !== undefined) {
    try {
      settings.push({
        variable: 'MCP_SERVER_PATH',
        path: ['backends', SEED_000_BACKEND],
        value: seed000Backend(serverPath, value('MCP_SERVER_ARGS'), value('MCP_SERVER_ENV')),
      });
      notes.push(
        `MCP_SERVER_PATH, MCP_SERVER_ARGS and MCP_SERVER_ENV (seed 000) are read as the backend "${SEED_000_BACKEND}"; they are deprecated, give it in the config file or with --stdio`,
      );
    } catch (error) {
      if (!(error instanceof AliasValueError)) throw error;
      problems.push(error.message);
    }
  } else {
    for (const name of ['MCP_SERVER_ARGS', 'MCP_SERVER_ENV']) {
      if (value(name) !== undefined)
        problems.push(`${name}: set without MCP_SERVER_PATH, the server it is for (seed 000)`);
    }
  }
  return { settings, problems, notes };
}

/**
 * Seed 000's server: a Python module (`src.main`, run as `python3 -m src.main`), a Python file
 * (`server.py`, run by `python3`), or a program.
 */
function seed000Backend(
  path: string,
  args: string | undefined,
  envText: string | undefined,
): Plain {
  let extra: string[] = [];
  if (args !== undefined) {
    try {
      const split = splitCommandLine(`x ${args}`);
      extra = split.args;
    } catch (error) {
      throw new AliasValueError(`MCP_SERVER_ARGS: ${(error as Error).message}`);
    }
  }
  const backend: Plain =
    /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$/.test(path) && !path.endsWith('.py')
      ? { command: 'python3', args: ['-m', path, ...extra] }
      : path.endsWith('.py')
        ? { command: 'python3', args: [path, ...extra] }
        : { command: path, args: extra };
  if (envText !== undefined) backend.env = parseServerEnv(envText);
  return backend;
}

/** `MCP_SERVER_ENV`: a JSON object, or `NAME=value` pairs separated by commas or spaces. */
function parseServerEnv(raw: string): Record<string, string> {
  if (raw.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new AliasValueError(
        'MCP_SERVER_ENV: expected a JSON object or NAME=value pairs, got text that is neither',
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new AliasValueError('MCP_SERVER_ENV: expected a JSON object of NAME: value');
    return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
  }
  const env: Record<string, string> = {};
  for (const pair of raw.split(/[,\s]+/).filter((p) => p !== '')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(pair);
    if (!match)
      throw new AliasValueError(`MCP_SERVER_ENV: expected NAME=value pairs, got "${pair}"`);
    env[match[1]!] = match[2]!;
  }
  return env;
}

/**
 * `REDIS_PASSWORD` (seeds 002-003) put into the Redis URL, when there is one and it has no
 * password of its own. Returns the note for the log, if any.
 */
export function applyRedisPassword(merged: Plain, env: NodeJS.ProcessEnv): string | undefined {
  const password = env.REDIS_PASSWORD?.trim();
  if (!password) return undefined;
  const redis = merged.redis as Plain | undefined;
  const url = typeof redis?.url === 'string' ? redis.url : undefined;
  if (url === undefined)
    return 'REDIS_PASSWORD (seeds 002-003) is ignored: no Redis URL is set (redis.url, REDIS_URL)';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'REDIS_PASSWORD (seeds 002-003) is ignored: redis.url is not a URL (a Unix socket path?)';
  }
  if (!/^rediss?:$/.test(parsed.protocol))
    return 'REDIS_PASSWORD (seeds 002-003) is ignored: redis.url is not a redis:// URL';
  if (parsed.password !== '')
    return 'REDIS_PASSWORD (seeds 002-003) is ignored: redis.url has a password of its own';
  parsed.password = password;
  redis!.url = parsed.toString();
  return 'REDIS_PASSWORD (seeds 002-003) is put into redis.url; it is deprecated, write redis://:<password>@host in REDIS_URL or redis.url';
}
