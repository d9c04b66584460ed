import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { readConfigFile } from '../config/load.js';
import { ConfigError } from '../config/schema.js';
import { version } from '../version.js';
import { SECRET_KEY } from './config-schema.js';
import type { ConnectorConfig } from './config-schema.js';
import { ConnectFlagError, settingsFrom } from './settings.js';
import { connectorJsonSchema, loadConnectorConfig } from './config.js';
import { convertRouterConfig, isRouterConfig } from './router-config.js';
import type { ConnectorStatus } from './status-file.js';
import { SecretStore, describePlace } from './secrets.js';
import { readSecretInput } from './prompt.js';

/*
 * `connect`'s commands besides running: check-config, schema, --status, store-token, version.
 * Each returns its exit code: 0 done, 1 the thing checked is not right (a bad config, a link
 * that is down), 2 the command was misused. Output for people goes to stdout, problems to stderr.
 */

export const SUBCOMMANDS = ['check-config', 'import', 'schema', 'store-token', 'version'] as const;

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

const defaultIo = (): Io => ({
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  stdin: process.stdin,
});

function misuse(io: Io, message: string): number {
  io.err(`mcp-bridge connect: ${message}\nRun "mcp-bridge connect --help" for usage.\n`);
  return 2;
}

/** `connect check-config F`: loads F as `connect --config F` would, secrets and PEM files included. */
export function checkConfigCommand(args: string[], io: Io = defaultIo()): number {
  const [file, ...rest] = args;
  if (file === undefined) return misuse(io, 'check-config: give the file to check');
  if (rest.length > 0) return misuse(io, `check-config: unexpected argument "${rest[0]}"`);
  try {
    const config = loadConnectorConfig({
      file,
      env: io.env,
      warn: (text) => io.err(`note: ${text}\n`),
    });
    // As a start would: secrets read (not shown), PEM files loaded.
    try {
      settingsFrom(config, io.env, new SecretStore({ env: io.env }));
    } catch (error) {
      if (!(error instanceof ConnectFlagError)) throw error;
      throw new ConfigError(error.message.split('\n').map((line) => `${file}: ${line}`));
    }
    io.out(`${file}: OK: ${summary(config)}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) io.err(`${problem}\n`);
    return 1;
  }
}

function summary(config: Readonly<ConnectorConfig>): string {
  const parts: string[] = [];
  const { remote, direct } = config;
  if (direct) parts.push(`runs "${[direct.command, ...direct.args].join(' ')}" (direct mode)`);
  if (remote) {
    parts.push(`${remote.url} over ${remote.transport ?? 'the transport its scheme takes'}`);
    parts.push(`auth ${remote.auth.type}`);
    if (remote.tls?.cert) parts.push('a client certificate');
  }
  const n = config.fallbacks.length;
  if (n > 0) parts.push(`then ${n} fallback${n === 1 ? '' : 's'}`);
  if (config.metrics.enabled)
    parts.push(`metrics on ${config.metrics.host}:${config.metrics.port}`);
  return parts.join(', ');
}

/**
 * `connect import F`: seed 004's router file (mcp-router.yaml) as the connector's config, on
 * stdout; every key not carried, with why, on stderr. Exit 1 when F is not such a file.
 */
export function importRouterCommand(args: string[], io: Io = defaultIo()): number {
  const [file, ...rest] = args;
  if (file === undefined) return misuse(io, 'import: give the file to convert');
  if (rest.length > 0) return misuse(io, `import: unexpected argument "${rest[0]}"`);
  let doc: unknown;
  try {
    doc = readConfigFile(resolve(file), file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) io.err(`${problem}\n`);
    return 1;
  }
  if (!isRouterConfig(doc)) {
    io.err(
      `${file}: not seed 004's router file: expected "gateway" (with url or endpoints), "direct_clients" or "servers" with "connection_mode"\n`,
    );
    return 1;
  }
  const result = convertRouterConfig(doc);
  io.out(
    `# Converted by "mcp-bridge connect import" from ${file} (${result.format}).\n${stringify(result.config)}`,
  );
  for (const d of result.dropped) io.err(`not carried: ${d.key}: ${d.reason}\n`);
  for (const note of result.notes) io.err(`note: ${note}\n`);
  return 0;
}

/** `connect schema`: the JSON Schema of the connector's config file. */
export function schemaCommand(args: string[], io: Io = defaultIo()): number {
  if (args.length > 0) return misuse(io, `schema: unexpected argument "${args[0]}"`);
  io.out(`${JSON.stringify(connectorJsonSchema(), null, 2)}\n`);
  return 0;
}

export function versionCommand(args: string[], io: Io = defaultIo()): number {
  if (args.length > 0) return misuse(io, `version: unexpected argument "${args[0]}"`);
  io.out(`mcp-bridge ${version} (connector)\n`);
  return 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `connect --status`: the link's state from the status file a running connector keeps (named by
 * `--status-file`, or by `statusFile` in `--config`'s file). Exit 0 when the link is up (or not
 * yet needed), 1 when it is down or the connector is gone.
 */
export function statusCommand(args: string[], io: Io = defaultIo()): number {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        status: { type: 'boolean' },
        'status-file': { type: 'string' },
        config: { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (error) {
    return misuse(io, `--status: ${(error as Error).message}`);
  }
  let path = values['status-file'];
  if (path === undefined && values.config !== undefined) {
    try {
      path = loadConnectorConfig({ file: values.config, env: io.env }).statusFile;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const problem of error.problems) io.err(`${problem}\n`);
      return 2;
    }
    if (path === undefined)
      return misuse(io, `--status: ${values.config} sets no statusFile, so there is none to read`);
  }
  if (path === undefined)
    return misuse(io, '--status: name the status file: --status-file <path> or --config <file>');
  let status: ConnectorStatus;
  try {
    status = JSON.parse(readFileSync(path, 'utf8')) as ConnectorStatus;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    io.err(
      code === 'ENOENT'
        ? `${path}: no status file (no connector has run with it yet)\n`
        : `${path}: cannot read the status file: ${(error as Error).message}\n`,
    );
    return 1;
  }
  const running = status.state === 'closed' || alive(status.pid);
  if (values.json) {
    io.out(`${JSON.stringify({ ...status, running }, null, 2)}\n`);
  } else {
    const lines = [
      `state:       ${status.state}${running ? '' : ` (the connector, pid ${status.pid}, is no longer running)`}`,
      `since:       ${status.since}`,
      `remote:      ${status.remote} (${status.transport})`,
      `reconnects:  ${status.reconnects}`,
      `queue depth: ${status.queueDepth}`,
      `in flight:   ${status.inFlight}`,
      ...(status.lastError ? [`last error:  ${status.lastError}`] : []),
      `pid:         ${status.pid}`,
    ];
    io.out(`${lines.join('\n')}\n`);
  }
  return running && (status.state === 'connected' || status.state === 'idle') ? 0 : 1;
}

/**
 * `connect store-token --key NAME`: reads a secret from a hidden prompt (a terminal) or from
 * stdin (a pipe: its first line), and stores it in the OS keychain, or the 0600 file where
 * there is none. The secret is never echoed.
 */
export async function storeTokenCommand(args: string[], io: Io = defaultIo()): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { key: { type: 'string' } }, strict: true }));
  } catch (error) {
    return misuse(io, `store-token: ${(error as Error).message}`);
  }
  const key = values.key;
  if (key === undefined) return misuse(io, 'store-token: give the name: --key NAME');
  if (!SECRET_KEY.test(key))
    return misuse(
      io,
      `store-token: --key: expected a name of letters, digits, ".", "_" and "-", got "${key}"`,
    );
  const secret = await readSecretInput(io.stdin, `Secret for "${key}": `);
  if (!secret) {
    io.err('mcp-bridge connect: store-token: no secret given (empty input); nothing stored\n');
    return 1;
  }
  try {
    const place = new SecretStore({ env: io.env }).set(key, secret);
    io.out(
      `stored "${key}" in ${describePlace(place)}${place.kind === 'file' ? ' (mode 0600; no OS keychain is available here)' : ''}\n`,
    );
    return 0;
  } catch (error) {
    io.err(`mcp-bridge connect: store-token: ${(error as Error).message}\n`);
    return 1;
  }
}
