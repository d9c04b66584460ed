import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { merge, readConfigFile, substitute } from '../config/load.js';
import { ConfigError } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { readPem } from '../tls.js';
import { connectorConfigSchema } from './config-schema.js';
import { convertRouterConfig, isRouterConfig } from './router-config.js';
import type {
  ConnectorConfig,
  ConnectorConfigInput,
  RemoteConfig,
  SecretRef,
} from './config-schema.js';
import type { CredentialsProvider } from './credentials.js';
import { StaticCredentials } from './credentials.js';
import { ClientCredentials } from './oauth-client-credentials.js';
import { McpAuthorization } from './mcp-authorization.js';
import type { ClientTls } from './remote-link.js';
import { SecretError, describePlace } from './secrets.js';
import type { SecretStore } from './secrets.js';

/*
 * Loading the connector's configuration: the file (YAML or JSON, `${VAR}` substituted, as the
 * gateway's), `connect`'s flags over it, validated once by connectorConfigSchema. Every problem
 * reads `SOURCE: path: message` with the file as the source; problems in flags have none.
 */

type Plain = Record<string, unknown>;

export interface LoadConnectorOptions {
  /** The config file (`.yaml`, `.yml`, `.json`, or either), relative to `cwd`. */
  file?: string;
  /** Settings from the command line, in the file's shape; they win. @default {} */
  flags?: ConnectorConfigInput | Plain;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** @default process.cwd() */
  cwd?: string;
  /**
   * Told of what loads but deserves a word in the log: seed 004's router file converted on the
   * fly. @default nothing is told
   */
  warn?: (message: string) => void;
}

/** A connector configuration that cannot be used; each problem names its path. */
export class ConnectorConfigError extends ConfigError {
  override readonly name = 'ConnectorConfigError';
}

function formatPath(path: readonly PropertyKey[]): string {
  return (
    path
      .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
      .join('.')
      .replace(/\.\[/g, '[') || '(root)'
  );
}

/** Loads, merges and validates; throws ConnectorConfigError listing every problem. */
export function loadConnectorConfig(options: LoadConnectorOptions = {}): Readonly<ConnectorConfig> {
  const env = options.env ?? process.env;
  const display = options.file;
  const flags = (options.flags ?? {}) as Plain;
  const { layer: fromEnv, variables } = environmentLayer(env);
  // The environment over the file, the flags over both.
  const overrides = merge(withoutOverridden(fromEnv, flags), flags);
  let file: Plain = {};
  const problems: string[] = [];
  if (display !== undefined) {
    const path = resolve(options.cwd ?? process.cwd(), display);
    let raw: Plain;
    try {
      raw = readConfigFile(path, display);
    } catch (error) {
      if (error instanceof ConfigError) throw new ConnectorConfigError(error.problems);
      throw error;
    }
    if (isRouterConfig(raw)) {
      const router = convertRouterConfig(raw);
      raw = router.config;
      const n = router.dropped.length;
      options.warn?.(
        `${display}: a ${router.format}, converted on the fly (${n === 0 ? 'every key carried' : `${n} key${n === 1 ? '' : 's'} not carried`}); run "mcp-bridge connect import ${display}" to see the result and save it`,
      );
    }
    const substitution: string[] = [];
    file = substitute(raw, env, [], substitution, []) as Plain;
    for (const text of substitution) problems.push(`${display}: ${text}`);
    file = withoutOverridden(relativeToFile(file, dirname(path)), overrides);
  }
  const merged = merge(file, overrides);
  // MCP_AUTH_TOKEN in the shell is for a gateway: with direct mode and no remote, it is unused.
  const mergedRemote = merged.remote as Plain | undefined;
  if (
    merged.direct !== undefined &&
    mergedRemote?.url === undefined &&
    file.remote === undefined &&
    flags.remote === undefined
  )
    delete merged.remote;
  const result = connectorConfigSchema.safeParse(merged);
  if (result.success && problems.length === 0) return result.data;
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = formatPath(issue.path);
      const variable = hasPath(flags, issue.path)
        ? undefined
        : Object.entries(variables).find(([at]) => path === at || path.startsWith(`${at}.`))?.[1];
      const source = hasPath(flags, issue.path) ? undefined : (variable ?? display);
      problems.push(`${source ? `${source}: ` : ''}${path}: ${issue.message}`);
    }
  }
  throw new ConnectorConfigError(problems);
}

/**
 * The seed router's environment variables, where they fit: `MCP_GATEWAY_URL` (remote.url),
 * `MCP_AUTH_TOKEN` (a bearer token), `MCP_LOGGING_LEVEL` (logLevel), `MCP_METRICS_PORT`
 * (metrics on that port). `variables` maps each config path set to the variable that set it.
 */
function environmentLayer(env: NodeJS.ProcessEnv): {
  layer: Plain;
  variables: Record<string, string>;
} {
  const remote: Plain = {};
  const layer: Plain = {};
  const variables: Record<string, string> = {};
  if (env.MCP_GATEWAY_URL) {
    remote.url = env.MCP_GATEWAY_URL;
    variables['remote.url'] = 'MCP_GATEWAY_URL';
    variables['remote.transport'] = 'MCP_GATEWAY_URL';
  }
  if (env.MCP_AUTH_TOKEN) {
    remote.auth = { type: 'bearer', token: { env: 'MCP_AUTH_TOKEN' } };
    variables['remote.auth'] = 'MCP_AUTH_TOKEN';
  }
  if (Object.keys(remote).length > 0) layer.remote = remote;
  if (env.MCP_LOGGING_LEVEL) {
    layer.logLevel = env.MCP_LOGGING_LEVEL;
    variables.logLevel = 'MCP_LOGGING_LEVEL';
  }
  if (env.MCP_METRICS_PORT) {
    const port = /^\d+$/.test(env.MCP_METRICS_PORT)
      ? Number(env.MCP_METRICS_PORT)
      : env.MCP_METRICS_PORT;
    layer.metrics = { enabled: true, port };
    variables.metrics = 'MCP_METRICS_PORT';
  }
  return { layer, variables };
}

/**
 * The file's settings less those a flag replaces whole: `remote.auth` (a flag's kind of
 * credentials is not mixed with the file's), and `remote.transport` when a flag gives the URL
 * (the file's transport was chosen for its own URL).
 */
function withoutOverridden(file: Plain, flags: Plain): Plain {
  const flagRemote = (flags.remote ?? {}) as Plain;
  // A flag's URL or --direct says what to reach, in place of the file's remote or direct.
  if (flags.direct !== undefined) file = { ...file, remote: undefined };
  if (flagRemote.url !== undefined) file = { ...file, direct: undefined };
  const fileRemote = file.remote;
  if (typeof fileRemote !== 'object' || fileRemote === null || Array.isArray(fileRemote))
    return file;
  const remote = { ...(fileRemote as Plain) };
  if (flagRemote.auth !== undefined) delete remote.auth;
  if (flagRemote.url !== undefined && flagRemote.transport === undefined) delete remote.transport;
  return { ...file, remote };
}

/**
 * The file's relative paths (PEM files, the status file) made relative to the file's folder: a
 * desktop client starts the connector from a folder of its own choosing.
 */
function relativeToFile(file: Plain, base: string): Plain {
  const fix = (value: unknown) =>
    typeof value === 'string' && !value.includes('-----BEGIN ') && !isAbsolute(value)
      ? resolve(base, value)
      : value;
  const isPlain = (value: unknown): value is Plain =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  // A `{ file }` secret is a path too.
  const fixSecret = (ref: unknown) =>
    isPlain(ref) && typeof ref.file === 'string' ? { ...ref, file: fix(ref.file) } : ref;
  const fixRemote = (remote: unknown) => {
    if (!isPlain(remote)) return remote;
    const out = { ...remote };
    if (isPlain(remote.tls)) {
      const tls = { ...remote.tls };
      for (const key of ['cert', 'ca']) if (tls[key] !== undefined) tls[key] = fix(tls[key]);
      if (tls.key !== undefined) tls.key = isPlain(tls.key) ? fixSecret(tls.key) : fix(tls.key);
      out.tls = tls;
    }
    if (isPlain(remote.auth)) {
      const auth = { ...remote.auth };
      for (const key of ['token', 'clientSecret'])
        if (key in auth) auth[key] = fixSecret(auth[key]);
      out.auth = auth;
    }
    return out;
  };
  const out = { ...file };
  if (out.statusFile !== undefined) out.statusFile = fix(out.statusFile);
  if (out.remote !== undefined) out.remote = fixRemote(out.remote);
  if (Array.isArray(out.fallbacks)) out.fallbacks = out.fallbacks.map(fixRemote);
  if (isPlain(out.direct) && out.direct.cwd !== undefined)
    out.direct = { ...out.direct, cwd: fix(out.direct.cwd) };
  return out;
}

function hasPath(value: unknown, path: readonly PropertyKey[]): boolean {
  let at: unknown = value;
  for (const key of path) {
    if (typeof at !== 'object' || at === null || !Object.hasOwn(at, key)) return false;
    at = (at as Plain)[key as string];
  }
  return at !== undefined;
}

// ---------------------------------------------------------------------------------------------
// From the config to what the connector runs with

/** A secret's value and where it came from (for logs), or a problem naming its path. */
export function resolveSecret(
  ref: SecretRef,
  path: string,
  env: NodeJS.ProcessEnv,
  store: SecretStore,
): { value: string; source: string } {
  if (typeof ref === 'string') return { value: ref, source: 'the configuration' };
  if ('env' in ref) {
    const value = env[ref.env];
    if (!value)
      throw new ConnectorConfigError([
        `${path}.env: the environment variable ${ref.env} is not set`,
      ]);
    return { value, source: `$${ref.env}` };
  }
  if ('file' in ref) {
    let value;
    try {
      value = readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new ConnectorConfigError([
        `${path}.file: cannot read ${ref.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      ]);
    }
    if (!value) throw new ConnectorConfigError([`${path}.file: ${ref.file} is empty`]);
    return { value, source: `the file ${ref.file}` };
  }
  let found;
  try {
    found = store.get(ref.key);
  } catch (error) {
    if (error instanceof SecretError)
      throw new ConnectorConfigError([`${path}.key: ${error.message}`]);
    throw error;
  }
  if (!found)
    throw new ConnectorConfigError([
      `${path}.key: no secret is stored under "${ref.key}" (in the OS keychain or ${store.file}); store one with "mcp-bridge connect store-token --key ${ref.key}"`,
    ]);
  return { value: found.value, source: `"${ref.key}" in ${describePlace(found.place)}` };
}

/** The remote's credentials provider, secrets resolved. */
export function credentialsFor(
  remote: RemoteConfig,
  env: NodeJS.ProcessEnv,
  store: SecretStore,
  log: Logger,
  at = 'remote',
): CredentialsProvider {
  const { auth, headers } = remote;
  switch (auth.type) {
    case 'none':
      return new StaticCredentials({ headers });
    case 'bearer': {
      const token = resolveSecret(auth.token, `${at}.auth.token`, env, store);
      return new StaticCredentials({
        headers,
        bearerToken: token.value,
        bearerTokenSource: token.source,
      });
    }
    case 'oauth':
      return new McpAuthorization({
        serverUrl: remote.url,
        store,
        log,
        openBrowser: auth.openBrowser,
        callbackPort: auth.callbackPort,
        timeoutMs: auth.timeoutMs,
        scope: auth.scope,
        headers,
      });
    case 'oauth-client-credentials': {
      const secret = resolveSecret(auth.clientSecret, `${at}.auth.clientSecret`, env, store);
      return new ClientCredentials({
        tokenUrl: auth.tokenUrl,
        clientId: auth.clientId,
        clientSecret: secret.value,
        scope: auth.scope,
        resource: auth.resource,
        clientAuth: auth.clientAuth,
        refreshBeforeMs: auth.refreshBeforeMs,
        headers,
        log,
      });
    }
  }
}

/** The remote's TLS settings with the PEM files read; undefined when there are none. */
export function tlsFor(
  remote: RemoteConfig,
  env: NodeJS.ProcessEnv,
  store: SecretStore,
  at = 'remote',
): ClientTls | undefined {
  const tls = remote.tls;
  if (!tls) return undefined;
  const read = (value: string, path: string) => {
    try {
      return readPem(value, path);
    } catch (error) {
      if (error instanceof ConfigError) throw new ConnectorConfigError(error.problems);
      throw error;
    }
  };
  return {
    ...(tls.ca !== undefined && { ca: read(tls.ca, `${at}.tls.ca`) }),
    ...(tls.cert !== undefined && { cert: read(tls.cert, `${at}.tls.cert`) }),
    ...(tls.key !== undefined && {
      key: read(resolveSecret(tls.key, `${at}.tls.key`, env, store).value, `${at}.tls.key`),
    }),
    ...(tls.servername !== undefined && { servername: tls.servername }),
  };
}

/** The JSON Schema (draft 2020-12) of the connector's config file, for editors. */
export function connectorJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(connectorConfigSchema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    title: 'mcp-bridge connector configuration',
    description:
      'Configuration file of "mcp-bridge connect --config" (YAML or JSON). See docs/connector.md.',
    ...schema,
  };
}
