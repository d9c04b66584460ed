#!/usr/bin/env node
import { openSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { ConfigError } from './config/schema.js';
import type { GatewayConfig } from './config/schema.js';
import { FlagError, quickModeConfig } from './config/quick-mode.js';
import { ConfigLoadError, loadConfig } from './config/load.js';
import { reloadOnChange } from './config/reload-watch.js';
import type { ConfigOverrides } from './config/load.js';
import { configJsonSchema } from './config/json-schema.js';
import { createGateway } from './gateway.js';
import type { Gateway } from './gateway.js';
import { createLogger } from './core/logger.js';
import type { Logger } from './core/logger.js';
import { channels } from './core/diagnostics.js';
import { createObservability } from './observability/observability.js';
import type { Observability } from './observability/observability.js';
import { refuseClient } from './frontends/stdio.js';
import { TokenError, createToken } from './auth/token.js';
import { version } from './version.js';
import {
  ConnectFlagError,
  connectCommand,
  parseConnectArgs,
  runConnector,
} from './connector/command.js';

const HELP = `mcp-bridge ${version}: bridge any MCP client to any MCP server

Usage:
  mcp-bridge (--stdio "<command> [args...]" | --url <URL>) [options]
  mcp-bridge --config <file> [options]
  mcp-bridge connect <URL> [connect options]   (see "mcp-bridge connect --help")
  mcp-bridge check-config <file>
  mcp-bridge schema
  mcp-bridge token create --sub <id> --ttl <duration> [--scopes "<a> <b>"] [token options]

Quick mode bridges one MCP server: a stdio command (one process for each client session) or a
remote server at a URL. By default it serves HTTP on one port: Streamable HTTP at /mcp, legacy
HTTP+SSE at /sse (messages to /messages) and WebSocket at /ws. With --serve stdio it is itself a
stdio MCP server instead: one session on stdin/stdout, logs on stderr. --url with --serve stdio
runs the connector ("mcp-bridge connect <URL>"), which survives outages of the remote.

With --config, the backends and settings come from a YAML or JSON file; the gateway reloads it on
SIGHUP and when it changes, keeping the running configuration if the new one is invalid.
Settings are taken, lowest first, from the defaults, the file, the environment (BRIDGE_*
variables, with .env in the working directory and beside the file under it), then the flags.
See docs/configuration.md.

Commands:
  connect <URL>         a stdio MCP server for desktop clients, carrying the session to a remote
                        gateway or server (http(s)://, ws(s)://, tcp(s)://) and keeping it across
                        outages: reconnection, a queue, session restore; docs/connector.md
  check-config <file>   load the file as a start would (environment and .env included), print
                        "<file>: ok (...)" or every problem, one per line; exit 0 or 1
  schema                print the JSON Schema of the config file, for editors
  token create          print an HS256 JWT (and nothing else) that a gateway with the same
                        auth.jwt.secret accepts; exit 2 without a secret or with a bad --ttl

Token options:
  --sub <id>            the token's subject (sub), the principal it stands for
  --ttl <duration>      lifetime: 15m, 1h, 7d, 90s or seconds (3600)
  --scopes "<a> <b>"    space-separated scopes (scope claim); none by default
  --config <file>       take auth.jwt.secret, issuer and audience from this config file
                        (with the environment, as a start would); without it BRIDGE_JWT_SECRET
  --secret-env <NAME>   take the secret from the environment variable NAME instead
  --issuer <iss>        the iss claim (default: auth.jwt.issuer of --config)
  --audience <aud>      the aud claim (default: auth.jwt.audience of --config)

Backend (exactly one of --config, --stdio, --url):
  --config <file>       the gateway's configuration file (.yaml, .yml or .json)
  --stdio <command>     the stdio MCP server to run, as one quoted command line
  --url <URL>           a remote MCP server: http(s)://, ws(s):// or tcp(s)://
  --transport <name>    how to reach --url: streamable-http, sse, websocket or auto
                        (default: auto for http(s), which falls back to sse; websocket for ws(s))

Serving:
  --serve <http|stdio>  serve HTTP (default) or one session on stdin/stdout
  --port <n>            HTTP port, 0 for any free port (default 8080)
  --host <address>      HTTP address to bind (default 127.0.0.1)
  --unix <path>         also serve newline-delimited JSON-RPC on this Unix socket (mode 0600),
                        one session per connection; HTTP mode only
  --tcp-port <n>        also serve the framed TCP protocol on this port (server.tcp; 8444 is
                        its usual port); HTTP mode only; docs/tcp-protocol.md

Other:
  --log-level <level>   fatal, error, warn, info, debug, trace or silent (default info)
  -h, --help            show this help
  -v, --version         show the version

Examples:
  mcp-bridge --stdio "npx -y @modelcontextprotocol/server-everything" --port 8080
  mcp-bridge --config bridge.yaml --port 9000
  mcp-bridge schema > mcp-bridge.schema.json
  mcp-bridge token create --config bridge.yaml --sub ci-bot --scopes "tools:read" --ttl 15m
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

/** Every problem of a configuration that cannot be used, one per line; exit 1. */
function failConfig(error: ConfigError): never {
  for (const problem of error.problems) process.stderr.write(`mcp-bridge: ${problem}\n`);
  process.exit(1);
}

/** Loads the configuration; a misused flag exits 2, any other problem 1, before anything starts. */
function load(file: string | undefined, flags: ConfigOverrides): Readonly<GatewayConfig> {
  try {
    return loadConfig({ file, flags });
  } catch (error) {
    if (error instanceof ConfigLoadError && error.flagsOnly) fail(error.problems.join('; '));
    if (error instanceof ConfigError) failConfig(error);
    throw error;
  }
}

/** `token create …`: the token on stdout and nothing else; a misuse or no secret exits 2. */
async function tokenCommand(args: string[]): Promise<void> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: {
        sub: { type: 'string' },
        scopes: { type: 'string' },
        ttl: { type: 'string' },
        config: { type: 'string' },
        'secret-env': { type: 'string' },
        issuer: { type: 'string' },
        audience: { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    fail(`token: ${(error as Error).message}`);
  }
  const [sub, ...rest] = positionals;
  if (sub !== 'create')
    fail(`token: the only command is "token create"${sub ? `, not "token ${sub}"` : ''}`);
  if (rest.length > 0) fail(`token create: unexpected argument "${rest[0]}"`);
  if (values.sub === undefined) fail('token create: give --sub <id>');
  if (values.ttl === undefined) fail('token create: give --ttl <duration> (15m, 1h, 3600…)');
  try {
    const token = await createToken({
      subject: values.sub,
      scopes: values.scopes?.split(/\s+/),
      ttl: values.ttl,
      configFile: values.config,
      secretEnv: values['secret-env'],
      issuer: values.issuer,
      audience: values.audience,
    });
    process.stdout.write(`${token}\n`);
  } catch (error) {
    if (error instanceof TokenError) fail(`token create: ${error.message}`);
    if (error instanceof ConfigError) failConfig(error);
    throw error;
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'token') return tokenCommand(process.argv.slice(3));
  if (process.argv[2] === 'connect') return connectCommand(process.argv.slice(3));
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      options: {
        config: { type: 'string' },
        stdio: { type: 'string' },
        url: { type: 'string' },
        transport: { type: 'string' },
        serve: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        unix: { type: 'string' },
        'tcp-port': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: true,
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
  const [command, ...rest] = positionals;
  if (command === 'schema') {
    if (rest.length > 0) fail(`schema: unexpected argument "${rest[0]}"`);
    process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    return;
  }
  if (command !== undefined && command !== 'check-config')
    fail(`unknown command "${command}"; the commands are connect, check-config, schema and token`);
  const file = command === 'check-config' ? rest[0] : values.config;
  if (command === 'check-config') {
    if (file === undefined) fail('check-config: give the file to check');
    if (rest.length > 1) fail(`check-config: unexpected argument "${rest[1]}"`);
    if (values.config !== undefined) fail('check-config: give the file once, without --config');
  }
  if (file !== undefined && (values.stdio !== undefined || values.url !== undefined))
    fail('give either --config or --stdio/--url, not both');
  if (file !== undefined && values.transport !== undefined)
    fail('--transport: applies only to --url');

  const serve = values.serve ?? 'http';
  if (serve !== 'http' && serve !== 'stdio')
    fail(`--serve: expected http or stdio, got "${serve}"`);
  if (serve === 'stdio') {
    for (const flag of ['port', 'host', 'unix', 'tcp-port'] as const) {
      if (values[flag] !== undefined) fail(`--${flag}: applies only to --serve http`);
    }
    // A remote in a stdio client: the connector, which keeps the session across outages.
    if (values.url !== undefined && file === undefined) return serveConnector(values);
  }

  let flags: ConfigOverrides;
  if (file !== undefined) {
    flags = {
      server: { host: values.host, port: parsePort(values.port), unixSocket: values.unix },
      log: { level: values['log-level'] as 'info' | undefined },
    };
  } else {
    try {
      flags = quickModeConfig({
        stdio: values.stdio,
        url: values.url,
        transport: values.transport,
        host: values.host,
        port: parsePort(values.port),
        unixSocket: values.unix,
        logLevel: values['log-level'],
      });
    } catch (error) {
      if (error instanceof FlagError) fail(error.message);
      throw error;
    }
  }

  const tcpPort = values['tcp-port'];
  if (tcpPort !== undefined) {
    const port = Number(tcpPort);
    if (!/^\d+$/.test(tcpPort) || port > 65535)
      fail(`--tcp-port: expected an integer from 0 to 65535, got "${tcpPort}"`);
    flags = { ...flags, server: { ...flags.server, tcp: { enabled: true, port } } };
  }

  if (command === 'check-config') {
    process.exitCode = checkConfig(file!, flags);
    return;
  }

  const config = load(file, flags);
  if (serve === 'stdio' && config.audit.enabled && config.audit.destination === 'stdout') {
    failConfig(
      new ConfigError([
        'audit.destination: stdout carries the MCP session with --serve stdio; use stderr or a file',
      ]),
    );
  }
  const log = openLog(config);
  const observability = createObservability({ config, log });
  let gateway: Gateway;
  try {
    gateway = createGateway(config, { log, policies: observability.policies });
  } catch (error) {
    // Problems only the gateway can see (a certificate file that cannot be read, say).
    if (error instanceof ConfigError) failConfig(error);
    throw error;
  }
  const stopReloading = file === undefined ? () => {} : reloadOnChange(file, flags, gateway, log);
  let stopping = false;
  const shutdown = (code: number) => {
    if (stopping) return;
    stopping = true;
    stopReloading();
    gateway
      .close()
      .then(() => observability.close())
      .then(
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

  if (serve === 'stdio') {
    await startAdmin(observability, gateway, undefined);
    await serveStdio(gateway, config.limits.maxMessageBytes, shutdown);
  } else {
    await startAdmin(observability, gateway, await serveHttp(gateway));
  }
}

/** `--url <URL> --serve stdio`: the connector, with the flags quick mode shares with it. */
async function serveConnector(values: {
  url?: string;
  stdio?: string;
  transport?: string;
  'log-level'?: string;
}): Promise<void> {
  if (values.stdio !== undefined) fail('give either --stdio or --url, not both');
  const args = [values.url!];
  if (values.transport !== undefined) args.push('--transport', values.transport);
  if (values['log-level'] !== undefined) args.push('--log-level', values['log-level']);
  let settings;
  try {
    settings = parseConnectArgs(args);
  } catch (error) {
    if (error instanceof ConnectFlagError) fail(error.message);
    throw error;
  }
  if (settings !== 'help') await runConnector(settings);
}

/**
 * The admin listener (metrics, dashboard). One that cannot listen (its port taken, say) is
 * logged, and the gateway goes on serving MCP: losing metrics must not take clients down.
 */
async function startAdmin(
  observability: Observability,
  gateway: Gateway,
  gatewayAddress: AddressInfo | undefined,
): Promise<void> {
  try {
    await observability.listen({ gateway, gatewayAddress });
  } catch (error) {
    gateway.log.error({ err: error }, 'the admin listener (metrics, dashboard) cannot listen');
  }
}

/** `check-config`: exit code 0 with a one-line summary, or 1 with every problem on stderr. */
function checkConfig(file: string, flags: ConfigOverrides): number {
  try {
    const names = Object.keys(loadConfig({ file, flags }).backends);
    process.stdout.write(
      `${file}: ok (${names.length} backend${names.length === 1 ? '' : 's'}: ${names.join(', ')})\n`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`${problem}\n`);
    return 1;
  }
}

/** The logger, on `log.file` if set; a file that cannot be opened is a configuration problem. */
function openLog(config: Readonly<GatewayConfig>): Logger {
  let destination = 2;
  if (config.log.file !== undefined) {
    try {
      destination = openSync(config.log.file, 'a');
    } catch (error) {
      failConfig(
        new ConfigError([`log.file: cannot open ${config.log.file}: ${(error as Error).message}`]),
      );
    }
  }
  return createLogger({ level: config.log.level, destination });
}

async function serveHttp(gateway: Gateway): Promise<AddressInfo> {
  try {
    return await gateway.listen();
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
    const onSessionClose = ({ transport, reason }: { transport: string; reason: string }) => {
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
