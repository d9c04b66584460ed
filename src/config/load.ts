import { readFileSync, watch } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ENV_VARIABLES, readEnvironment, withDotenv } from './env.js';
import { applyRedisPassword, readSeedEnvironment } from './env-aliases.js';
import { convertSeedConfig } from './import/index.js';
import type { GatewayConfig, GatewayConfigInput } from './schema.js';
import { ConfigError, parseConfig } from './schema.js';

/*
 * Loading the configuration: the file (YAML or JSON, with ${VAR} substitution), the environment
 * (with .env files under it) and the command line's flags, merged as plain objects in that order
 * of precedence over the schema's defaults, then validated once by parseConfig.
 */

type Plain = Record<string, unknown>;

type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** Settings given on the command line: any part of the config input. */
export type ConfigOverrides = DeepPartial<GatewayConfigInput>;

export interface LoadOptions {
  /** The config file, `.yaml`/`.yml` or `.json` (anything else: JSON, then YAML). Relative to `cwd`. */
  file?: string;
  /** The environment; `.env` files add to it, never replace what it sets. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Overrides that win over everything else, from the command line. @default {} */
  flags?: ConfigOverrides;
  /**
   * Settings under everything else, over the schema's defaults: the defaults of the mode the
   * CLI runs in (no admin listener with `--serve stdio`). @default {}
   */
  defaults?: ConfigOverrides;
  /** Where a relative `file` and the first `.env` are looked for. @default process.cwd() */
  cwd?: string;
  /**
   * Told of what loads but deserves a word in the log: a seed system's config file converted
   * on the fly (docs/migrating.md). @default nothing is told
   */
  warn?: (message: string) => void;
}

/**
 * A configuration that cannot be loaded. Each problem reads `SOURCE: path: message`, where the
 * source is the file (as given), an environment variable or a `.env` file; problems caused by
 * `flags` have no source.
 */
export class ConfigLoadError extends ConfigError {
  constructor(
    problems: string[],
    /** The config file as given, if there was one. */
    readonly file: string | undefined,
    /** Every problem is in a value from `flags` (the command line was misused). */
    readonly flagsOnly = false,
  ) {
    super(problems);
    this.name = 'ConfigLoadError';
  }
}

/** Loads, merges and validates the configuration; throws ConfigLoadError listing every problem. */
export function loadConfig(options: LoadOptions = {}): Readonly<GatewayConfig> {
  const cwd = options.cwd ?? process.cwd();
  const path = options.file === undefined ? undefined : resolve(cwd, options.file);
  const display = options.file;
  const dotenvFiles = [join(cwd, '.env')];
  if (path !== undefined && dirname(path) !== resolve(cwd))
    dotenvFiles.push(join(dirname(path), '.env'));
  const dotenv = withDotenv(options.env ?? process.env, dotenvFiles, cwd);
  if (dotenv.problems.length > 0) throw new ConfigLoadError(dotenv.problems, display);
  const env = dotenv.env;

  const problems: Array<{ text: string; fromFlags: boolean }> = [];
  const failedPaths: string[] = [];
  let file: Plain = {};
  if (path !== undefined) {
    const substitution: string[] = [];
    let raw = readConfigFile(path, display!);
    const seed = convertSeedConfig(raw);
    if (seed) {
      raw = seed.config;
      options.warn?.(
        `${display}: a ${seed.format}, converted on the fly (${seed.dropped.length === 0 ? 'every key carried' : `${seed.dropped.length} key${seed.dropped.length === 1 ? '' : 's'} not carried`}); run "mcp-bridge import ${display}" to see the result and save it`,
      );
    }
    file = substitute(raw, env, [], substitution, failedPaths) as Plain;
    for (const text of substitution)
      problems.push({ text: `${display}: ${text}`, fromFlags: false });
  }

  const environment = readEnvironment(env);
  for (const text of environment.problems) problems.push({ text, fromFlags: false });
  const fromEnv = new Map<string, string>();
  let envLayer: Plain = {};
  const entryDefaults = environment.settings.filter((s) => s.path.includes('*'));
  for (const setting of environment.settings) {
    if (setting.path.includes('*')) continue;
    envLayer = merge(envLayer, nest(setting.path, setting.value));
    fromEnv.set(setting.path.join('.'), setting.variable);
  }

  const seedEnv = readSeedEnvironment(env, ENV_VARIABLES, new Set(fromEnv.keys()));
  for (const text of seedEnv.problems) problems.push({ text, fromFlags: false });
  for (const setting of seedEnv.settings) {
    envLayer = merge(envLayer, nest(setting.path, setting.value));
    fromEnv.set(setting.path.join('.'), setting.variable);
  }

  const flags = (options.flags ?? {}) as Plain;
  const merged = merge(merge(merge((options.defaults ?? {}) as Plain, file), envLayer), flags);
  const redisNote = applyRedisPassword(merged, env);
  for (const note of [...seedEnv.notes, ...(redisNote ? [redisNote] : [])]) options.warn?.(note);
  for (const setting of entryDefaults) {
    for (const entry of applyEntryDefault(merged, setting.path, setting.value))
      fromEnv.set(entry, setting.variable);
  }

  const flagPaths = leafPaths(flags);
  try {
    const config = parseConfig(merged);
    if (problems.length === 0) return config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) {
      if (failedPaths.some((p) => followsFrom(problem, p))) continue;
      if (flagPaths.some((p) => isAt(problem, p, true))) {
        problems.push({ text: problem, fromFlags: true });
        continue;
      }
      // A list's entries are the variable's too (BRIDGE_API_KEYS: auth.apiKeys[1]: …).
      const variable = [...fromEnv].find(
        ([p]) => isAt(problem, p, false) || problem.startsWith(`${p}[`),
      )?.[1];
      const source = variable ?? display;
      problems.push({ text: source ? `${source}: ${problem}` : problem, fromFlags: false });
    }
  }
  throw new ConfigLoadError(
    problems.map((p) => p.text),
    display,
    problems.every((p) => p.fromFlags),
  );
}

/**
 * Whether a schema problem only follows from a reference that could not be replaced at `failed`:
 * it is about that value (or under it), or about the `transport` inferred from that URL.
 */
function followsFrom(problem: string, failed: string): boolean {
  const parent = failed.slice(0, Math.max(failed.lastIndexOf('.'), 0));
  return (
    isAt(problem, failed, true) ||
    (failed.endsWith('.url') && isAt(problem, `${parent}.transport`, false))
  );
}

/** Whether a `path: message` problem is about `path` (or, with `within`, anything under it). */
function isAt(problem: string, path: string, within: boolean): boolean {
  if (problem.startsWith(`${path}: `)) return true;
  return within && (problem.startsWith(`${path}.`) || problem.startsWith(`${path}[`));
}

function formatPath(path: readonly (string | number)[]): string {
  return (
    path
      .map((p) => (typeof p === 'number' ? `[${p}]` : p))
      .join('.')
      .replace(/\.\[/g, '[') || '(root)'
  );
}

// ---------------------------------------------------------------------------------------------
// The file

/** The file's top-level mapping; throws ConfigLoadError for a missing, unreadable or bad file. */
export function readConfigFile(path: string, display: string): Plain {
  function fail(...problems: string[]): never {
    throw new ConfigLoadError(
      problems.map((p) => `${display}: ${p}`),
      display,
    );
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      fail(display === path ? 'file not found' : `file not found (looked for ${path})`);
    if (code === 'EISDIR') fail('is a directory, not a file');
    if (code === 'EACCES') fail('cannot read the file: permission denied');
    fail(`cannot read the file: ${(error as Error).message}`);
  }
  const ext = extname(path).toLowerCase();
  let parsed: { value: unknown } | { errors: string[] };
  if (ext === '.json') parsed = parseJson(text);
  else if (ext === '.yaml' || ext === '.yml') parsed = parseYaml(text);
  else {
    parsed = parseJson(text);
    if ('errors' in parsed) parsed = parseYaml(text);
  }
  if ('errors' in parsed) return fail(...parsed.errors);
  const value = parsed.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got =
      value === null || value === undefined
        ? 'nothing (the file is empty)'
        : Array.isArray(value)
          ? 'a list'
          : `a ${typeof value}`;
    fail(`expected a mapping of settings at the top level, got ${got}`);
  }
  return value as Plain;
}

/** A located syntax error, on one line: a line break the parser quotes is escaped. */
function at(line: number, col: number, message: string): string {
  const escaped = message.replace(/[\n\r\t]/g, (c) => JSON.stringify(c).slice(1, -1));
  return `line ${line}, column ${col}: ${escaped}`;
}

function parseJson(text: string): { value: unknown } | { errors: string[] } {
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    // V8 names a position for most errors, not all; YAML's JSON schema can locate the rest.
    const message = (error as Error).message
      .replace(/, ("|\.\.\.").*(is not valid JSON)$/s, '')
      .replace(/ in JSON at position \d+.*$/s, '');
    const position = /at position (\d+)/.exec((error as Error).message)?.[1];
    if (position !== undefined) {
      const before = text.slice(0, Number(position)).split('\n');
      return { errors: [at(before.length, before.at(-1)!.length + 1, message)] };
    }
    if (/end of JSON input/.test(message)) {
      const lines = text.split('\n');
      return { errors: [at(lines.length, lines.at(-1)!.length + 1, message)] };
    }
    const counter = new LineCounter();
    const doc = parseDocument(text, { lineCounter: counter, schema: 'json', prettyErrors: false });
    const pos = doc.errors[0]?.pos[0];
    if (pos === undefined) return { errors: [message] };
    const { line, col } = counter.linePos(pos);
    return { errors: [at(line, col, message)] };
  }
}

function parseYaml(text: string): { value: unknown } | { errors: string[] } {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, merge: true });
  if (doc.errors.length > 0) {
    return {
      errors: doc.errors.map((e) => {
        const { line, col } = counter.linePos(e.pos[0]);
        return at(line, col, e.message);
      }),
    };
  }
  try {
    return { value: doc.toJS({ maxAliasCount: 1000 }) };
  } catch (error) {
    // An alias to an anchor that is not defined, or too many aliases.
    return { errors: [(error as Error).message] };
  }
}

// ---------------------------------------------------------------------------------------------
// ${VAR} substitution

const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const REFERENCE_BODY = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/**
 * A copy of `value` with `${VAR}` and `${VAR:-default}` replaced in every string; `$${` is a
 * literal `${`. Keys are left alone. Problems are `path: message`; their paths go to `failed`.
 */
export function substitute(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: (string | number)[],
  problems: string[],
  failed: string[],
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    const before = problems.length;
    const result = value.replace(REFERENCE, (match: string, body: string | undefined) => {
      if (match === '$${') return '${';
      const reference = body === undefined ? undefined : REFERENCE_BODY.exec(body);
      if (!reference) {
        problems.push(
          `${formatPath(path)}: malformed reference "${match}": expected \${NAME} or \${NAME:-default}`,
        );
        return match;
      }
      const [, name, fallback] = reference;
      const set = env[name!];
      if (fallback !== undefined) return set === undefined || set === '' ? fallback : set;
      if (set !== undefined) return set;
      problems.push(
        `${formatPath(path)}: the environment variable ${name} is not set (write \${${name}:-default} to give a default)`,
      );
      return match;
    });
    if (problems.length > before) failed.push(formatPath(path));
    return result;
  }
  if (Array.isArray(value))
    return value.map((item, i) => substitute(item, env, [...path, i], problems, failed));
  if (isPlain(value)) {
    const out: Plain = {};
    for (const [key, item] of Object.entries(value))
      define(out, key, substitute(item, env, [...path, key], problems, failed));
    return out;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Merging

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sets an own property, even one named `__proto__`, which is then left to the schema to refuse. */
function define(target: Plain, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/**
 * `overlay` over `base`, as a new object that shares no mapping with either: mappings merge key
 * by key (so backends merge by name), anything else (arrays included) is replaced; an
 * `undefined` in the overlay sets nothing.
 */
export function merge(base: Plain, overlay: Plain): Plain {
  const out: Plain = {};
  for (const [key, value] of Object.entries(base))
    define(out, key, isPlain(value) ? merge({}, value) : value);
  for (const [key, value] of Object.entries(overlay)) {
    if (value === undefined) continue;
    const under = out[key];
    define(out, key, isPlain(value) ? merge(isPlain(under) ? under : {}, value) : value);
  }
  return out;
}

function nest(path: readonly string[], value: unknown): Plain {
  let out: unknown = value;
  for (const key of [...path].reverse()) {
    const level: Plain = {};
    define(level, key, out);
    out = level;
  }
  return out as Plain;
}

/**
 * Sets `value` at `path` (which holds one `*`) in every entry that does not set it itself;
 * returns the dotted paths it set. Entries that are not mappings are left to the schema.
 */
function applyEntryDefault(config: Plain, path: readonly string[], value: unknown): string[] {
  const star = path.indexOf('*');
  let record: unknown = config;
  for (const key of path.slice(0, star)) record = isPlain(record) ? record[key] : undefined;
  if (!isPlain(record)) return [];
  const set: string[] = [];
  for (const [name, entry] of Object.entries(record)) {
    if (!isPlain(entry)) continue;
    let target: Plain = entry;
    const rest = path.slice(star + 1);
    for (const key of rest.slice(0, -1)) {
      if (!isPlain(target[key])) define(target, key, {});
      target = target[key] as Plain;
    }
    const last = rest.at(-1)!;
    if (target[last] !== undefined) continue;
    define(target, last, value);
    set.push([...path.slice(0, star), name, ...rest].join('.'));
  }
  return set;
}

/** Dotted paths of every value set in `value` that is not itself a mapping. */
function leafPaths(value: Plain, prefix: (string | number)[] = []): string[] {
  return Object.entries(value).flatMap(([key, item]) => {
    if (item === undefined) return [];
    return isPlain(item) ? leafPaths(item, [...prefix, key]) : [formatPath([...prefix, key])];
  });
}

// ---------------------------------------------------------------------------------------------
// Watching

export interface ConfigWatcher {
  close(): void;
}

export interface WatchOptions {
  /** Quiet time after the last change before `onChange` runs. @default 200 */
  debounceMs?: number;
  /** Called when the directory can no longer be watched. */
  onError?: (error: Error) => void;
}

/**
 * Calls `onChange` when the content of `file`, or of the `.env` beside it, changes. Watches the
 * directory, not the file, so that editors that write a new file and rename it over the old one,
 * and Kubernetes' `..data` symlink swaps, are seen too.
 */
export function watchConfig(
  file: string,
  onChange: () => void,
  options: WatchOptions = {},
): ConfigWatcher {
  const path = resolve(file);
  const dir = dirname(path);
  const name = basename(path);
  const watched = [path, join(dir, '.env')];
  const fingerprint = () =>
    watched
      .map((p) => {
        try {
          return readFileSync(p, 'utf8');
        } catch (error) {
          return `\0${(error as NodeJS.ErrnoException).code ?? 'error'}`;
        }
      })
      .join('\0\0');
  let last = fingerprint();
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(dir, { persistent: false }, (_event, changed) => {
    const changedName = changed?.toString();
    if (
      changedName !== undefined &&
      changedName !== name &&
      changedName !== '.env' &&
      !changedName.startsWith('..')
    )
      return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      const now = fingerprint();
      if (now === last) return;
      last = now;
      onChange();
    }, options.debounceMs ?? 200);
  });
  watcher.on('error', (error) => options.onError?.(error));
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
