#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig } from './config/schema.js';
import { quickModeConfig } from './config/quick-mode.js';
import { createGateway } from './gateway.js';
import { version } from './version.js';

const HELP = `mcp-bridge ${version}: bridge any MCP client to any MCP server

Usage:
  mcp-bridge --stdio "<command> [args...]" [--port 8080] [--host 127.0.0.1]

Quick mode serves one stdio MCP server over Streamable HTTP at http://HOST:PORT/mcp,
starting one server process for each client session.

Options:
  --stdio <command>     the stdio MCP server to run, as one quoted command line
  --port <n>            port to listen on, 0 for any free port (default 8080)
  --host <address>      address to bind (default 127.0.0.1)
  --log-level <level>   fatal, error, warn, info, debug, trace or silent (default info)
  -h, --help            show this help
  -v, --version         show the version

Example:
  mcp-bridge --stdio "npx -y @modelcontextprotocol/server-everything" --port 8080
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
        port: { type: 'string' },
        host: { type: 'string' },
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
  if (values.stdio === undefined) fail('nothing to serve: give --stdio "<command>"');

  let config;
  try {
    config = parseConfig(
      quickModeConfig({
        stdio: values.stdio,
        host: values.host,
        port: parsePort(values.port),
        logLevel: values['log-level'],
      }),
    );
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    fail(`--stdio: ${(error as Error).message}`);
  }

  const gateway = createGateway(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      gateway.log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    gateway.log.info({ signal }, 'shutting down');
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        gateway.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  try {
    await gateway.listen();
  } catch (error) {
    gateway.log.fatal({ err: error }, 'cannot listen');
    await gateway.close();
    process.exit(1);
  }
}

await main();
