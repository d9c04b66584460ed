import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { EVERYTHING, initializeRequest, waitFor } from '../helpers.js';

/*
 * What a person sees from the built CLI: the message for a mistyped flag, a taken port, a taken
 * admin port, a key too short; readable logs on a terminal; the URLs it serves. Real processes,
 * real ports (taken by a listener of the test's own).
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const DEMO = `${process.execPath} ${EVERYTHING} stdio`;

const started: ChildProcess[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const child of started.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<number | null>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

/** A port this test holds, so that the CLI finds it taken. */
async function takenPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** The `Streamable HTTP` URL of the banner on stdout, once the gateway serves. */
async function servedUrl(cli: Run): Promise<string> {
  await waitFor(() => /MCP \(Streamable HTTP\)/.test(cli.stdout()), 15_000, 'the banner');
  return /MCP \(Streamable HTTP\)\s+(\S+)/.exec(cli.stdout())![1]!;
}

const lastLine = (text: string) => text.trimEnd().split('\n').pop()!;

describe('a mistyped flag', () => {
  it.each([
    [['--prot', '8080'], 'unknown flag --prot; did you mean --port?'],
    [['--stdoi', 'x'], 'unknown flag --stdoi; did you mean --stdio?'],
    [['--admin-prot', '9000'], 'unknown flag --admin-prot; did you mean --admin-port?'],
    [['--log-levle', 'debug'], 'unknown flag --log-levle; did you mean --log-level?'],
    [['-p', '8080'], 'unknown flag -p; did you mean --port?'],
    [['--frobnicate'], 'unknown flag --frobnicate'],
    [['--stdio'], '--stdio: give a value (--stdio <value>)'],
    [['token', 'create', '--subject', 'x'], 'token: unknown flag --subject; did you mean --sub?'],
    [['--stdio', 'x', '--log-format', 'loud'], '--log-format: expected pretty, json or auto'],
    [['--stdio', 'x', '--admin-port', 'ninety'], '--admin-port: expected an integer'],
    [
      ['--url', 'http://h/mcp', '--serve', 'stdio', '--admin-port', '0'],
      '--admin-port: does not apply to the connector (--url with --serve stdio)',
    ],
  ])('%j: says what is wrong and what was meant, exit 2', async (args, message) => {
    const cli = run(args);
    expect(await cli.done).toBe(2);
    expect(cli.stderr()).toContain(`mcp-bridge: ${message}`);
    expect(cli.stderr()).not.toContain('To specify a positional argument');
    expect(cli.stderr()).not.toMatch(/\n\s+at /);
  });

  it('names nothing when no flag is close', async () => {
    const cli = run(['--frobnicate']);
    await cli.done;
    expect(cli.stderr()).not.toContain('did you mean');
  });
});

describe('a listener that cannot start', () => {
  it('the gateway port in use: one line that says so and what to do, exit 1', async () => {
    const port = await takenPort();
    const cli = run(['--stdio', DEMO, '--port', String(port), '--admin-port', 'off']);
    expect(await cli.done).toBe(1);
    expect(lastLine(cli.stderr())).toBe(
      `mcp-bridge: the gateway cannot listen on 127.0.0.1:${port}: the port is in use (by another mcp-bridge or another program); stop that, or choose another with --port <n> (0 picks a free port)`,
    );
    expect(cli.stderr()).not.toMatch(/\n\s+at |"stack"|"err"/);
  });

  it('the TCP port in use names --tcp-port', async () => {
    const port = await takenPort();
    const cli = run(['--stdio', DEMO, '--port', '0', '--tcp-port', String(port)]);
    expect(await cli.done).toBe(1);
    expect(lastLine(cli.stderr())).toContain(
      `mcp-bridge: the TCP listener cannot listen on 127.0.0.1:${port}: the port is in use`,
    );
    expect(lastLine(cli.stderr())).toContain('--tcp-port <n>');
  });

  it('the admin port given with --admin-port and taken: one line, exit 1', async () => {
    const port = await takenPort();
    const cli = run(['--stdio', DEMO, '--port', '0', '--admin-port', String(port)]);
    // Code and line in one assertion, so that a wrong code shows what the process printed.
    expect({ code: await cli.done, line: lastLine(cli.stderr()) }).toEqual({
      code: 1,
      line: `mcp-bridge: the admin listener (dashboard, /metrics) cannot listen on 127.0.0.1:${port}: the port is in use (by another mcp-bridge or another program); stop that, or choose another with --admin-port <n> (0 picks a free port)`,
    });
    expect(cli.stderr()).not.toMatch(/\n\s+at |"stack"/);
  });

  it('the default admin port taken: a warning that says so, and MCP is served without it', async () => {
    const port = await takenPort();
    const cli = run(['--stdio', DEMO, '--port', '0'], { BRIDGE_METRICS_PORT: String(port) });
    const url = await servedUrl(cli);
    await waitFor(() => cli.stderr().includes('admin listener'), 5000, 'the warning');
    const warning = cli
      .stderr()
      .split('\n')
      .find((l) => l.includes('admin listener'));
    expect(JSON.parse(warning!)).toMatchObject({
      level: 40,
      code: 'EADDRINUSE',
      msg: expect.stringContaining(
        `cannot listen on 127.0.0.1:${port}: the port is in use (by another mcp-bridge or another program)`,
      ),
    });
    expect(cli.stdout()).not.toContain('dashboard');
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify(initializeRequest({ name: 'cli-test' })),
    });
    expect(res.status).toBe(200);
    await res.text();
    cli.child.kill('SIGTERM');
    expect(await cli.done).toBe(0);
  });

  // Seed 000's own example (BRIDGE_API_KEYS=key1,key2,key3) was refused without saying how to do better.
  it('an API key too short: the variable, the rule, and how to make a key', async () => {
    const cli = run(['--stdio', DEMO], { BRIDGE_API_KEYS: 'key1,key2,key3' });
    expect(await cli.done).toBe(1);
    expect(cli.stderr().trimEnd().split('\n')).toEqual(
      [0, 1, 2].map(
        (i) =>
          `mcp-bridge: BRIDGE_API_KEYS: auth.apiKeys[${i}]: expected an API key of at least 8 characters; make one with "openssl rand -hex 32" (or use JWTs: "mcp-bridge token create")`,
      ),
    );
    // The command it names makes a key the gateway takes.
    const key = execFileSync('openssl', ['rand', '-hex', '32'], { encoding: 'utf8' }).trim();
    const check = run(['--stdio', DEMO, '--port', '0', '--admin-port', 'off'], {
      BRIDGE_API_KEYS: key,
      BRIDGE_REQUIRE_AUTH: 'true',
    });
    const url = await servedUrl(check);
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${key}`,
      },
      body: JSON.stringify(initializeRequest({ name: 'cli-test' })),
    });
    expect(res.status).toBe(200);
    await res.text();
  });
});

describe('the admin listener with --serve stdio', () => {
  async function oneStdioSession(args: string[], env: NodeJS.ProcessEnv = {}) {
    const cli = run(['--stdio', DEMO, '--serve', 'stdio', ...args], env);
    cli.child.stdin!.write(`${JSON.stringify(initializeRequest({ name: 'cli-test' }))}\n`);
    await waitFor(() => cli.stdout().includes('"serverInfo"'), 15_000, 'the initialize reply');
    cli.child.stdin!.end();
    expect(await cli.done).toBe(0);
    return cli.stderr();
  }

  // A second desktop-client instance logged port-in-use errors for a dashboard nobody asked for.
  it('is off by default: two at once, and neither tries a port', async () => {
    const port = await takenPort();
    const [a, b] = await Promise.all([
      oneStdioSession([], { BRIDGE_METRICS_PORT: String(port) }),
      oneStdioSession([], { BRIDGE_METRICS_PORT: String(port) }),
    ]);
    expect(a).not.toContain('admin listener');
    expect(b).not.toContain('admin listener');
  });

  it('runs when --admin-port asks for it', async () => {
    const stderr = await oneStdioSession(['--admin-port', '0']);
    expect(stderr).toContain('"admin listener up"');
  });
});

describe('logs a person can read', () => {
  it('--log-format pretty: time, level and message on one line', async () => {
    const cli = run([
      '--stdio',
      DEMO,
      '--port',
      '0',
      '--admin-port',
      'off',
      '--log-format',
      'pretty',
    ]);
    await servedUrl(cli);
    await waitFor(() => cli.stderr().includes('gateway listening'), 5000, 'the log line');
    expect(cli.stderr()).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: gateway listening \{"host":"127\.0\.0\.1","port":\d+,/m,
    );
    expect(cli.stderr()).not.toContain('"level":');
    cli.child.kill('SIGTERM');
    expect(await cli.done).toBe(0);
  });

  it('on a terminal (a pty from script(1)) without a flag: pretty, in colour', async () => {
    const cli = spawn(
      'script',
      [
        '-qec',
        `${process.execPath} ${CLI} --stdio '${DEMO}' --port 0 --admin-port off`,
        '/dev/null',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    started.push(cli);
    let out = '';
    cli.stdout.on('data', (d: Buffer) => (out += d));
    await waitFor(() => out.includes('Try it:'), 15_000, 'the banner');
    // eslint-disable-next-line no-control-regex
    const plain = out.replace(/\u001b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/\[\d\d:\d\d:\d\d\.\d{3}\] INFO: gateway listening/);
    expect(out).toContain('\u001b[');
    expect(plain).not.toContain('"level":');
    cli.kill('SIGTERM');
  });

  it('JSON when stderr is not a terminal', async () => {
    const cli = run(['--stdio', DEMO, '--port', '0', '--admin-port', 'off']);
    await servedUrl(cli);
    await waitFor(() => cli.stderr().includes('gateway listening'), 5000, 'the log line');
    const line = cli
      .stderr()
      .split('\n')
      .find((l) => l.includes('gateway listening'))!;
    expect(JSON.parse(line)).toMatchObject({ level: 30, msg: 'gateway listening' });
    cli.child.kill('SIGTERM');
    await cli.done;
  });
});

describe('the banner', () => {
  it('lists every URL served, and its "try it" line works when pasted into a shell', async () => {
    const cli = run(['--stdio', DEMO, '--port', '0', '--admin-port', '0']);
    await servedUrl(cli);
    const out = cli.stdout();
    const port = /127\.0\.0\.1:(\d+)\/mcp/.exec(out)![1];
    const admin = /dashboard\s+http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)![1];
    expect(out).toContain(`mcp-bridge `);
    expect(out).toContain('serving server-everything');
    for (const url of [
      `http://127.0.0.1:${port}/mcp`,
      `http://127.0.0.1:${port}/sse`,
      `ws://127.0.0.1:${port}/ws`,
      `http://127.0.0.1:${port}/docs`,
      `http://127.0.0.1:${admin}/`,
      `http://127.0.0.1:${admin}/metrics`,
    ])
      expect(out).toContain(url);
    for (const path of ['/docs', '/metrics']) {
      const base = path === '/docs' ? port : admin;
      const res = await fetch(`http://127.0.0.1:${base}${path}`);
      expect(res.status).toBe(200);
      await res.text();
    }
    const tryLine = out.split('\n')[out.split('\n').indexOf('Try it:') + 1]!.trim();
    expect(tryLine).toMatch(/^curl /);
    const reply = execFileSync('sh', ['-c', tryLine], { encoding: 'utf8' });
    expect(reply).toContain('"serverInfo"');
    cli.child.kill('SIGTERM');
    expect(await cli.done).toBe(0);
  });
});
