#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig } from './config/schema.js';
import { FlagError, quickModeConfig } from './config/quick-mode.js';
import { createGateway } from './gateway.js';
import type { Gateway } from './gateway.js';
import { channels } from './core/diagnostics.js';
import { refuseClient } from './frontends/stdio.js';
import { version } from './version.js';

const HELP = `mcp-bridge ${version}: bridge any MCP client to any MCP server

Usage:
  mcp-bridge (--stdio "<command> [args...]" | --url <URL>) [options]

Quick mode bridges one MCP server: a stdio command (one process for each client session) or a
remote server at a URL. By default it serves HTTP on one port: Streamable HTTP at /mcp, legacy
HTTP+SSE at /sse (messages to /messages) and WebSocket at /ws. With --serve stdio it is itself a
stdio MCP server instead: one session on stdin/stdout, logs on stderr.

Backend (exactly one):
  --stdio <command>     the stdio MCP server to run, as one quoted command line
  --url <URL>           a remote MCP server: http(s):// or ws(s)://
  --transport <name>    how to reach --url: streamable-http, sse, websocket or auto
                        (default: auto for http(s), which falls back to sse; websocket for ws(s))

Serving:
  --serve <http|stdio>  serve HTTP (default) or one session on stdin/stdout
  --port <n>            HTTP port, 0 for any free port (default 8080)
  --host <address>      HTTP address to bind (default 127.0.0.1)
  --unix <path>         also serve newline-delimited JSON-RPC on this Unix socket (mode 0600),
                        one session per connection; HTTP mode only

Other:
  --log-level <level>   fatal, error, warn, info, debug, trace or silent (default info)
  -h, --help            show this help
  -v, --version         show the version

Examples:
  mcp-bridge --stdio "npx -y @modelcontextprotocol/server-everything" --port 8080
  mcp-bridge --url https://mcp.example.com/mcp --serve stdio
  mcp-bridge --url http://localhost:3001/sse --transport sse --port 8080
`;

function fail(message: string): never {
  process.stderr.write(`mcp-bridge: ${message}\nRun "mcp-bridge --help" for usage.\n`);
  process.exit(2);
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535)
    fail(`--port: expected an integer from 0 to 65535, got "${value}"`);
  return port;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        stdio: { type: 'string' },
        url: { type: 'string' },
        transport: { type: 'string' },
        serve: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        unix: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values.version) {
    process.stdout.write(`${version}\n`);
    return;
  }
  const serve = values.serve ?? 'http';
  if (serve !== 'http' && serve !== 'stdio')
    fail(`--serve: expected http or stdio, got "${serve}"`);
  if (serve === 'stdio') {
    for (const flag of ['port', 'host', 'unix'] as const) {
      if (values[flag] !== undefined) fail(`--${flag}: applies only to --serve http`);
    }
  }

  let config;
  try {
    config = parseConfig(
      quickModeConfig({
        stdio: values.stdio,
        url: values.url,
        transport: values.transport,
        host: values.host,
        port: parsePort(values.port),
        unixSocket: values.unix,
        logLevel: values['log-level'],
      }),
    );
  } catch (error) {
    if (error instanceof FlagError) fail(error.message);
    if (error instanceof ConfigError) fail(error.problems.join('; '));
    throw error;
  }

  const gateway = createGateway(config);
  let stopping = false;
  const shutdown = (code: number) => {
    if (stopping) return;
    stopping = true;
    gateway.close().then(
      () => process.exit(code),
      (error: unknown) => {
        gateway.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: string) => {
    if (stopping) {
      gateway.log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    gateway.log.info({ signal }, 'shutting down');
    shutdown(0);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  if (serve === 'stdio') await serveStdio(gateway, config.limits.maxMessageBytes, shutdown);
  else await serveHttp(gateway);
}

async function serveHttp(gateway: Gateway): Promise<void> {
  try {
    await gateway.listen();
  } catch (error) {
    gateway.log.fatal({ err: error }, 'cannot listen');
    await gateway.close();
    process.exit(1);
  }
}

/**
 * One session on our own stdin/stdout. The process lives as long as that session: it exits 0
 * once the client has closed stdin and the session has closed, 1 if the backend ended first.
 */
async function serveStdio(
  gateway: Gateway,
  maxMessageBytes: number,
  shutdown: (code: number) => void,
): Promise<void> {
  let inputEnded = false;
  process.stdin.once('end', () => (inputEnded = true));
  // Subscribed before the session opens, so that a session that ends at once is seen too.
  const ended = new Promise<string>((resolve) => {
    const onSessionClose = (event: unknown) => {
      const { transport, reason } = event as { transport: string; reason: string };
      if (transport !== 'stdio') return;
      channels.sessionClose.unsubscribe(onSessionClose);
      resolve(reason);
    };
    channels.sessionClose.subscribe(onSessionClose);
  });
  try {
    const session = await gateway.serveStdio(process.stdin, process.stdout);
    gateway.log.info({ session: session.id }, 'serving one session on stdin/stdout');
  } catch (error) {
    gateway.log.fatal({ err: error }, 'cannot open the session');
    // The client is waiting for its initialize reply: tell it why instead of just hanging up.
    await refuseClient(process.stdin, process.stdout, error, maxMessageBytes);
    shutdown(1);
    return;
  }
  const reason = await ended;
  if (inputEnded) gateway.log.info('stdin ended; exiting');
  else gateway.log.error({ reason }, 'the session ended before stdin did; exiting');
  shutdown(inputEnded ? 0 : 1);
}

await main();
