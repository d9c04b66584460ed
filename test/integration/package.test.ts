import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVERYTHING, initializeRequest } from '../helpers.js';

/*
 * The ways a person gets the `mcp-bridge` command, as the README gives them: `npm pack` and the
 * tarball installed into another project (then `npx mcp-bridge`), `npm install -g .` and
 * `npm link` (into a prefix of the test's own, not the machine's), and `npx mcp-bridge` in the
 * clone. The tarball's dependencies come from npm's cache when it has them (`--prefer-offline`),
 * from the registry otherwise. Scripts are not run: `npm test` has just built dist/, and a
 * `prepare` here would rebuild it under the other tests' feet. That includes `npx`, which on a
 * machine whose npx cache lacks the clone installs it there and runs its `prepare` in the clone
 * (in CI, a test that started while that build was rewriting dist/ failed to load the CLI).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const npm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) =>
  run('npm', [...args, '--no-audit', '--no-fund', '--ignore-scripts'], {
    cwd,
    env: { ...process.env, ...env },
    maxBuffer: 16 * 1024 * 1024,
  });

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'mcp-bridge-package-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** One stdio session through `command`: initialize, then a call of the echo tool; its replies. */
function oneCall(
  command: string,
  args: string[],
  cwd: string,
  message: string,
): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (/"id":2,"result"|"result":.*"id":2\}/.test(stdout)) child.stdin.end();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`exit ${code}: ${stderr}`));
      else
        resolve(
          stdout
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { id?: unknown; method?: string })
            // The replies (the server sends notifications of its own between them).
            .filter((m) => m.id !== undefined && m.method === undefined),
        );
    });
    const send = (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`);
    send(initializeRequest({ name: 'package-test' }));
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'echo', arguments: { message } },
    });
  });
}

const DEMO = `${process.execPath} ${EVERYTHING} stdio`;

describe('the mcp-bridge command', () => {
  it('from the packed tarball, installed into another project: npx mcp-bridge', async () => {
    const packed = join(work, 'packed');
    const project = join(work, 'project');
    for (const dir of [packed, project]) mkdirSync(dir);
    await npm(['pack', '--pack-destination', packed], ROOT);
    const [tarball] = readdirSync(packed).filter((f) => f.endsWith('.tgz'));
    expect(tarball).toMatch(/^mcp-bridge-\d+\.\d+\.\d+\.tgz$/);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'uses-mcp-bridge', version: '1.0.0', private: true }),
    );
    await npm(['install', '--prefer-offline', join(packed, tarball!)], project);

    const help = await run('npx', ['mcp-bridge', '--help'], { cwd: project });
    expect(help.stdout).toContain('Usage:');
    expect(help.stdout).toContain('--admin-port');

    const replies = await oneCall(
      'npx',
      ['mcp-bridge', '--stdio', DEMO, '--serve', 'stdio'],
      project,
      'from the tarball',
    );
    expect(replies).toEqual([
      expect.objectContaining({
        id: 1,
        result: expect.objectContaining({ serverInfo: expect.anything() }),
      }),
      {
        jsonrpc: '2.0',
        id: 2,
        result: { content: [{ type: 'text', text: 'Echo: from the tarball' }] },
      },
    ]);
    // The dashboard's chart library is a dependency, found from the installed package.
    expect(readdirSync(join(project, 'node_modules'))).toContain('uplot');
  }, 240_000);

  it.each([
    ['npm install -g .', ['install', '-g', '.']],
    ['npm link', ['link']],
  ])(
    'from the clone with %s: mcp-bridge on the PATH',
    async (_, args) => {
      const prefix = join(work, `prefix-${args[0]}`);
      await npm([...args], ROOT, { npm_config_prefix: prefix });
      const bin = join(prefix, 'bin', 'mcp-bridge');
      const version = await run(bin, ['--version']);
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
      const replies = await oneCall(
        bin,
        ['--stdio', DEMO, '--serve', 'stdio'],
        work,
        'on the PATH',
      );
      expect(replies[1]).toMatchObject({
        id: 2,
        result: { content: [{ text: 'Echo: on the PATH' }] },
      });
    },
    120_000,
  );

  it('in the clone: npx mcp-bridge', async () => {
    const help = await run('npx', ['--ignore-scripts', 'mcp-bridge', '--version'], { cwd: ROOT });
    expect(help.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  }, 60_000);
});
