import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { stringify } from 'yaml';
import { channels } from '../core/diagnostics.js';
import type { ConnectorLinkEvent } from '../core/diagnostics.js';
import { version } from '../version.js';
import { loadConnectorConfig } from './config.js';
import { SECRET_KEY } from './config-schema.js';
import { Connector } from './connector.js';
import { settingsFrom } from './settings.js';
import { transportsFor } from './remote-link.js';
import { SecretStore, describePlace } from './secrets.js';

/*
 * `mcp-bridge connect setup`: a wizard in the terminal that asks for the remote, its
 * credentials (a token goes to the keychain or the 0600 file, never into a config), writes the
 * connector's config file, and adds the server to a desktop client's config (Claude Desktop,
 * Cursor) or prints the command that adds it (Claude Code). Before that it tests the connection
 * with the file it wrote, as the desktop client will run it. Answers may come from a pipe, one a
 * line, as they would be typed.
 */

/**
 * Runs the connector on `configPath` once, in this process, with an `initialize` of its own,
 * and says how that went. A failure is reported, not fatal: the remote may simply be down now.
 */
async function testConnection(configPath: string, env: NodeJS.ProcessEnv): Promise<string> {
  let connector: Connector | undefined;
  let onLink: ((event: ConnectorLinkEvent) => void) | undefined;
  try {
    const config = loadConnectorConfig({ file: configPath, env, flags: { logLevel: 'silent' } });
    const settings = settingsFrom(config, env, new SecretStore({ env }));
    const wait = settings.connectTimeoutMs ?? 10_000;
    const [client, server] = InMemoryTransport.createLinkedPair();
    connector = new Connector({
      ...settings,
      statusFile: undefined,
      // One attempt's worth of waiting: the connector answers -32021 with the last error.
      queue: { maxSize: 1, maxWaitMs: wait },
      client: server,
    });
    // Its reply, not a log notification that may come first.
    const reply = new Promise<JSONRPCMessage>(
      (resolve) => (client.onmessage = (m) => void ('id' in m && m.id === 1 && resolve(m))),
    );
    // The first failed attempt is the answer: no need to wait through the reconnections.
    const failed = new Promise<JSONRPCMessage>((resolve) => {
      onLink = (event) => {
        const lastError = connector?.snapshot().lastError;
        if (event.state === 'reconnecting' && lastError)
          resolve({ jsonrpc: '2.0', id: 1, error: { code: -32021, message: lastError } });
      };
      channels.connectorLink.subscribe(onLink);
    });
    await client.start();
    await connector.start();
    await client.send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'mcp-bridge-connect-setup', version },
      },
    });
    const answer = (await Promise.race([reply, failed])) as {
      result?: { serverInfo?: { name?: string; version?: string } };
      error?: { message: string };
    };
    if (answer.error) return `could not connect: ${answer.error.message}`;
    const info = answer.result?.serverInfo;
    return `connected: ${info?.name ?? 'the remote'}${info?.version ? ` ${info.version}` : ''} answered`;
  } catch (error) {
    return `could not connect: ${(error as Error).message}`;
  } finally {
    if (onLink) channels.connectorLink.unsubscribe(onLink);
    await connector?.close();
  }
}

const CLIENTS = ['claude-desktop', 'cursor', 'claude-code', 'none'] as const;

/** Where Claude Desktop keeps its config on this platform. */
function claudeDesktopConfig(env: NodeJS.ProcessEnv): string {
  if (process.platform === 'darwin')
    return join(
      homedir(),
      'Library',
      'Application Support',
      'Claude',
      'claude_desktop_config.json',
    );
  if (process.platform === 'win32')
    return join(
      env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'),
      'Claude',
      'claude_desktop_config.json',
    );
  return join(
    env.XDG_CONFIG_HOME || join(homedir(), '.config'),
    'Claude',
    'claude_desktop_config.json',
  );
}

interface Io {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  out: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** Writes `text` to `path` atomically, mode 0600, making its folder. */
function writePrivate(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

export async function setupCommand(
  args: string[],
  io: Io = { input: process.stdin, out: process.stdout, env: process.env },
): Promise<number> {
  if (args.length > 0) {
    process.stderr.write(`mcp-bridge connect: setup: unexpected argument "${args[0]}"\n`);
    return 2;
  }
  const rl = createInterface({ input: io.input, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  const ask = async (question: string, fallback?: string): Promise<string> => {
    io.out.write(`${question}${fallback ? ` [${fallback}]` : ''}: `);
    const next = await lines.next();
    if (next.done) throw new Error('the answers ended before the questions did');
    if (!io.input.isTTY) io.out.write('\n');
    return next.value.trim() || fallback || '';
  };
  /** At a terminal, a prompt whose typing is not shown: raw mode keeps the terminal from echoing. */
  const askHidden = async (question: string): Promise<string> => {
    const tty = io.input as { isTTY?: boolean; setRawMode?: (raw: boolean) => void };
    if (!tty.isTTY || !tty.setRawMode) return ask(question);
    tty.setRawMode(true);
    try {
      const typed = await ask(question);
      io.out.write('\n');
      // Raw mode hands over the erase key as DEL: apply it.
      let secret = '';
      for (const c of typed) secret = c === '\x7f' || c === '\b' ? secret.slice(0, -1) : secret + c;
      return secret;
    } finally {
      tty.setRawMode(false);
    }
  };
  const choose = async <T extends string>(question: string, options: readonly T[], fallback: T) => {
    for (;;) {
      const answer = await ask(`${question} (${options.join(', ')})`, fallback);
      if ((options as readonly string[]).includes(answer)) return answer as T;
      io.out.write(`  expected one of ${options.join(', ')}\n`);
    }
  };
  try {
    io.out.write(
      'mcp-bridge connector setup: a local stdio server for your desktop client that carries it to a remote MCP gateway.\n',
    );
    let url: string;
    for (;;) {
      url = await ask('Remote URL (http(s)://, ws(s):// or tcp(s)://)');
      try {
        transportsFor(new URL(url));
        break;
      } catch (error) {
        io.out.write(
          `  ${error instanceof TypeError ? 'not an absolute URL' : (error as Error).message}\n`,
        );
      }
    }
    const remote = new URL(url);
    const auth = await choose('Authentication', ['none', 'token', 'oauth'] as const, 'none');
    const remoteConfig: Record<string, unknown> = { url };
    const store = new SecretStore({ env: io.env });
    if (auth === 'token') {
      const fallbackKey = remote.hostname.replace(/[^A-Za-z0-9._-]/g, '-') || 'gateway';
      let key: string;
      do key = await ask('Name to keep the token under', fallbackKey);
      while (!SECRET_KEY.test(key));
      // A person at a terminal types it unseen; from a pipe it is the next line.
      const token = await askHidden('Token (not shown)');
      if (!token) throw new Error('no token given');
      const place = store.set(key, token);
      io.out.write(`  stored "${key}" in ${describePlace(place)}\n`);
      remoteConfig.auth = { type: 'bearer', token: { key } };
    }
    if (auth === 'oauth') remoteConfig.auth = { type: 'oauth' };
    const name = await ask('Name of the server in the desktop client', 'gateway');
    const defaultConfig = join(
      io.env.XDG_CONFIG_HOME || join(homedir(), '.config'),
      'mcp-bridge',
      `connector-${name}.yaml`,
    );
    const configPath = resolve(await ask('Where to write the connector config', defaultConfig));
    const statusFile = join(dirname(configPath), `connector-${name}.status.json`);
    writePrivate(
      configPath,
      `# Written by "mcp-bridge connect setup"; see docs/connector.md.\n${stringify({ remote: remoteConfig, statusFile })}`,
    );
    io.out.write(`  wrote ${configPath}\n`);
    // The MCP authorization flow signs in at first use; testing it here would open a browser.
    if (auth !== 'oauth')
      io.out.write(`  testing the connection: ${await testConnection(configPath, io.env)}\n`);

    const client = await choose('Desktop client', CLIENTS, 'claude-desktop');
    const cli = fileURLToPath(new URL('../cli.js', import.meta.url));
    const entry = { command: process.execPath, args: [cli, 'connect', '--config', configPath] };
    if (client === 'claude-code') {
      io.out.write(
        `Run this to add it to Claude Code:\n  claude mcp add ${name} -- ${JSON.stringify(entry.command)} ${entry.args.map((a) => JSON.stringify(a)).join(' ')}\n`,
      );
    } else if (client !== 'none') {
      const fallbackPath =
        client === 'cursor' ? join(homedir(), '.cursor', 'mcp.json') : claudeDesktopConfig(io.env);
      const path = resolve(await ask(`${client} config file`, fallbackPath));
      let current: { mcpServers?: Record<string, unknown> } = {};
      if (existsSync(path)) {
        current = JSON.parse(readFileSync(path, 'utf8')) as typeof current;
        writeFileSync(`${path}.bak`, readFileSync(path));
      }
      current.mcpServers = { ...current.mcpServers, [name]: entry };
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, `${JSON.stringify(current, null, 2)}\n`);
      io.out.write(`  added "${name}" to ${path}; restart ${client} to use it\n`);
    }
    io.out.write(`Check it any time with: mcp-bridge connect check-config ${configPath}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`mcp-bridge connect: setup: ${(error as Error).message}\n`);
    return 1;
  } finally {
    rl.close();
  }
}
