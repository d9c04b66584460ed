import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EVERYTHING, waitFor } from '../helpers.js';

/*
 * Every command in the README's shell blocks, run as written through `sh -c`, with `mcp-bridge`
 * on the PATH as `npm link` puts it. What cannot be reached from here is replaced, and only that:
 * the example hosts (gateway.internal, mcp.example.com, gateway.example.com) by a gateway of the
 * test's own on 127.0.0.1 (http:// for https://), port 8080 by a free one, /tmp/gw.json by a temp
 * file. The commands of `npm install`, `npm start` and `npm test` run in .ci/run; those that
 * install the command run in package.test.ts. A README command that no test runs fails here.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
const run = promisify(execFile);

/** The README's shell commands, continuation lines joined, comments and `# →` lines dropped. */
function readmeCommands(): string[] {
  const commands: string[] = [];
  for (const block of README.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    const joined = block[1]!.replace(/\\\n\s*/g, '');
    for (const line of joined.split('\n')) {
      const command = line.replace(/\s+#\s.*$/, '').trim();
      if (command && !command.startsWith('#')) commands.push(command);
    }
  }
  return commands;
}

/** Run elsewhere, and where. */
const ELSEWHERE: Record<string, string> = {
  'npm install && npm start': '.ci/run',
  'npm test': '.ci/run',
  'npx mcp-bridge --help': 'package.test.ts',
  'npm install -g .': 'package.test.ts',
  'npm pack': 'package.test.ts',
  [`npm install ./mcp-bridge-${VERSION}.tgz`]: 'package.test.ts',
};

let work: string;
let env: NodeJS.ProcessEnv;
let remote: ChildProcess;
let remotePort: number;
let remoteTcp: number;
const started: ChildProcess[] = [];

/** The command as this machine can run it. */
function here(command: string): string {
  return command
    .replaceAll('ws://gateway.internal:8081', `ws://127.0.0.1:${remotePort}`)
    .replaceAll('tcp://gateway.internal:8444', `tcp://127.0.0.1:${remoteTcp}`)
    .replaceAll('https://mcp.example.com', `http://127.0.0.1:${remotePort}`)
    .replaceAll('https://gateway.example.com', `http://127.0.0.1:${remotePort}`)
    .replaceAll('127.0.0.1:8080', `127.0.0.1:${remotePort}`)
    .replaceAll('--port 8080', '--port 0')
    .replaceAll('/tmp/gw.json', join(work, 'gw.json'));
}

/** Starts an HTTP-serving command; resolves with its Streamable HTTP URL, from the banner. */
async function serving(command: string, cwd = work): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn('sh', ['-c', `exec ${here(command)}`], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (err += d));
  await waitFor(
    () => /MCP \(Streamable HTTP\)\s+\S+/.test(out) || child.exitCode !== null,
    30_000,
    `the banner of ${command}`,
  );
  if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode}: ${err}`);
  return { url: /MCP \(Streamable HTTP\)\s+(\S+)/.exec(out)![1]!, child };
}

/** Connects the SDK's client, lists the tools and calls echo. */
async function exercise(transport: Transport, tool = 'echo'): Promise<void> {
  const client = new Client({ name: 'readme-test', version: '1.0.0' });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain(tool);
    const result = (await client.callTool({ name: tool, arguments: { message: 'hi' } })) as {
      content: Array<{ text: string }>;
    };
    expect(result.content[0]!.text).toBe('Echo: hi');
  } finally {
    await client.close();
  }
}

/** A stdio command, as a desktop client starts it. */
const asStdio = (command: string) =>
  new StdioClientTransport({
    command: 'sh',
    args: ['-c', `exec ${here(command)}`],
    env: env as Record<string, string>,
    cwd: work,
    stderr: 'ignore',
  });

/** How each README command is run, by its text. */
const RUN: Record<string, () => Promise<void>> = {
  'curl -si http://127.0.0.1:8080/mcp -H \'content-type: application/json\' -H \'accept: application/json, text/event-stream\' -d \'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}\'':
    async () => {
      const curl = readmeCommands().find((c) => c.startsWith('curl '))!;
      const { stdout } = await run('sh', ['-c', here(curl)], { env });
      expect(stdout).toMatch(/^HTTP\/1\.1 200/);
      expect(stdout.toLowerCase()).toMatch(/mcp-session-id: [0-9a-f-]{36}/);
    },
  'mcp-bridge --stdio "npx -y @modelcontextprotocol/server-everything" --port 8080': async () => {
    // In the clone, where npx finds the dev dependency.
    const { url } = await serving(
      'mcp-bridge --stdio "npx -y @modelcontextprotocol/server-everything" --port 8080',
      ROOT,
    );
    await exercise(new StreamableHTTPClientTransport(new URL(url)));
  },
  'mcp-bridge --url ws://gateway.internal:8081/ws --port 8080': async () => {
    const { url } = await serving('mcp-bridge --url ws://gateway.internal:8081/ws --port 8080');
    await exercise(new StreamableHTTPClientTransport(new URL(url)));
  },
  'mcp-bridge --url https://mcp.example.com/mcp --serve stdio': () =>
    exercise(asStdio('mcp-bridge --url https://mcp.example.com/mcp --serve stdio')),
  'mcp-bridge --help': async () => {
    const { stdout } = await run('sh', ['-c', 'mcp-bridge --help'], { env });
    expect(stdout).toContain('Usage:');
  },
  'mcp-bridge connect https://gateway.example.com/mcp --bearer-token-env TEAM_TOKEN --status-file /tmp/gw.json':
    async () => {
      await exercise(
        asStdio(
          'mcp-bridge connect https://gateway.example.com/mcp --bearer-token-env TEAM_TOKEN --status-file /tmp/gw.json',
        ),
      );
      const status = JSON.parse(readFileSync(join(work, 'gw.json'), 'utf8')) as object;
      expect(status).toBeTypeOf('object');
    },
  'mcp-bridge connect tcp://gateway.internal:8444': () =>
    exercise(asStdio('mcp-bridge connect tcp://gateway.internal:8444')),
  'claude mcp add team -- mcp-bridge connect https://gateway.example.com/mcp': () =>
    // What Claude Code runs: the command after `--`.
    exercise(asStdio('mcp-bridge connect https://gateway.example.com/mcp')),
  'mcp-bridge --config bridge.yaml': async () => {
    const dir = bridgeYaml();
    const { url } = await serving('mcp-bridge --config bridge.yaml', dir);
    // The remote backend, reached through the gateway the file configures.
    await exercise(
      new StreamableHTTPClientTransport(new URL(url.replace('/mcp', '/servers/remote/mcp'))),
    );
  },
  'mcp-bridge check-config bridge.yaml': async () => {
    const dir = bridgeYaml();
    const { stdout } = await run('sh', ['-c', 'mcp-bridge check-config bridge.yaml'], {
      env,
      cwd: dir,
    });
    expect(stdout.trim()).toBe('bridge.yaml: ok (3 backends: everything, memory, remote)');
  },
  'mcp-bridge import config/services.yaml': async () => {
    // Seed 001's own example (docs/migrating.md), where that seed keeps it.
    mkdirSync(join(work, 'config'), { recursive: true });
    copyFileSync(
      join(ROOT, 'test', 'fixtures', 'seeds', '001-services.yaml'),
      join(work, 'config', 'services.yaml'),
    );
    const { stdout } = await run('sh', ['-c', 'mcp-bridge import config/services.yaml'], {
      env,
      cwd: work,
    });
    expect(stdout).toMatch(/^backends:\n {2}fin-assistant-mcp:\n/m);
  },
  'mcp-bridge schema > mcp-bridge.schema.json': async () => {
    await run('sh', ['-c', 'mcp-bridge schema > mcp-bridge.schema.json'], { env, cwd: work });
    const schema = JSON.parse(readFileSync(join(work, 'mcp-bridge.schema.json'), 'utf8')) as {
      properties: object;
    };
    expect(Object.keys(schema.properties)).toContain('backends');
  },
};

/**
 * The README's bridge.yaml, in a folder inside the clone (its `npx -y` servers are the dev
 * dependencies found from there); port 8080 and the example host replaced.
 */
function bridgeYaml(): string {
  const yaml = /^```yaml\n([\s\S]*?)^```$/m.exec(README)![1]!;
  const dir = join(ROOT, 'test-artifacts', 'readme');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'bridge.yaml'), here(yaml).replace('port: 8080', 'port: 0'));
  return dir;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mcp-bridge-readme-'));
  const bin = join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(join(ROOT, 'dist/cli.js'), join(bin, 'mcp-bridge'));
  env = {
    ...process.env,
    PATH: [bin, process.env.PATH].join(delimiter),
    TEAM_TOKEN: 'a-team-token',
    REMOTE_TOKEN: 'a-remote-token',
    BRIDGE_ENABLE_METRICS: 'false',
  };
  // The remote that stands in for the README's example hosts.
  remote = spawn(
    process.execPath,
    [
      join(ROOT, 'dist/cli.js'),
      '--stdio',
      `${process.execPath} ${EVERYTHING} stdio`,
      '--port',
      '0',
      '--tcp-port',
      '0',
    ],
    { env, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  remote.stdout!.on('data', (d: Buffer) => (out += d));
  await waitFor(() => out.includes('Try it:'), 20_000, 'the remote gateway');
  remotePort = Number(/127\.0\.0\.1:(\d+)\/mcp/.exec(out)![1]);
  remoteTcp = Number(/tcp:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
});

afterEach(async () => {
  await Promise.all(
    started.splice(0).map(async (child) => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }),
  );
});

afterAll(async () => {
  if (remote && remote.exitCode === null) {
    const exited = new Promise((resolve) => remote.once('exit', resolve));
    remote.kill('SIGTERM');
    await exited;
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the README', () => {
  it('has no command that no test runs, and the tests run none it lost', () => {
    const commands = readmeCommands();
    const untested = commands.filter((c) => !(c in RUN) && !(c in ELSEWHERE));
    expect(untested).toEqual([]);
    const stale = [...Object.keys(RUN), ...Object.keys(ELSEWHERE)].filter(
      (c) => !commands.includes(c),
    );
    expect(stale).toEqual([]);
  });

  it.each(Object.keys(RUN))('%s', (command) => RUN[command]!(), 60_000);
});
