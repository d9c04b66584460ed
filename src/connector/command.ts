import { parseArgs } from 'node:util';
import { createLogger } from '../core/logger.js';
import { StdioServerTransport } from '../frontends/stdio-server-transport.js';
import { Connector } from './connector.js';
import type { ConnectorOptions } from './connector.js';
import { StaticCredentials, parseHeader } from './credentials.js';
import { CONNECT_TRANSPORTS, transportsFor } from './remote-link.js';
import type { ConnectTransport } from './remote-link.js';

export const CONNECT_HELP = `Usage: mcp-bridge connect <URL> [options]

A stdio MCP server for a desktop client (Claude Desktop, Claude Code, Cursor) that carries its
session to the remote MCP gateway or server at <URL> and keeps it across outages: it reconnects
with backoff, holds requests made meanwhile, and restores the session the remote lost.
Logs go to stderr; stdout carries MCP only. See docs/connector.md.

Options:
  --transport <name>         auto (default: Streamable HTTP, then SSE, for http(s)://),
                             streamable-http, sse, websocket (ws(s)://) or tcp (tcp(s)://)
  --header "Name: value"     send this header with every request (repeatable)
  --bearer-token-env <NAME>  send "Authorization: Bearer $NAME"; the token is never logged
  --status-file <path>       keep the link's state in this JSON file (mode 0600)
  --queue-size <n>           requests that may wait while the link is down (default 100)
  --queue-wait-ms <ms>       longest a request waits for the link (default 60000)
  --backoff-initial-ms <ms>  first reconnection delay ceiling (default 500)
  --backoff-max-ms <ms>      largest reconnection delay ceiling (default 30000)
  --connect-timeout-ms <ms>  one connection attempt and session restore (default 10000)
  --log-level <level>        fatal, error, warn, info, debug, trace or silent (default info)
  -h, --help                 show this help
`;

/** A misused `connect` flag: the message names it, on one line. */
export class ConnectFlagError extends Error {
  override readonly name = 'ConnectFlagError';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

/** What `connect`'s flags say, checked; everything but the streams. */
export type ConnectSettings = Omit<ConnectorOptions, 'client' | 'log'> & { logLevel: LogLevel };

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
      `--transport: ${transport} cannot reach a ${url.protocol}// URL (it takes ${allowed.allowed.join(' or ')})`,
    );
  }
  return transport as ConnectTransport;
}

/** Parses `connect`'s arguments; throws ConnectFlagError naming the flag at fault. */
export function parseConnectArgs(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): ConnectSettings | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        transport: { type: 'string' },
        header: { type: 'string', multiple: true },
        'bearer-token-env': { type: 'string' },
        'status-file': { type: 'string' },
        'queue-size': { type: 'string' },
        'queue-wait-ms': { type: 'string' },
        'backoff-initial-ms': { type: 'string' },
        'backoff-max-ms': { type: 'string' },
        'connect-timeout-ms': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new ConnectFlagError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  const [url, ...rest] = positionals;
  if (url === undefined) throw new ConnectFlagError('give the remote URL: connect <URL>');
  if (rest.length > 0) throw new ConnectFlagError(`unexpected argument "${rest[0]}"`);
  const transport = checkRemote(url, values.transport);
  const headers: Record<string, string> = {};
  for (const text of values.header ?? []) {
    try {
      const [name, value] = parseHeader(text);
      headers[name] = value;
    } catch (error) {
      throw new ConnectFlagError((error as Error).message);
    }
  }
  let bearerToken: string | undefined;
  const tokenEnv = values['bearer-token-env'];
  if (tokenEnv !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(tokenEnv))
      throw new ConnectFlagError(`--bearer-token-env: "${tokenEnv}" is not a variable name`);
    bearerToken = env[tokenEnv];
    if (!bearerToken)
      throw new ConnectFlagError(
        `--bearer-token-env: the environment variable ${tokenEnv} is not set`,
      );
  }
  const logLevel = (values['log-level'] ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel))
    throw new ConnectFlagError(
      `--log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${values['log-level']}"`,
    );
  const initialMs = integer('backoff-initial-ms', values['backoff-initial-ms'], 1);
  const maxMs = integer('backoff-max-ms', values['backoff-max-ms'], 1);
  if (initialMs !== undefined && maxMs !== undefined && initialMs > maxMs)
    throw new ConnectFlagError('--backoff-initial-ms: must not exceed --backoff-max-ms');
  return {
    url,
    transport,
    credentials: new StaticCredentials({
      headers,
      bearerToken,
      bearerTokenSource: tokenEnv && `$${tokenEnv}`,
    }),
    queue: {
      maxSize: integer('queue-size', values['queue-size'], 0),
      maxWaitMs: integer('queue-wait-ms', values['queue-wait-ms'], 1),
    },
    backoff: { initialMs, maxMs },
    connectTimeoutMs: integer('connect-timeout-ms', values['connect-timeout-ms'], 1),
    statusFile: values['status-file'],
    logLevel,
  };
}

/**
 * Runs the connector on this process's stdin/stdout until the client closes stdin (exit 0) or a
 * signal ends it.
 */
export async function runConnector(settings: ConnectSettings): Promise<void> {
  const { logLevel, ...options } = settings;
  const log = createLogger({ level: logLevel, destination: 2 });
  const client = new StdioServerTransport({
    input: process.stdin,
    output: process.stdout,
    log,
    maxMessageBytes: options.maxMessageBytes ?? 16 * 1024 * 1024,
    // The gateway's default bound (limits.maxDepth): the connector has no config file of its own.
    maxDepth: 128,
  });
  const connector = new Connector({ ...options, client, log });
  const stop = (signal: string) => {
    log.info({ signal }, 'connector stopping');
    void connector.close();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  await connector.start();
  await connector.ended;
  log.info('connector stopped');
  log.flush();
  process.exit(0);
}

/** `mcp-bridge connect …`: a misuse exits 2 with one line on stderr, never a stack trace. */
export async function connectCommand(args: string[]): Promise<void> {
  let settings;
  try {
    settings = parseConnectArgs(args);
  } catch (error) {
    if (!(error instanceof ConnectFlagError)) throw error;
    process.stderr.write(
      `mcp-bridge connect: ${error.message}\nRun "mcp-bridge connect --help" for usage.\n`,
    );
    process.exit(2);
  }
  if (settings === 'help') {
    process.stdout.write(CONNECT_HELP);
    return;
  }
  await runConnector(settings);
}
