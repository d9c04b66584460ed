import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startGateway, probeStdio } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/*
 * `mcp-bridge connect setup` with its answers piped in, one a line: it stores the token (the
 * 0600 fallback file here), writes the connector config, and adds the server to a Claude
 * Desktop config that already lists another, keeping that one. Then the entry it wrote is
 * launched exactly as Claude Desktop would (its command and args, through the SDK's stdio
 * client) and reaches a gateway that requires the token.
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const TOKEN = 'wizard-token-3c9e1a77';

let dir: string;
let gw: RunningGateway;
let env: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'connector-setup-'));
  env = {
    PATH: process.env.PATH ?? '',
    MCP_BRIDGE_SECRETS_FILE: join(dir, 'secrets.json'),
    HOME: dir,
  };
  gw = await startGateway(probeStdio, {
    server: { host: '127.0.0.1', port: 0 },
    auth: { required: true, apiKeys: [TOKEN] },
  });
});
afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

function run(
  args: string[],
  input: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: 'pipe', env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('mcp-bridge connect setup', () => {
  it('writes the config and the Claude Desktop entry, and the entry works', async () => {
    const desktopConfig = join(dir, 'claude_desktop_config.json');
    writeFileSync(
      desktopConfig,
      JSON.stringify({ mcpServers: { other: { command: 'other-server' } } }),
    );
    const configPath = join(dir, 'conf', 'team.yaml');
    const answers = [
      'not a url', // refused, asked again
      gw.url.toString(),
      'token',
      'team-gw',
      TOKEN,
      'team',
      configPath,
      'claude-desktop',
      desktopConfig,
    ];
    const { code, stdout, stderr } = await run(['connect', 'setup'], `${answers.join('\n')}\n`);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('not an absolute URL');
    expect(stdout).toContain(`stored "team-gw" in the secrets file ${env.MCP_BRIDGE_SECRETS_FILE}`);
    expect(stdout).not.toContain(TOKEN);
    expect(statSync(configPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(configPath, 'utf8')).not.toContain(TOKEN);

    const check = await run(['connect', 'check-config', configPath], '');
    expect(check.code).toBe(0);

    const written = JSON.parse(readFileSync(desktopConfig, 'utf8')) as {
      mcpServers: Record<string, { command: string; args: string[] }>;
    };
    expect(written.mcpServers.other).toEqual({ command: 'other-server' });
    const entry = written.mcpServers.team!;
    expect(entry.args).toEqual([CLI, 'connect', '--config', configPath]);
    // As Claude Desktop launches it.
    const client = new Client({ name: 'claude-desktop', version: '1' });
    try {
      await client.connect(
        new StdioClientTransport({
          command: entry.command,
          args: entry.args,
          env,
          stderr: 'ignore',
        }),
      );
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('wait');
    } finally {
      await client.close();
    }
  });

  it('prints the Claude Code command, and says so when the answers run out', async () => {
    const done = await run(
      ['connect', 'setup'],
      `${gw.url}\nnone\nlocal\n${join(dir, 'l.yaml')}\nclaude-code\n`,
    );
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(
      /claude mcp add local -- ".*node.*" ".*cli\.js" "connect" "--config" ".*l\.yaml"/,
    );
    const short = await run(['connect', 'setup'], `${gw.url}\n`);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/setup: the answers ended before the questions did/);
  });
});
