import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import type { GatewayConfigInput } from './schema.js';
import { splitCommandLine } from './command-line.js';
import { schemeFamily } from '../core/url-schemes.js';

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
  return [backendName(stdioName(command, args)), { transport: 'stdio', command, args }];
}

function remoteBackend(text: string, transport: string | undefined): [string, unknown] {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FlagError(`--url: expected an absolute http(s):// or ws(s):// URL, got "${text}"`);
  }
  const family = schemeFamily(url);
  const web = family === 'http';
  const socket = family === 'websocket';
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
    backendName(urlName(url)),
    transport === undefined ? { url: text } : { url: text, transport },
  ];
}

/** Programs that run a package named in their arguments: the package names the backend. */
const PACKAGE_RUNNERS: Readonly<Record<string, readonly string[]>> = {
  npx: [],
  bunx: [],
  uvx: [],
  pnpx: [],
  pnpm: ['dlx', 'exec'],
  yarn: ['dlx'],
  pipx: ['run'],
  docker: ['run'],
  podman: ['run'],
};
/** Programs that run a script named in their arguments: the script names the backend. */
const SCRIPT_RUNNERS = new Set([
  'node',
  'nodejs',
  'bun',
  'deno',
  'tsx',
  'ts-node',
  'python',
  'python3',
  'uv',
  'ruby',
  'php',
  'java',
]);
/** Script names that say nothing of what they serve: their package or folder does. */
const GENERIC_SCRIPTS = new Set(['index', 'main', 'cli', 'server', 'app', 'bin', 'run', 'mod']);
const GENERIC_FOLDERS = new Set(['dist', 'build', 'lib', 'src', 'bin', 'out', 'esm', 'cjs']);
/** Path segments that name the transport, not the server. */
const GENERIC_SEGMENTS = new Set(['mcp', 'sse', 'ws', 'websocket', 'message', 'messages', 'v1']);

/**
 * What a person would call a stdio server: the package that `npx` (or `uvx`, `docker run`…)
 * runs, without scope and version (`server-everything`); the script that `node` (or `python`…)
 * runs, or its package when the script is an `index.js` (`server-memory`); `-m module`; or
 * the program itself.
 */
export function stdioName(command: string, args: readonly string[]): string {
  const program = basename(command).replace(/\.(exe|cmd)$/i, '');
  const runner = PACKAGE_RUNNERS[program];
  if (runner !== undefined) {
    let rest = args;
    if (runner.length > 0) {
      if (!runner.includes(rest[0] ?? '')) return program;
      rest = rest.slice(1);
    }
    const spec = rest.find((a) => !a.startsWith('-'));
    return spec === undefined ? program : packageName(spec);
  }
  if (SCRIPT_RUNNERS.has(program) || /^python3\.\d+$/.test(program)) {
    const module = args.indexOf('-m');
    if (module >= 0 && args[module + 1]) return args[module + 1]!;
    const script = args.find((a) => !a.startsWith('-') && a !== 'run');
    return script === undefined ? program : scriptName(script);
  }
  return program;
}

/** `@scope/name@1.2.3` → `name`; `ghcr.io/org/image:tag` → `image`; `pkg==1.0` → `pkg`. */
function packageName(spec: string): string {
  const unversioned = spec.replace(/(?<=.)@[^/]*$/, '').replace(/[:=]=?[^/]*$/, '');
  return unversioned.split('/').pop() || unversioned;
}

function scriptName(script: string): string {
  const name = basename(script, extname(script));
  if (!GENERIC_SCRIPTS.has(name)) return name;
  // An index.js: the package it belongs to, else the folder it is in.
  let dir = dirname(resolve(script));
  const javascript = /^\.[cm]?[jt]s$/.test(extname(script));
  for (let depth = 0; javascript && depth < 4; depth++) {
    const manifest = resolve(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        const { name: pkg } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown };
        if (typeof pkg === 'string' && pkg.length > 0) return packageName(pkg);
      } catch {
        // not JSON: fall back to the folder
      }
      break;
    }
    if (dirname(dir) === dir) break;
    dir = dirname(dir);
  }
  let folder = dirname(resolve(script));
  while (GENERIC_FOLDERS.has(basename(folder)) && dirname(folder) !== folder)
    folder = dirname(folder);
  return basename(folder) || name;
}

/**
 * A remote's host and the path segments that say which server it is:
 * `https://mcp.example.com/mcp` → `mcp.example.com`, `http://127.0.0.1:8081/servers/github/mcp`
 * → `127.0.0.1-8081-servers-github` (the port is kept for an address, where it tells servers
 * apart).
 */
export function urlName(url: URL): string {
  const bare = url.hostname.replace(/^\[|\]$/g, '').replace(/^www\./, '');
  const host = bare === '::1' ? 'localhost' : bare;
  const address = /^[\d.]+$/.test(host) || host.includes(':') || host === 'localhost';
  const parts = [host];
  if (address && url.port) parts.push(url.port);
  for (const segment of url.pathname.split('/')) {
    const text = decodeURIComponent(segment);
    if (text && !GENERIC_SEGMENTS.has(text.toLowerCase())) parts.push(text);
  }
  return parts.join('-');
}

/** A backend name the schema accepts, from a program name or a host name. */
function backendName(from: string): string {
  return from.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'backend';
}
