import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { EVERYTHING, FIXTURES, isAlive, waitFor, initializeRequest } from '../helpers.js';
import { backendsOf } from '../frontend-helpers.js';

/*
 * The built CLI as a user runs it: a real process, real signals. Needs `npm run build` first
 * (`npm test` does it).
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const DEMO = `${process.execPath} ${EVERYTHING} stdio`;
const STUBBORN = `${process.execPath} ${FIXTURES}probe-server.mjs --stubborn`;

interface Running {
  child: ChildProcess;
  port: number;
  stderr: () => string;
}

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function run(args: string[]): {
  child: ChildProcess;
  output: Promise<{ code: number | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const output = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, output };
}

async function startCli(args: string[]): Promise<Running> {
  const { child } = run(args);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  await waitFor(() => stderr.includes('"gateway listening"'), 10_000, 'the gateway to listen');
  const line = stderr.split('\n').find((l) => l.includes('"gateway listening"'))!;
  return { child, port: (JSON.parse(line) as { port: number }).port, stderr: () => stderr };
}

async function initialize(port: number): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(initializeRequest({ name: 'curl-like', protocolVersion: '2025-06-18' })),
  });
}

/** The backends the CLI under test starts: server-everything, or the probe fixture. */
const cliBackendsOf = (pid: number) => backendsOf(pid, ['server-everything', 'probe-server']);

describe('mcp-bridge CLI', () => {
  it('prints help and version', async () => {
    const help = await run(['--help']).output;
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--stdio <command>');
    const version = await run(['--version']).output;
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each([
    [['--bogus'], 'unknown flag --bogus'],
    [
      ['--stdio', 'x', '--port', 'eighty'],
      '--port: expected an integer from 0 to 65535, got "eighty"',
    ],
    [['--stdio', 'x', '--port', '70000'], '--port: expected an integer from 0 to 65535'],
    [['--port', '8080'], 'nothing to serve'],
    [['--stdio', 'server | tee log'], 'the shell operator "|"'],
    [['--stdio', '   '], 'the command is empty'],
    [['--stdio', 'x', '--log-level', 'loud'], 'log.level'],
  ])('rejects %j with a clear message and exit code 2', async (args, message) => {
    const { code, stderr } = await run(args).output;
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('serves quick mode: initialize returns a session id; SIGTERM ends backends and exits 0', async () => {
    const cli = await startCli(['--stdio', DEMO, '--port', '0']);
    const res = await initialize(cli.port);
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(
      ((await res.json()) as { result: { serverInfo: { name: string } } }).result.serverInfo.name,
    ).toContain('everything');
    const backends = cliBackendsOf(cli.child.pid!);
    expect(backends).toHaveLength(1);

    const exited = new Promise<number | null>((resolve) =>
      cli.child.on('exit', (code) => resolve(code)),
    );
    cli.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of backends) expect(isAlive(pid)).toBe(false);
  });

  it('leaves no orphan when the gateway itself is killed with SIGKILL, even of a server that ignores EOF', async () => {
    const cli = await startCli(['--stdio', STUBBORN, '--port', '0']);
    await (await initialize(cli.port)).text();
    await (await initialize(cli.port)).text();
    const backends = cliBackendsOf(cli.child.pid!);
    expect(backends).toHaveLength(2);
    cli.child.kill('SIGKILL');
    await waitFor(
      () => backends.every((pid) => !isAlive(pid)),
      8000,
      'the orphaned backends to be reaped',
    );
  });

  it('exits 1 with a message when the port is taken', async () => {
    const first = await startCli(['--stdio', DEMO, '--port', '0']);
    const { code, stderr } = await run(['--stdio', DEMO, '--port', String(first.port)]).output;
    expect(code).toBe(1);
    expect(stderr).toContain('the port is in use');
    first.child.kill('SIGTERM');
  });
});
