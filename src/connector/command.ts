import { parseArgs } from 'node:util';
import { parse as parseShell } from 'shell-quote';
import { StdioServerTransport } from '../frontends/stdio-server-transport.js';
import { Connector } from './connector.js';
import { parseHeader } from './credentials.js';
import { envName } from '../config/fields.js';
import { ConfigError } from '../config/schema.js';
import { LOG_LEVELS, SECRET_KEY } from './config-schema.js';
import type { ConnectorConfig } from './config-schema.js';
import { loadConnectorConfig } from './config.js';
import { SecretStore } from './secrets.js';
import { ConnectFlagError, settingsFrom } from './settings.js';
import type { ConnectSettings } from './settings.js';
import { serveConnectorMetrics } from './metrics.js';
import { setupCommand } from './setup.js';
import {
  checkConfigCommand,
  importRouterCommand,
  schemaCommand,
  statusCommand,
  storeTokenCommand,
  versionCommand,
} from './subcommands.js';
import { CONNECT_TRANSPORTS, oneOf, transportsFor } from './remote-link.js';
import type { ConnectTransport } from './remote-link.js';

export const CONNECT_HELP = `Usage: mcp-bridge connect <URL> [options]
       mcp-bridge connect --config <file> [<URL>] [options]
       mcp-bridge connect check-config <file> | schema | version
       mcp-bridge connect import <mcp-router.yaml>   (seed 004's router file, as ours)
       mcp-bridge connect --status (--status-file <path> | --config <file>) [--json]
       mcp-bridge connect store-token --key <NAME>   (the secret from a prompt or stdin)
       mcp-bridge connect setup   (a wizard: writes the config and the desktop client's entry)

A stdio MCP server for a desktop client (Claude Desktop, Claude Code, Cursor) that carries its
session to the remote MCP gateway or server at <URL> and keeps it across outages: it reconnects
with backoff, holds requests made meanwhile, and restores the session the remote lost.
Logs go to stderr; stdout carries MCP only. See docs/connector.md.

Options (each overrides the config file's setting):
  --config <file>            the connector's config file (YAML or JSON; "connect schema")
  --transport <name>         auto (default: Streamable HTTP, then SSE, for http(s)://),
                             streamable-http, sse, websocket (ws(s)://), websocket-envelope
                             (the seed's envelope, a token per message), websocket-control
                             (the seed's control dialect: a dropped link attaches to its
                             session again) or tcp (tcp(s)://)
  --header "Name: value"     send this header with every request (repeatable)
  --bearer-token-env <NAME>  send "Authorization: Bearer $NAME"; the token is never logged
  --token-key <NAME>         the same, with the token stored by "connect store-token"
  --oauth                    sign in with the MCP authorization flow when the remote asks
                             (401 with resource_metadata): browser, PKCE, tokens kept
  --client-cert <pem>        a client certificate for mTLS (with --client-key)
  --client-key <pem>         its private key
  --ca <pem>                 CAs to trust for the remote's certificate
  --status-file <path>       keep the link's state in this JSON file (mode 0600)
  --queue-size <n>           requests that may wait while the link is down (default 100)
  --queue-wait-ms <ms>       longest a request waits for the link (default 60000)
  --backoff-initial-ms <ms>  first reconnection delay ceiling (default 500)
  --backoff-max-ms <ms>      largest reconnection delay ceiling (default 30000)
  --connect-timeout-ms <ms>  one connection attempt and session restore (default 10000)
  --direct "<command line>"  run this local stdio MCP server instead of reaching a remote
  --fallback <URL>           a remote to fall back to when the first cannot be reached
                             (repeatable; tried in order)
  --metrics-port <n>         serve Prometheus metrics on 127.0.0.1:<n>/metrics (9091 is usual)
  --log-level <level>        fatal, error, warn, info, debug, trace or silent (default info)
  -h, --help                 show this help
`;

export { ConnectFlagError } from './settings.js';
export type { ConnectSettings } from './settings.js';

function integer(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new ConnectFlagError(`--${flag}: expected an integer of at least ${min}, got "${value}"`);
  return Number(value);
}

/** Checks a URL and a transport name together, and returns the transport to use. */
export function checkRemote(text: string, transport: string | undefined): ConnectTransport {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConnectFlagError(
      `expected an absolute http(s)://, ws(s):// or tcp(s):// URL, got "${text}"`,
    );
  }
  let allowed;
  try {
    allowed = transportsFor(url);
  } catch (error) {
    throw new ConnectFlagError((error as Error).message);
  }
  if (transport === undefined) return allowed.auto;
  if (!(CONNECT_TRANSPORTS as readonly string[]).includes(transport)) {
    throw new ConnectFlagError(
      `--transport: expected one of ${CONNECT_TRANSPORTS.join(', ')}, got "${transport}"`,
    );
  }
  if (transport === 'auto') return allowed.auto;
  if (!(allowed.allowed as string[]).includes(transport)) {
    throw new ConnectFlagError(
      `--transport: ${transport} cannot reach a ${url.protocol}// URL (it takes ${oneOf(allowed.allowed)})`,
    );
  }
  return transport as ConnectTransport;
}

export const CONNECT_OPTIONS = {
  config: { type: 'string' },
  transport: { type: 'string' },
  header: { type: 'string', multiple: true },
  'bearer-token-env': { type: 'string' },
  'token-key': { type: 'string' },
  oauth: { type: 'boolean' },
  'client-cert': { type: 'string' },
  'client-key': { type: 'string' },
  ca: { type: 'string' },
  'status-file': { type: 'string' },
  'queue-size': { type: 'string' },
  'queue-wait-ms': { type: 'string' },
  'backoff-initial-ms': { type: 'string' },
  'backoff-max-ms': { type: 'string' },
  'connect-timeout-ms': { type: 'string' },
  'metrics-port': { type: 'string' },
  direct: { type: 'string' },
  fallback: { type: 'string', multiple: true },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof CONNECT_OPTIONS }>>['values'];

/** The flags, checked one by one, as a layer of the config file's shape. */
function flagLayer(values: Values, url: string | undefined, env: NodeJS.ProcessEnv) {
  const remote: Record<string, unknown> = {};
  if (url !== undefined) {
    remote.url = url;
    remote.transport = checkRemote(url, values.transport);
  } else if (values.transport !== undefined) {
    if (!(CONNECT_TRANSPORTS as readonly string[]).includes(values.transport))
      throw new ConnectFlagError(
        `--transport: expected one of ${CONNECT_TRANSPORTS.join(', ')}, got "${values.transport}"`,
      );
    remote.transport = values.transport;
  }
  if (values.header) {
    const headers: Record<string, string> = {};
    for (const text of values.header) {
      try {
        const [name, value] = parseHeader(text);
        headers[name] = value;
      } catch (error) {
        throw new ConnectFlagError((error as Error).message);
      }
    }
    remote.headers = headers;
  }
  const tokenEnv = values['bearer-token-env'];
  const tokenKey = values['token-key'];
  if (tokenEnv !== undefined && tokenKey !== undefined)
    throw new ConnectFlagError('--bearer-token-env: give either it or --token-key, not both');
  if (tokenEnv !== undefined) {
    if (!envName.test(tokenEnv))
      throw new ConnectFlagError(`--bearer-token-env: "${tokenEnv}" is not a variable name`);
    if (!env[tokenEnv])
      throw new ConnectFlagError(
        `--bearer-token-env: the environment variable ${tokenEnv} is not set`,
      );
    remote.auth = { type: 'bearer', token: { env: tokenEnv } };
  }
  if (tokenKey !== undefined) {
    if (!SECRET_KEY.test(tokenKey))
      throw new ConnectFlagError(
        `--token-key: expected a key name of letters, digits, ".", "_" and "-", got "${tokenKey}"`,
      );
    remote.auth = { type: 'bearer', token: { key: tokenKey } };
  }
  if (values.oauth) {
    if (remote.auth !== undefined)
      throw new ConnectFlagError('--oauth: give it or a token flag, not both');
    remote.auth = { type: 'oauth' };
  }
  const tls: Record<string, string> = {};
  if (values['client-cert'] !== undefined) tls.cert = values['client-cert'];
  if (values['client-key'] !== undefined) tls.key = values['client-key'];
  if (values.ca !== undefined) tls.ca = values.ca;
  if (Object.keys(tls).length > 0) remote.tls = tls;

  const logLevel = values['log-level'];
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel))
    throw new ConnectFlagError(
      `--log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`,
    );
  const initialMs = integer('backoff-initial-ms', values['backoff-initial-ms'], 1);
  const maxMs = integer('backoff-max-ms', values['backoff-max-ms'], 1);
  if (initialMs !== undefined && maxMs !== undefined && initialMs > maxMs)
    throw new ConnectFlagError('--backoff-initial-ms: must not exceed --backoff-max-ms');
  const metricsPort = values['metrics-port'];
  if (metricsPort !== undefined && (!/^\d+$/.test(metricsPort) || Number(metricsPort) > 65535))
    throw new ConnectFlagError(
      `--metrics-port: expected an integer from 0 to 65535, got "${metricsPort}"`,
    );
  let direct;
  if (values.direct !== undefined) {
    if (url !== undefined)
      throw new ConnectFlagError('--direct: give either a remote URL or --direct, not both');
    const words = parseShell(values.direct);
    if (words.length === 0 || words.some((w) => typeof w !== 'string'))
      throw new ConnectFlagError(
        `--direct: expected a command line without shell operators, got "${values.direct}"`,
      );
    const [command, ...commandArgs] = words as string[];
    direct = { command, args: commandArgs };
  }
  const fallbacks = values.fallback?.map((text) => {
    checkRemote(text, undefined);
    return { url: text };
  });
  return {
    ...(Object.keys(remote).length > 0 && { remote }),
    ...(direct && { direct }),
    ...(fallbacks && { fallbacks }),
    queue: {
      size: integer('queue-size', values['queue-size'], 0),
      waitMs: integer('queue-wait-ms', values['queue-wait-ms'], 1),
    },
    backoff: { initialMs, maxMs },
    connectTimeoutMs: integer('connect-timeout-ms', values['connect-timeout-ms'], 1),
    statusFile: values['status-file'],
    logLevel,
    ...(metricsPort !== undefined && { metrics: { enabled: true, port: Number(metricsPort) } }),
  };
}

/** Parses `connect`'s arguments (and its `--config` file); throws ConnectFlagError naming the problem. */
export function parseConnectArgs(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  store: SecretStore = new SecretStore({ env }),
): ConnectSettings | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args, options: CONNECT_OPTIONS, strict: true, allowPositionals: true });
  } catch (error) {
    throw new ConnectFlagError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  const [url, ...rest] = positionals;
  if (
    url === undefined &&
    values.config === undefined &&
    values.direct === undefined &&
    !env.MCP_GATEWAY_URL
  )
    throw new ConnectFlagError('give the remote URL: connect <URL> (or connect --config <file>)');
  if (rest.length > 0) throw new ConnectFlagError(`unexpected argument "${rest[0]}"`);
  const flags = flagLayer(values, url, env);
  let config: Readonly<ConnectorConfig>;
  const warnings: string[] = [];
  try {
    config = loadConnectorConfig({
      file: values.config,
      flags,
      env,
      warn: (text) => warnings.push(text),
    });
  } catch (error) {
    if (error instanceof ConfigError) throw new ConnectFlagError(error.problems.join('\n'));
    throw error;
  }
  const settings = settingsFrom(config, env, store);
  for (const text of warnings) settings.log.warn(text);
  return settings;
}

/**
 * Runs the connector on this process's stdin/stdout until the client closes stdin (exit 0) or a
 * signal ends it.
 */
export async function runConnector(settings: ConnectSettings): Promise<void> {
  const { log } = settings;
  const client = new StdioServerTransport({
    input: process.stdin,
    output: process.stdout,
    log,
    maxMessageBytes: settings.maxMessageBytes ?? 16 * 1024 * 1024,
    // The gateway's default bound (limits.maxDepth).
    maxDepth: 128,
  });
  const connector = new Connector({ ...settings, client });
  const stop = (signal: string) => {
    log.info({ signal }, 'connector stopping');
    void connector.close();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  let metrics;
  if (settings.metrics) {
    try {
      metrics = await serveConnectorMetrics({ ...settings.metrics, log });
    } catch (error) {
      // Losing metrics must not take the client's session down.
      log.error({ err: error }, 'the connector metrics cannot listen');
    }
  }
  await connector.start();
  await connector.ended;
  await metrics?.close();
  log.info('connector stopped');
  log.flush();
  process.exit(0);
}

/** `mcp-bridge connect …`: a misuse exits 2 with one line a problem on stderr, never a stack trace. */
export async function connectCommand(args: string[]): Promise<void> {
  const [first, ...rest] = args;
  const exit = (code: number) => process.exit(code);
  if (first === 'check-config') return exit(checkConfigCommand(rest));
  if (first === 'import') return exit(importRouterCommand(rest));
  if (first === 'schema') return exit(schemaCommand(rest));
  if (first === 'version') return exit(versionCommand(rest));
  if (first === 'store-token') return exit(await storeTokenCommand(rest));
  if (first === 'setup') return exit(await setupCommand(rest));
  if (args.includes('--status')) return exit(statusCommand(args));
  let settings;
  try {
    settings = parseConnectArgs(args);
  } catch (error) {
    if (!(error instanceof ConnectFlagError)) throw error;
    const lines = error.message.split('\n').map((line) => `mcp-bridge connect: ${line}\n`);
    process.stderr.write(`${lines.join('')}Run "mcp-bridge connect --help" for usage.\n`);
    process.exit(2);
  }
  if (settings === 'help') {
    process.stdout.write(CONNECT_HELP);
    return;
  }
  await runConnector(settings);
}
