import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { parse } from 'shell-quote';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers.js';

/*
 * docs/clients.md, run: each block marked `<!-- snippet: … -->` is read from the file and used as
 * its client would use it, against the demo gateway (`npm start`'s command on a free port, which
 * stands in for the page's 127.0.0.1:8080). A JSON config's servers are started (command and
 * args) or connected to (url) with the SDK's client; `claude mcp add` lines likewise; the MCP
 * Inspector's command lines are run as written, with npx, and their JSON output read; the SDK
 * example is run with node. `mcp-bridge` is on the PATH as `npm link` would put it.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs/clients.md'), 'utf8');
const run = promisify(execFile);

interface Snippet {
  kind: string;
  section: string;
  text: string;
}

function snippets(): Snippet[] {
  const found: Snippet[] = [];
  let section = '';
  const lines = DOC.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.+)/.exec(lines[i]!);
    if (heading) section = heading[1]!;
    const marker = /^<!-- snippet: (\w+) -->$/.exec(lines[i]!);
    if (!marker) continue;
    const start = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    const end = lines.findIndex((l, j) => j > start && l === '```');
    found.push({ kind: marker[1]!, section, text: lines.slice(start + 1, end).join('\n') });
  }
  return found;
}

let gateway: ChildProcess;
let port: number;
let home: string;
let env: NodeJS.ProcessEnv;
const here = (text: string) => text.replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`);

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mcp-bridge-clients-'));
  const bin = join(home, 'bin');
  mkdirSync(bin);
  symlinkSync(join(ROOT, 'dist/cli.js'), join(bin, 'mcp-bridge'));
  // What a person's shell has after `npm link`, with the demo's server installed.
  env = {
    ...process.env,
    HOME: home,
    PATH: [bin, join(ROOT, 'node_modules/.bin'), process.env.PATH].join(delimiter),
  };
  gateway = spawn(
    process.execPath,
    [
      join(ROOT, 'dist/cli.js'),
      '--stdio',
      'mcp-server-everything stdio',
      '--port',
      '0',
      '--admin-port',
      'off',
    ],
    { env, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  gateway.stdout!.on('data', (d: Buffer) => (out += d));
  await waitFor(() => /127\.0\.0\.1:\d+\/mcp/.test(out), 20_000, 'the demo gateway');
  port = Number(/127\.0\.0\.1:(\d+)\/mcp/.exec(out)![1]);
});

afterAll(async () => {
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise((resolve) => gateway.once('exit', resolve));
    gateway.kill('SIGTERM');
    await exited;
  }
  if (home) rmSync(home, { recursive: true, force: true });
});

/** Connects the SDK's client, lists the tools and calls echo: what every snippet must allow. */
async function exercise(transport: Transport): Promise<void> {
  const client = new Client({ name: 'clients-doc-test', version: '1.0.0' });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('echo');
    const result = (await client.callTool({ name: 'echo', arguments: { message: 'hi' } })) as {
      content: Array<{ text: string }>;
    };
    expect(result.content[0]!.text).toBe('Echo: hi');
  } finally {
    await client.close();
  }
}

const stdio = (command: string, args: string[]) =>
  new StdioClientTransport({
    command,
    args,
    env: env as Record<string, string>,
    stderr: 'ignore',
  });

const all = snippets();

describe('docs/clients.md', () => {
  it('has a snippet for every client it names', () => {
    const sections = new Set(all.map((s) => s.section));
    for (const client of [
      'Claude Desktop',
      'Claude Code',
      'Cursor',
      'VS Code',
      'The MCP Inspector',
      'The SDK',
    ])
      expect(sections).toContain(client);
  });

  const configs = all.filter((s) => s.kind === 'json');
  it.each(configs.map((s, i) => [`${s.section} #${i + 1}`, s] as const))(
    '%s: each server of the config lists and calls tools',
    async (_, snippet) => {
      const config = JSON.parse(here(snippet.text)) as Record<
        string,
        Record<string, { url?: string; type?: string; command?: string; args?: string[] }>
      >;
      const servers = Object.values(config.mcpServers ?? config.servers ?? {});
      expect(servers.length).toBeGreaterThan(0);
      for (const server of servers) {
        if (server.url !== undefined)
          await exercise(new StreamableHTTPClientTransport(new URL(server.url)));
        else await exercise(stdio(server.command!, server.args ?? []));
      }
    },
    60_000,
  );

  const shellLines = all
    .filter((s) => s.kind === 'shell')
    .flatMap((s) => s.text.split('\n').map((line) => [s.section, line] as const));

  it.each(shellLines.filter(([, l]) => l.startsWith('claude mcp add')))(
    '%s: %s',
    async (_, line) => {
      const words = parse(here(line)) as string[];
      const dashes = words.indexOf('--');
      if (dashes >= 0) {
        const [command, ...args] = words.slice(dashes + 1);
        await exercise(stdio(command!, args));
        return;
      }
      const transport = words[words.indexOf('--transport') + 1];
      const url = new URL(words.at(-1)!);
      await exercise(
        transport === 'sse' ? new SSEClientTransport(url) : new StreamableHTTPClientTransport(url),
      );
    },
    60_000,
  );

  it.each(shellLines.filter(([, l]) => l.startsWith('npx @modelcontextprotocol/inspector --cli')))(
    '%s: %s',
    async (_, line) => {
      const [command, ...args] = parse(here(line)) as string[];
      const { stdout } = await run(command!, args, { env, cwd: ROOT, maxBuffer: 8 << 20 });
      const answer = JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
        tools?: Array<{ name: string }>;
        content?: Array<{ text: string }>;
      };
      if (args.includes('tools/call')) expect(answer.content![0]!.text).toBe('Echo: hello');
      else expect(answer.tools!.map((t) => t.name)).toContain('echo');
    },
    60_000,
  );

  it('The SDK: the example runs as written and prints the tools and the echo', async () => {
    const [snippet] = all.filter((s) => s.kind === 'sdk');
    // Inside the package, so that its imports resolve from node_modules as in an app.
    const dir = join(ROOT, 'test-artifacts');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'clients-sdk-example.mjs');
    writeFileSync(file, here(snippet!.text));
    const { stdout } = await run(process.execPath, [file], { env, cwd: ROOT });
    const [names, echo] = stdout.trim().split('\n');
    expect(names!.split(' ')).toContain('echo');
    expect(echo).toBe('Echo: hello');
  }, 60_000);
});
