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
import { version } from '../../src/version.js';

/*
 * The connector's config file and its commands, as processes: check-config and schema, store-token
 * from stdin into the 0600 fallback file (this machine has no OS keychain), `connect --config`
 * with that stored token reaching a gateway that requires it, and `connect --status` reading the
 * status file the running connector keeps.
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const TOKEN = 'stored-token-5d2e8b1c';

let dir: string;
let gw: RunningGateway;
let env: Record<string, string>;

function run(
  args: string[],
  input = '',
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: 'pipe', env });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.once('exit', (code) => resolve({ code, stderr, stdout }));
    child.stdin.end(input);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'connector-config-cli-'));
  env = {
    PATH: process.env.PATH ?? '',
    MCP_BRIDGE_SECRETS_FILE: join(dir, 'keys', 'secrets.json'),
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

describe('connect check-config, schema, version', () => {
  it('passes a good file with a one-line summary, exit 0', async () => {
    const path = join(dir, 'good.yaml');
    writeFileSync(path, 'remote:\n  url: https://gw.example/mcp\nmetrics: { enabled: true }\n');
    const { code, stdout } = await run(['connect', 'check-config', path]);
    expect(code).toBe(0);
    expect(stdout).toBe(
      `${path}: OK: https://gw.example/mcp over the transport its scheme takes, auth none, metrics on 127.0.0.1:9091\n`,
    );
  });

  it('lists every problem of a bad file with its path, exit 1', async () => {
    const path = join(dir, 'bad.json');
    writeFileSync(
      path,
      JSON.stringify({
        remote: { url: 'tcp://gw:8444', transport: 'sse' },
        queue: { size: 'many' },
      }),
    );
    const { code, stderr } = await run(['connect', 'check-config', path]);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      `${path}: remote.transport: sse cannot reach a tcp:// URL (it takes tcp)`,
      `${path}: queue.size: Invalid input: expected number, received string`,
    ]);
  });

  it('prints the JSON Schema and the version', async () => {
    const schema = await run(['connect', 'schema']);
    expect(schema.code).toBe(0);
    expect(JSON.parse(schema.stdout)).toMatchObject({
      title: 'mcp-bridge connector configuration',
    });
    const shown = await run(['connect', 'version']);
    expect(shown.stdout).toBe(`mcp-bridge ${version} (connector)\n`);
  });
});

describe('store-token, connect --config and connect --status', () => {
  it('stores a token from stdin in a 0600 file and never prints it', async () => {
    const stored = await run(['connect', 'store-token', '--key', 'team-gw'], `${TOKEN}\n`);
    expect(stored.code).toBe(0);
    expect(stored.stdout).toBe(
      `stored "team-gw" in the secrets file ${env.MCP_BRIDGE_SECRETS_FILE} (mode 0600; no OS keychain is available here)\n`,
    );
    expect(stored.stdout + stored.stderr).not.toContain(TOKEN);
    expect(statSync(env.MCP_BRIDGE_SECRETS_FILE!).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(env.MCP_BRIDGE_SECRETS_FILE!, 'utf8'))).toEqual({
      'team-gw': TOKEN,
    });
    const misuse = await run(['connect', 'store-token', '--key', '../etc'], 'x\n');
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toMatch(/--key: expected a name of letters/);
  });

  it('runs from the file with the stored token, and --status shows the link', async () => {
    const statusFile = join(dir, 'link.status.json');
    const config = join(dir, 'connector.yaml');
    writeFileSync(
      config,
      [
        'remote:',
        `  url: ${gw.url}`,
        '  auth: { type: bearer, token: { key: team-gw } }',
        `statusFile: ${statusFile}`,
        'logLevel: trace',
      ].join('\n'),
    );
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'connect', '--config', config],
      env,
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr!.on('data', (d: Buffer) => (stderr += d));
    const client = new Client({ name: 'desktop', version: '1' });
    try {
      await client.connect(transport);
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('wait');
      const up = await run(['connect', '--status', '--config', config]);
      expect(up.code).toBe(0);
      expect(up.stdout).toMatch(/^state: +connected$/m);
      expect(up.stdout).toContain(`remote:      ${gw.url} (streamable-http)`);
      const json = await run(['connect', '--status', '--status-file', statusFile, '--json']);
      expect(JSON.parse(json.stdout)).toMatchObject({
        state: 'connected',
        running: true,
        queueDepth: 0,
      });
    } finally {
      await client.close();
    }
    expect(stderr).toContain(`a bearer token from \\"team-gw\\" in the secrets file`);
    expect(stderr).not.toContain(TOKEN);
    const down = await run(['connect', '--status', '--status-file', statusFile]);
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^state: +closed$/m);
    const none = await run(['connect', '--status', '--status-file', join(dir, 'absent.json')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no status file/);
    const unnamed = await run(['connect', '--status']);
    expect(unnamed.code).toBe(2);
  });
});
