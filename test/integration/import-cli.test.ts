import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, runCliIn } from '../frontend-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/schema.js';
import { FIXTURES, initializeRequest, waitFor } from '../helpers.js';

/*
 * `mcp-bridge import <file>` as a user of each seed runs it on the example of that seed's README
 * (the built CLI; `npm run build` first): our config on stdout, each key not carried on stderr.
 */

const SEEDS = join(FIXTURES, 'seeds');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-import-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[], env: Record<string, string> = {}) => runCliIn(dir, args, env);

describe.each([
  { file: '001-services.yaml', format: 'seed 001', backends: 2, dropped: 'auth.strategy' },
  { file: '002-router.yaml', format: 'seed 004', backends: 2, dropped: 'gateway.auth' },
  { file: '003-gateway.yaml', format: 'seed 003', backends: 5, dropped: 'service_discovery' },
  { file: '004-mcp-router.yaml', format: 'seed 004', backends: 2, dropped: 'direct_clients' },
])('import $file', ({ file, format, backends, dropped }) => {
  it('prints a config our schema accepts, and on stderr what it did not carry', async () => {
    const { code, stdout, stderr } = await cli(['import', join(SEEDS, file)]);
    expect(code).toBe(0);
    const doc = parse(stdout) as { auth?: { jwt?: Record<string, unknown> } };
    // A JWT section without a secret leaves it to the environment (BRIDGE_JWT_SECRET or the
    // seed's variables), which is what gives it here.
    if (doc.auth?.jwt && doc.auth.jwt.secret === undefined)
      doc.auth.jwt.secret = 'a-secret-of-at-least-16';
    const config = parseConfig(doc);
    expect(Object.keys(config.backends)).toHaveLength(backends);
    expect(stderr).toContain(format);
    expect(stderr).toMatch(new RegExp(`not carried: \\S*${dropped.replace('.', '\\.')}: `));
    expect(stdout).not.toContain('not carried');
  });

  it('saved to a file, passes check-config as a file of ours', async () => {
    const { stdout } = await cli(['import', join(SEEDS, file)]);
    const saved = join(dir, `converted-${file}`);
    writeFileSync(saved, stdout);
    // What the converted files read from the environment (the JWT secret, ${MCP_AUTH_TOKEN}).
    const env = { JWT_SECRET_KEY: 'a-secret-of-at-least-16', MCP_AUTH_TOKEN: 'token' };
    const check = await cli(['check-config', saved], env);
    expect(check.stdout).toMatch(/: ok \(/);
    expect(check.code).toBe(0);
    expect(check.stderr).not.toContain('converted on the fly');
    // The only line may be the alias note for JWT_SECRET_KEY (seed 003's name for our secret).
    for (const line of check.stderr.split('\n').filter((l) => l !== ''))
      expect(line).toMatch(
        /^mcp-bridge: JWT_SECRET_KEY \(seed 002-003\) is read as BRIDGE_JWT_SECRET/,
      );
  });
});

describe('import refusals', () => {
  it('a file of no known shape: exit 1, the shapes it knows', async () => {
    const file = join(dir, 'other.yaml');
    writeFileSync(file, 'name: something else\n');
    const { code, stdout, stderr } = await cli(['import', file]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(
      /not a config of a known seed system: expected seed 001's services\.yaml/,
    );
  });

  it('a missing file: exit 1, named', async () => {
    const { code, stderr } = await cli(['import', 'nowhere.yaml']);
    expect(code).toBe(1);
    expect(stderr).toBe('mcp-bridge: import: nowhere.yaml: file not found\n');
  });

  it('a flag: exit 2, not ignored', async () => {
    const { code, stderr } = await cli(['import', join(SEEDS, '001-services.yaml'), '--port', '1']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/import: takes the file only, no flags/);
  });

  it('no file: exit 2', async () => {
    const { code, stderr } = await cli(['import']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/give the file to convert/);
  });
});

describe('--config with a seed file', () => {
  it('check-config converts it on the fly and warns', async () => {
    const { code, stdout, stderr } = await cli(['check-config', join(SEEDS, '001-services.yaml')]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/ok \(2 backends: fin-assistant-mcp, local-stdio-server\)/);
    expect(stderr).toMatch(/a seed 001 service registry .*converted on the fly/);
  });
});

describe('--config with a seed file, started', () => {
  it('serves the converted backends and logs one warning', async () => {
    const file = join(dir, 'services.yaml');
    writeFileSync(
      file,
      [
        'services:',
        '  probe:',
        '    name: "Probe"',
        '    transport: stdio',
        `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(join(FIXTURES, 'probe-server.mjs'))}]`,
        '    timeout: 30',
        '',
      ].join('\n'),
    );
    let stderr = '';
    const child: ChildProcess = spawn(
      process.execPath,
      [CLI, '--config', file, '--port', '0', '--admin-port', 'off', '--log-format', 'json'],
      { cwd: dir, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    try {
      await waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`the gateway exited: ${stderr}`);
          return stderr.includes('"gateway listening"');
        },
        15_000,
        'the gateway to listen',
      );
      const records = stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; msg: string; port?: number });
      const warnings = records.filter((r) => r.msg.includes('converted on the fly'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.level).toBe(40);
      expect(warnings[0]!.msg).toMatch(
        /a seed 001 service registry .*1 key not carried.*mcp-bridge import/,
      );
      const port = records.find((r) => r.msg === 'gateway listening')!.port!;
      const res = await fetch(`http://127.0.0.1:${port}/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify(
          initializeRequest({ name: 'import-cli-test', protocolVersion: '2025-06-18' }),
        ),
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('"serverInfo"');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
