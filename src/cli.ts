#!/usr/bin/env node
import { openSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ConfigError } from './config/schema.js';
import type { GatewayConfig } from './config/schema.js';
import { FlagError, quickModeConfig } from './config/quick-mode.js';
import { UsageError, parseFlags } from './config/command-line.js';
import { listenFailure, servingBanner } from './startup.js';
import { ConfigLoadError, loadConfig } from './config/load.js';
import { withDotenv } from './config/env.js';
import { MAX_CONNECTIONS_FLAG, withMaxConnectionsPerAddress } from './config/command-line.js';
import { reloadOnChange } from './config/reload-watch.js';
import type { ConfigOverrides } from './config/load.js';
import { configJsonSchema } from './config/json-schema.js';
import { importCommand } from './config/import/command.js';
import { adminCommand } from './observability/admin-status.js';
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
  mcp-bridge import <file>
  mcp-bridge schema
  mcp-bridge token create --sub <id> --ttl <duration> [--scopes "<a> <b>"] [token options]
  mcp-bridge admin status [--url <admin URL> | --config <file>] [--json]

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
  import <file>         convert a seed system's config file (services.yaml, a version: 1
                        gateway config, mcp-router.yaml) to ours on stdout; every key it
                        cannot carry, and why, on stderr; docs/migrating.md
  schema                print the JSON Schema of the config file, for editors
  admin status          ask a running gateway's admin listener how it is (version, uptime,
                        sessions, backends' health); exit 0 healthy, 1 degraded or no answer
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
  --max-connections-per-address <n>
                        connections one client address may hold (default 256; 0: no cap);
                        raise it behind a reverse proxy or for a load test; HTTP mode only

Admin listener (dashboard, /metrics, /api/overview):
  --admin-port <n|off>  its port, 0 for any free one, or off (admin.port; default 9090 with
                        --serve http; off with --serve stdio unless given); a taken port given
                        here stops the start, the default one only turns the dashboard off

Other:
  --log-level <level>   fatal, error, warn, info, debug, trace or silent (default info)
  --log-format <fmt>    pretty (readable lines), json (JSON lines) or auto (default: pretty
                        on a terminal, json otherwise; log.format)
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

function parsePort(value: string | undefined, flag = '--port'): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535)
    fail(`${flag}: expected an integer from 0 to 65535, got "${value}"`);
  return port;
}

/** `--admin-port`: the admin section it gives (a port turns the listener on, `off` off). */
function adminFlag(value: string | undefined): ConfigOverrides['admin'] {
  if (value === undefined) return undefined;
  if (value === 'off') return { enabled: false };
  if (!/^\d+$/.test(value) || Number(value) > 65535)
    fail(`--admin-port: expected an integer from 0 to 65535 or "off", got "${value}"`);
  return { enabled: true, port: Number(value) };
}

/** Every problem of a configuration that cannot be used, one per line; exit 1. */
function failConfig(error: ConfigError): never {
  for (const problem of error.problems) process.stderr.write(`mcp-bridge: ${problem}\n`);
  process.exit(1);
}

/** What loading had to say (a seed's file converted on the fly), logged once there is a log. */
const loadWarnings: string[] = [];

/** Loads the configuration; a misused flag exits 2, any other problem 1, before anything starts. */
function load(
  file: string | undefined,
  flags: ConfigOverrides,
  defaults: ConfigOverrides,
): Readonly<GatewayConfig> {
  try {
    return loadConfig({ file, flags, defaults, warn: (message) => loadWarnings.push(message) });
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
    ({ values, positionals } = parseFlags(args, {
      sub: { type: 'string' },
      scopes: { type: 'string' },
      ttl: { type: 'string' },
      config: { type: 'string' },
      'secret-env': { type: 'string' },
      issuer: { type: 'string' },
      audience: { type: 'string' },
    }));
  } catch (error) {
    if (error instanceof UsageError) fail(`token: ${error.message}`);
    throw error;
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
  if (process.argv[2] === 'admin') {
    process.exitCode = await adminCommand(process.argv.slice(3));
    return;
  }
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseFlags(process.argv.slice(2), {
      config: { type: 'string' },
      stdio: { type: 'string' },
      url: { type: 'string' },
      transport: { type: 'string' },
      serve: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      unix: { type: 'string' },
      'tcp-port': { type: 'string' },
      'admin-port': { type: 'string' },
      [MAX_CONNECTIONS_FLAG]: { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    }));
  } catch (error) {
    if (error instanceof UsageError) fail(error.message);
    throw error;
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
  if (command === 'import') {
    if (Object.values(values).some((v) => v !== undefined))
      fail('import: takes the file only, no flags');
    process.exitCode = importCommand(rest);
    return;
  }
  if (command !== undefined && command !== 'check-config')
    fail(
      `unknown command "${command}"; the commands are connect, check-config, import, schema, token and admin`,
    );
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
    for (const flag of ['port', 'host', 'unix', 'tcp-port', MAX_CONNECTIONS_FLAG] as const) {
      if (values[flag] !== undefined) fail(`--${flag}: applies only to --serve http`);
    }
    // A remote in a stdio client: the connector, which keeps the session across outages.
    if (values.url !== undefined && file === undefined) {
      for (const flag of ['admin-port', 'log-format'] as const) {
        if (values[flag] !== undefined)
          fail(`--${flag}: does not apply to the connector (--url with --serve stdio)`);
      }
      return serveConnector(values);
    }
  }

  let flags: ConfigOverrides;
  // Seed 000's users start the bridge with nothing but their environment: MCP_SERVER_PATH (from
  // it or ./.env) names the server, which the environment layer reads as a backend.
  const seedServer =
    file === undefined &&
    values.stdio === undefined &&
    values.url === undefined &&
    Boolean(
      withDotenv(
        process.env,
        [join(process.cwd(), '.env')],
        process.cwd(),
      ).env.MCP_SERVER_PATH?.trim(),
    );
  if (file !== undefined || seedServer) {
    flags = {
      server: { host: values.host, port: parsePort(values.port), unixSocket: values.unix },
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

  const logFormat = values['log-format'];
  if (logFormat !== undefined && !['auto', 'pretty', 'json'].includes(logFormat))
    fail(`--log-format: expected pretty, json or auto, got "${logFormat}"`);
  flags = {
    ...flags,
    admin: adminFlag(values['admin-port']),
    log: {
      ...flags.log,
      level: values['log-level'] as 'info' | undefined,
      format: values['log-format'] as 'auto' | undefined,
    },
  };
  // A stdio server is started by a desktop client, often many at once: a dashboard each on one
  // port would fight over it. Asked for (the flag, the file, BRIDGE_ENABLE_METRICS), it runs.
  const defaults: ConfigOverrides = serve === 'stdio' ? { admin: { enabled: false } } : {};

  const tcpPort = values['tcp-port'];
  if (tcpPort !== undefined) {
    const port = Number(tcpPort);
    if (!/^\d+$/.test(tcpPort) || port > 65535)
      fail(`--tcp-port: expected an integer from 0 to 65535, got "${tcpPort}"`);
    flags = { ...flags, server: { ...flags.server, tcp: { enabled: true, port } } };
  }

  flags = withMaxConnectionsPerAddress(flags, values[MAX_CONNECTIONS_FLAG], fail);

  if (command === 'check-config') {
    process.exitCode = checkConfig(file!, flags, defaults);
    return;
  }

  const config = load(file, flags, defaults);
  if (serve === 'stdio' && config.audit.enabled && config.audit.destination === 'stdout') {
    failConfig(
      new ConfigError([
        'audit.destination: stdout carries the MCP session with --serve stdio; use stderr or a file',
      ]),
    );
  }
  const log = openLog(config);
  for (const warning of loadWarnings) log.warn(warning);
  const observability = createObservability({ config, log });
  let gateway: Gateway;
  try {
    gateway = createGateway(config, { log, policies: observability.policies });
  } catch (error) {
    // Problems only the gateway can see (a certificate file that cannot be read, say).
    if (error instanceof ConfigError) failConfig(error);
    throw error;
  }
  const stopReloading =
    file === undefined ? () => {} : reloadOnChange(file, flags, gateway, log, defaults);
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

  const adminGiven = values['admin-port'] !== undefined;
  if (serve === 'stdio') {
    await startAdmin(observability, gateway, config, undefined, adminGiven);
    await serveStdio(gateway, config.limits.maxMessageBytes, shutdown);
  } else {
    const address = await serveHttp(gateway, config);
    const admin = await startAdmin(observability, gateway, config, address, adminGiven);
    // stdout is free in HTTP mode: the banner does not mix with the JSON logs on stderr.
    process.stdout.write(
      servingBanner(config, address, admin, gateway.tcpAddress(), gateway.tcpHealthAddress()),
    );
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
 * The admin listener (metrics, dashboard). One that cannot listen on the port `--admin-port`
 * asked for stops the start, as any listener would; on its default port (a second gateway on one
 * machine, say), it is one warning and the gateway goes on serving MCP without a dashboard.
 */
async function startAdmin(
  observability: Observability,
  gateway: Gateway,
  config: Readonly<GatewayConfig>,
  gatewayAddress: AddressInfo | undefined,
  portGiven: boolean,
): Promise<AddressInfo | undefined> {
  try {
    return await observability.listen({ gateway, gatewayAddress });
  } catch (error) {
    const line = listenFailure(error, {
      what: 'the admin listener (dashboard, /metrics)',
      host: config.admin.host,
      port: config.admin.port,
      flag: '--admin-port',
    });
    if (portGiven) {
      await observability.close();
      await failStart(gateway, line);
    }
    gateway.log.warn(
      { code: (error as NodeJS.ErrnoException).code },
      `${line}; serving MCP without it (--admin-port off to not try)`,
    );
    return undefined;
  }
}

/** `check-config`: exit code 0 with a one-line summary, or 1 with every problem on stderr. */
function checkConfig(file: string, flags: ConfigOverrides, defaults: ConfigOverrides): number {
  try {
    const warn = (message: string) => process.stderr.write(`mcp-bridge: ${message}\n`);
    const names = Object.keys(loadConfig({ file, flags, defaults, warn }).backends);
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
  // Readable on a terminal, JSON for whatever reads a pipe or a file.
  const terminal = destination === 2 && process.stderr.isTTY === true;
  const format = config.log.format === 'auto' ? (terminal ? 'pretty' : 'json') : config.log.format;
  const colors = terminal && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';
  return createLogger({ level: config.log.level, destination, format, colors });
}

/** The gateway's listeners; one that cannot listen is one line on stderr and exit code 1. */
async function serveHttp(gateway: Gateway, config: Readonly<GatewayConfig>): Promise<AddressInfo> {
  try {
    return await gateway.listen();
  } catch (error) {
    const e = error as { port?: number };
    const tcp = config.server.tcp.enabled && e.port === config.server.tcp.port;
    const health = config.server.tcp.enabled && e.port === config.server.tcp.healthPort;
    const line = listenFailure(error, {
      what: tcp ? 'the TCP listener' : health ? 'the TCP health listener' : 'the gateway',
      host: config.server.host,
      port: config.server.port,
      flag: tcp ? '--tcp-port' : health ? 'server.tcp.healthPort' : '--port',
    });
    return failStart(gateway, line);
  }
}

/** A start that cannot go on: the gateway closed, its logs out, then one line, exit code 1. */
async function failStart(gateway: Gateway, line: string): Promise<never> {
  // The line is the last word: no "gateway stopped" after it (warnings of the close still show).
  if (gateway.log.levelVal < 40) gateway.log.level = 'warn';
  await gateway.close();
  await new Promise<void>((resolve) => gateway.log.flush(() => resolve()));
  process.stderr.write(`mcp-bridge: ${line}\n`);
  process.exit(1);
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
