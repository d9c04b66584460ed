import type { GatewayConfigInput } from './schema.js';
import { splitCommandLine } from './command-line.js';

/** The transports a remote backend may be reached with, as `--transport` accepts them. */
export const REMOTE_TRANSPORTS = ['streamable-http', 'sse', 'websocket', 'auto'] as const;
export type RemoteTransport = (typeof REMOTE_TRANSPORTS)[number];

/** What quick mode reads from the command line. Exactly one of `stdio` and `url` is required. */
export interface QuickModeFlags {
  /** A stdio MCP server to run, as one command line. */
  stdio?: string;
  /** A remote MCP server to connect to. */
  url?: string;
  /** How to reach `url`. @default inferred from the URL's scheme (`auto` for http, `websocket` for ws) */
  transport?: string;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 8080 */
  port?: number;
  /** Also serve newline-delimited JSON-RPC on this Unix socket. */
  unixSocket?: string;
  /** @default 'info' */
  logLevel?: string;
}

/** Flags that cannot be used as given; the message names the flag, on one line. */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

/**
 * The configuration for bridging one stdio command or one URL, before validation: the flags'
 * layer of loadConfig, holding only the settings the flags give.
 */
export function quickModeConfig(flags: QuickModeFlags): GatewayConfigInput {
  if (flags.stdio !== undefined && flags.url !== undefined)
    throw new FlagError('give either --stdio or --url, not both');
  if (flags.stdio === undefined && flags.url === undefined)
    throw new FlagError('nothing to serve: give --stdio "<command>" or --url <URL>');
  if (flags.transport !== undefined && flags.url === undefined)
    throw new FlagError('--transport: applies only to --url');

  const [name, backend] =
    flags.url !== undefined
      ? remoteBackend(flags.url, flags.transport)
      : stdioBackend(flags.stdio!);
  // Only what was given: the rest comes from the schema's defaults and the environment, which
  // these flags override (see loadConfig).
  return {
    server: {
      ...(flags.host !== undefined && { host: flags.host }),
      ...(flags.port !== undefined && { port: flags.port }),
      ...(flags.unixSocket !== undefined && { unixSocket: flags.unixSocket }),
    },
    ...(flags.logLevel !== undefined && { log: { level: flags.logLevel as 'info' } }),
    backends: { [name]: backend },
  };
}

function stdioBackend(line: string): [string, unknown] {
  let command: string;
  let args: string[];
  try {
    ({ command, args } = splitCommandLine(line));
  } catch (error) {
    throw new FlagError(`--stdio: ${(error as Error).message}`);
  }
  return [backendName(command.split('/').pop()!), { transport: 'stdio', command, args }];
}

function remoteBackend(text: string, transport: string | undefined): [string, unknown] {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FlagError(`--url: expected an absolute http(s):// or ws(s):// URL, got "${text}"`);
  }
  const web = url.protocol === 'http:' || url.protocol === 'https:';
  const socket = url.protocol === 'ws:' || url.protocol === 'wss:';
  if (!web && !socket)
    throw new FlagError(`--url: expected an http(s):// or ws(s):// URL, got "${text}"`);
  if (transport !== undefined) {
    if (!(REMOTE_TRANSPORTS as readonly string[]).includes(transport)) {
      throw new FlagError(
        `--transport: expected one of ${REMOTE_TRANSPORTS.join(', ')}, got "${transport}"`,
      );
    }
    if ((transport === 'websocket') !== socket) {
      throw new FlagError(
        transport === 'websocket'
          ? '--transport: websocket needs a ws:// or wss:// URL'
          : `--transport: ${transport} needs an http:// or https:// URL`,
      );
    }
  }
  // Left out, the transport is inferred from the scheme by the schema, in one place.
  return [
    backendName(url.hostname),
    transport === undefined ? { url: text } : { url: text, transport },
  ];
}

/** A backend name the schema accepts, from a program name or a host name. */
function backendName(from: string): string {
  return from.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'backend';
}
