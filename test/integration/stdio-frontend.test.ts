import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { createGateway, parseConfig } from '../../src/index.js';
import { createLogger } from '../../src/core/logger.js';
import {
  EVERYTHING,
  everythingStdio,
  fullCapabilities,
  isAlive,
  startGateway,
  waitFor,
  initializeRequest,
} from '../helpers.js';
import { answerServerRequests, text } from '../cases.js';
import {
  CLI,
  StreamClientTransport,
  backendsOf,
  connectUnix,
  line,
  listeningPort,
  runCli,
  stopCli,
} from '../frontend-helpers.js';
import type { CliRun, UnixClient } from '../frontend-helpers.js';

/*
 * The stdio frontend: the built CLI as a stdio MCP server (`--serve stdio`) for the SDK's own
 * stdio client and for raw lines; gateway.serveStdio over in-memory streams; the Unix socket
 * listener with a raw node:net client; and the CLI flags that expose them.
 */

const DEMO = `${process.execPath} ${EVERYTHING} stdio`;
const silent = createLogger({ level: 'silent' });

const dirs: string[] = [];
/** A fresh directory for socket files, removed after the test. */
function socketPath(name = 'gw.sock'): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-'));
  dirs.push(dir);
  return join(dir, name);
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('--serve stdio: the SDK stdio client spawning the built CLI', () => {
  let transport: StdioClientTransport;
  let client: Client;

  beforeAll(async () => {
    transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, '--serve', 'stdio', '--log-level', 'warn', '--stdio', DEMO],
      stderr: 'ignore',
    });
    client = new Client({ name: 'stdio-test', version: '1' }, { capabilities: fullCapabilities });
    await client.connect(transport);
  });
  afterAll(() => client?.close());

  it('exits with its backend when the client closes stdin', async () => {
    const pid = transport.pid!;
    const backends = backendsOf(pid);
    expect(backends).toHaveLength(1);
    await client.close();
    await waitFor(() => !isAlive(pid), 10_000, 'the CLI to exit');
    await waitFor(() => backends.every((b) => !isAlive(b)), 10_000, 'the backend to exit');
  });
});

describe('--serve stdio: raw lines on the built CLI', () => {
  let cli: CliRun | undefined;
  afterEach(async () => {
    if (cli) await stopCli(cli);
    cli = undefined;
  });

  it('answers garbage with -32700, goes on, writes only JSON-RPC to stdout, exits 0 on EOF', async () => {
    cli = runCli(['--serve', 'stdio', '--stdio', DEMO]);
    const { child, stdout } = cli;
    child.stdin!.write('this is not json\n');
    child.stdin!.write('{"jsonrpc":"2.0","id":"x","method":7}\n');
    expect(await stdout.reply(null)).toMatchObject({
      error: { code: -32700, data: { code: 'GATEWAY_PARSE_ERROR' } },
    });
    expect(await stdout.reply('x')).toMatchObject({
      error: { code: -32600, data: { code: 'GATEWAY_INVALID_REQUEST' } },
    });

    child.stdin!.write(line(initializeRequest({ id: 1, protocolVersion: '2025-06-18' })));
    expect((await stdout.reply(1)).result).toMatchObject({ serverInfo: expect.anything() });
    child.stdin!.write(line({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    child.stdin!.write(line({ jsonrpc: '2.0', id: 2, method: 'tools/list' }));
    expect((await stdout.reply(2)).result?.tools).toEqual(expect.any(Array));

    child.stdin!.write(
      line({
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: {
          name: 'trigger-long-running-operation',
          arguments: { duration: 0.3, steps: 3 },
          _meta: { progressToken: 'p3' },
        },
      }),
    );
    await stdout.reply(3);
    const beforeResult = stdout.messages.slice(
      0,
      stdout.messages.findIndex((m) => m.id === 3),
    ) as Array<{ params?: { progressToken?: string; progress?: number } }>;
    expect(
      beforeResult.filter((m) => m.params?.progressToken === 'p3').map((m) => m.params!.progress),
    ).toEqual([1, 2, 3]);

    const backends = backendsOf(child.pid!);
    expect(backends).toHaveLength(1);
    expect(cli.stderr()).toContain('"session opened"');
    child.stdin!.end();
    expect(await cli.exited).toBe(0);
    expect(stdout.junk).toEqual([]);
    expect(backends.every((b) => !isAlive(b))).toBe(true);
  });

  it('answers the first request with a -32010 error and exits 1 when the backend cannot start', async () => {
    cli = runCli(['--serve', 'stdio', '--stdio', '/nonexistent/mcp-server']);
    cli.child.stdin!.write(line(initializeRequest({ id: 7, protocolVersion: '2025-06-18' })));
    expect(await cli.stdout.reply(7)).toMatchObject({
      error: { code: -32010, data: { code: 'GATEWAY_BACKEND_UNAVAILABLE' } },
    });
    expect(await cli.exited).toBe(1);
  });

  it('exits 1 when the backend ends before stdin does', async () => {
    cli = runCli(['--serve', 'stdio', '--stdio', DEMO]);
    cli.child.stdin!.write(line(initializeRequest({ id: 1, protocolVersion: '2025-06-18' })));
    await cli.stdout.reply(1);
    const [backend] = backendsOf(cli.child.pid!);
    process.kill(backend!, 'SIGKILL');
    expect(await cli.exited).toBe(1);
    expect(cli.stderr()).toContain('the session ended before stdin did');
  });
});

describe('gateway.serveStdio over in-memory streams', () => {
  it('serves the SDK client, server requests included, and ends with its input', async () => {
    const gateway = createGateway(parseConfig({ backends: { everything: everythingStdio } }), {
      log: silent,
    });
    const toGateway = new PassThrough();
    const fromGateway = new PassThrough();
    const client = new Client({ name: 'pipe', version: '1' }, { capabilities: fullCapabilities });
    const answered = answerServerRequests(client);
    try {
      const session = await gateway.serveStdio(toGateway, fromGateway);
      await client.connect(new StreamClientTransport(fromGateway, toGateway));
      const [summary] = gateway.sessions();
      expect(summary).toMatchObject({ id: session.id, transport: 'stdio' });

      expect((await client.listTools()).tools.map((t) => t.name)).toContain('get-sum');
      expect(
        text(await client.callTool({ name: 'get-sum', arguments: { a: 1, b: 41 } })),
      ).toContain('42');
      await client.callTool({
        name: 'trigger-sampling-request',
        arguments: { prompt: 'in memory', maxTokens: 5 },
      });
      expect(answered.sampled).toHaveLength(1);

      toGateway.end();
      await waitFor(() => gateway.sessions().length === 0, 10_000, 'the session to close');
      await waitFor(() => !isAlive(summary!.pid!), 10_000, 'the backend to exit');
      expect(fromGateway.writableEnded).toBe(true);
    } finally {
      await client.close();
      await gateway.close();
    }
  });
});

describe('Unix socket frontend', () => {
  async function initialize(client: UnixClient, id = 1): Promise<void> {
    client.send(initializeRequest({ id: id, protocolVersion: '2025-06-18' }));
    expect((await client.lines.reply(id)).result).toMatchObject({ serverInfo: expect.anything() });
    client.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  }

  function withSocket(path: string) {
    return startGateway(everythingStdio, {
      server: { host: '127.0.0.1', port: 0, path: '/mcp', unixSocket: path },
    });
  }

  it('serves raw JSON-RPC lines on a 0600 socket, and removes it on close', async () => {
    const path = socketPath();
    const gw = await withSocket(path);
    let client: UnixClient | undefined;
    try {
      expect(lstatSync(path).isSocket()).toBe(true);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      client = await connectUnix(path);
      client.socket.write('{"broken\n');
      expect(await client.lines.reply(null)).toMatchObject({ error: { code: -32700 } });
      await initialize(client);
      client.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
      const tools = (await client.lines.reply(2)).result?.tools as Array<{ name: string }>;
      expect(tools.map((t) => t.name)).toContain('echo');
      expect(gw.gateway.sessions().map((s) => s.transport)).toEqual(['unix']);
    } finally {
      await client?.close();
      await gw.close();
    }
    expect(existsSync(path)).toBe(false);
  });

  it('gives each connection its own session and backend process; hanging up ends them', async () => {
    const path = socketPath();
    const gw = await withSocket(path);
    const clients: UnixClient[] = [];
    try {
      clients.push(await connectUnix(path), await connectUnix(path));
      await Promise.all(clients.map((c) => initialize(c)));
      const pids = gw.gateway.sessions().map((s) => s.pid!);
      expect(pids).toHaveLength(2);
      expect(new Set(pids).size).toBe(2);
      expect(pids.every(isAlive)).toBe(true);

      await Promise.all(clients.map((c) => c.close()));
      await waitFor(() => gw.gateway.sessions().length === 0, 10_000, 'both sessions to end');
      await waitFor(() => pids.every((pid) => !isAlive(pid)), 10_000, 'both backends to exit');
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await gw.close();
    }
  });

  it('ends open connections when the gateway closes', async () => {
    const path = socketPath();
    const gw = await withSocket(path);
    let client: UnixClient | undefined;
    try {
      client = await connectUnix(path);
      await initialize(client);
      const closed = new Promise<void>((resolve) => client!.socket.once('close', () => resolve()));
      await gw.close();
      await closed;
    } finally {
      await client?.close();
      await gw.close();
    }
  });

  it('answers the first request with -32010 and hangs up when the backend cannot start', async () => {
    const path = socketPath();
    const gw = await startGateway(
      { transport: 'stdio', command: '/nonexistent/mcp-server' },
      { server: { host: '127.0.0.1', port: 0, path: '/mcp', unixSocket: path } },
    );
    let client: UnixClient | undefined;
    try {
      client = await connectUnix(path);
      const closed = new Promise<void>((resolve) => client!.socket.once('close', () => resolve()));
      client.send(initializeRequest({ id: 5, protocolVersion: '2025-06-18' }));
      expect(await client.lines.reply(5)).toMatchObject({
        error: { code: -32010, data: { code: 'GATEWAY_BACKEND_UNAVAILABLE' } },
      });
      await closed;
    } finally {
      await client?.close();
      await gw.close();
    }
  });

  it('replaces a stale socket file left by a process that died', async () => {
    const path = socketPath();
    spawnSync(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(lstatSync(path).isSocket()).toBe(true);
    const gw = await withSocket(path);
    let client: UnixClient | undefined;
    try {
      client = await connectUnix(path);
      await initialize(client);
    } finally {
      await client?.close();
      await gw.close();
    }
  });

  it('refuses a path another process listens on, and a file that is not a socket', async () => {
    const busy = socketPath('busy.sock');
    const other = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => other.listen(busy, resolve));
    const plain = socketPath('plain.txt');
    writeFileSync(plain, 'keep me');
    try {
      for (const [path, message] of [
        [busy, /another process is listening on the Unix socket .*busy\.sock/],
        [plain, /plain\.txt exists and is not a socket; refusing to replace it/],
      ] as const) {
        const gateway = createGateway(
          parseConfig({
            server: { host: '127.0.0.1', port: 0, path: '/mcp', unixSocket: path },
            backends: { everything: everythingStdio },
          }),
          { log: silent },
        );
        try {
          await expect(gateway.listen()).rejects.toThrow(message);
        } finally {
          await gateway.close();
        }
      }
      expect(existsSync(busy)).toBe(true);
      expect(existsSync(plain)).toBe(true);
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });
});

describe('CLI: --url, --transport, --serve and --unix', () => {
  let cli: CliRun | undefined;
  afterEach(async () => {
    if (cli) await stopCli(cli);
    cli = undefined;
  });

  it('documents the new flags in --help', async () => {
    cli = runCli(['--help']);
    expect(await cli.exited).toBe(0);
    for (const flag of [
      '--url <URL>',
      '--transport <name>',
      '--serve <http|stdio>',
      '--unix <path>',
    ])
      expect(cli.stdout.text).toContain(flag);
  });

  it.each([
    [['--stdio', 'x', '--url', 'http://h/mcp'], 'give either --stdio or --url, not both'],
    [['--stdio', 'x', '--transport', 'sse'], '--transport: applies only to --url'],
    [
      ['--url', 'http://h/mcp', '--transport', 'carrier-pigeon'],
      '--transport: expected one of streamable-http, sse, websocket, auto, got "carrier-pigeon"',
    ],
    [
      ['--url', 'http://h/mcp', '--transport', 'websocket'],
      'websocket needs a ws:// or wss:// URL',
    ],
    [['--url', 'ws://h/ws', '--transport', 'sse'], 'sse needs an http:// or https:// URL'],
    [['--url', 'not a url'], '--url: expected an absolute http(s):// or ws(s):// URL'],
    [['--url', 'ftp://h/x'], '--url: expected an http(s):// or ws(s):// URL, got "ftp://h/x"'],
    [['--stdio', 'x', '--serve', 'smoke-signals'], '--serve: expected http or stdio'],
    [['--stdio', 'x', '--serve', 'stdio', '--port', '1'], '--port: applies only to --serve http'],
    [
      ['--stdio', 'x', '--serve', 'stdio', '--unix', '/tmp/s'],
      '--unix: applies only to --serve http',
    ],
    [['--url'], '--url: give a value (--url <value>)'],
    [['--stdio', 'x', '--unix', ''], 'server.unixSocket'],
  ])('rejects %j with a one-line message and exit code 2', async (args, message) => {
    cli = runCli(args);
    expect(await cli.exited).toBe(2);
    const lines = cli.stderr().trim().split('\n');
    expect(lines[0]).toContain(message);
    expect(lines).toHaveLength(2); // the message, then the pointer to --help
  });

  it('bridges a URL over legacy SSE and serves it on a Unix socket (--url --transport sse --unix)', async () => {
    const upstream = await startGateway(everythingStdio);
    const path = socketPath();
    let client: UnixClient | undefined;
    try {
      cli = runCli([
        '--url',
        new URL('/sse', upstream.url).href,
        '--transport',
        'sse',
        '--port',
        '0',
        '--unix',
        path,
      ]);
      await listeningPort(cli);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      client = await connectUnix(path);
      await initialize(client);
      client.send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'echo', arguments: { message: 'two hops' } },
      });
      expect(JSON.stringify((await client.lines.reply(2)).result)).toContain('Echo: two hops');
      expect(upstream.gateway.sessions().map((s) => s.transport)).toEqual(['sse']);

      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
      expect(existsSync(path)).toBe(false);
      await waitFor(
        () => upstream.gateway.sessions().length === 0,
        10_000,
        'the upstream session to end',
      );
    } finally {
      await client?.close();
      if (cli) await stopCli(cli);
      await upstream.close();
    }

    async function initialize(c: UnixClient): Promise<void> {
      c.send(initializeRequest({ id: 1, protocolVersion: '2025-06-18' }));
      expect((await c.lines.reply(1)).result).toMatchObject({ serverInfo: expect.anything() });
      c.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    }
  });

  it('serves a URL on stdin/stdout (--serve stdio --url), inferring the transport', async () => {
    const upstream = await startGateway(everythingStdio);
    try {
      cli = runCli(['--serve', 'stdio', '--url', upstream.url.href]);
      cli.child.stdin!.write(line(initializeRequest({ id: 1, protocolVersion: '2025-06-18' })));
      expect((await cli.stdout.reply(1)).result).toMatchObject({ serverInfo: expect.anything() });
      expect(upstream.gateway.sessions().map((s) => s.transport)).toEqual(['streamable-http']);
      cli.child.stdin!.end();
      expect(await cli.exited).toBe(0);
      await waitFor(
        () => upstream.gateway.sessions().length === 0,
        10_000,
        'the upstream session to end',
      );
    } finally {
      if (cli) await stopCli(cli);
      await upstream.close();
    }
  });
});
