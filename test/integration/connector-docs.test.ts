import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseShell } from 'shell-quote';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { SecretStore } from '../../src/connector/secrets.js';
import { startGateway, probeStdio } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/*
 * The desktop client snippets of docs/connector.md, read from the page and launched as their
 * clients would (command, args and env, through the SDK's stdio client), with three stand-ins
 * only: `npx -y mcp-bridge` is this checkout's dist/cli.js, the example gateway URL is a local
 * gateway that requires the token, and the example paths are in a temporary folder.
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const DOC = readFileSync(
  fileURLToPath(new URL('../../docs/connector.md', import.meta.url)),
  'utf8',
);
const TOKEN = 'docs-snippet-token-8f2a';
const EXAMPLE_URL = 'https://gateway.example.com/mcp';

let dir: string;
let gw: RunningGateway;
let env: Record<string, string>;

/** The fenced blocks of one language in the "Desktop clients" section, in order. */
function blocks(language: string): string[] {
  const section = DOC.slice(DOC.indexOf('## Desktop clients'), DOC.indexOf('## Tests'));
  return [...section.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map(
    (m) => m[1]!,
  );
}

/** Replaces the example's stand-ins with this test's. */
function localize(text: string): string {
  return text
    .replaceAll(EXAMPLE_URL, gw.url.toString())
    .replaceAll('/home/me/.config/mcp-bridge', dir)
    .replaceAll('/tmp/team-gateway.status.json', join(dir, 'team-gateway.status.json'));
}

async function launch(command: string, args: string[], extraEnv: Record<string, string> = {}) {
  expect([command, ...args.slice(0, 2)]).toEqual(['npx', '-y', 'mcp-bridge']);
  const client = new Client({ name: 'desktop', version: '1' });
  try {
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [CLI, ...args.slice(2)],
        env: { ...env, ...extraEnv },
        stderr: 'ignore',
      }),
    );
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('wait');
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'connector-docs-'));
  env = { PATH: process.env.PATH ?? '', MCP_BRIDGE_SECRETS_FILE: join(dir, 'secrets.json') };
  new SecretStore({ env }).set('team-gateway', TOKEN);
  gw = await startGateway(probeStdio, {
    server: { host: '127.0.0.1', port: 0 },
    auth: { required: true, apiKeys: [TOKEN] },
  });
});
afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('docs/connector.md: the desktop client snippets', () => {
  it('has the three clients’ snippets', () => {
    expect(blocks('json')).toHaveLength(2);
    expect(blocks('sh')).toHaveLength(1);
    expect(blocks('yaml')).toHaveLength(1);
  });

  it('Claude Desktop: the entry, with the token kept by store-token', async () => {
    const config = JSON.parse(localize(blocks('json')[0]!)) as {
      mcpServers: Record<string, { command: string; args: string[] }>;
    };
    const entry = config.mcpServers['team-gateway']!;
    await launch(entry.command, entry.args);
  });

  it('Claude Code: the claude mcp add command line', async () => {
    const words = parseShell(localize(blocks('sh')[0]!).trim()) as string[];
    expect(words.slice(0, 4)).toEqual(['claude', 'mcp', 'add', 'team-gateway']);
    const rest = words.slice(words.indexOf('--') + 1);
    const envFlag = words[words.indexOf('--env') + 1]!;
    const [name] = envFlag.split('=');
    await launch(rest[0]!, rest.slice(1), { [name!]: TOKEN });
  });

  it('Cursor: the entry with its config file', async () => {
    writeFileSync(join(dir, 'team.yaml'), localize(blocks('yaml')[0]!));
    const config = JSON.parse(localize(blocks('json')[1]!)) as {
      mcpServers: Record<string, { command: string; args: string[] }>;
    };
    const entry = config.mcpServers['team-gateway']!;
    await launch(entry.command, entry.args);
  });
});
