import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect as connectTcp } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { FIXTURES, waitFor } from '../helpers.js';
import { text } from '../cases.js';

/*
 * Issue 15's must-show: a desktop client (the SDK's StdioClientTransport spawning
 * `mcp-bridge connect <URL>`) keeps one session while the remote gateway is SIGKILLed and
 * restarted, over each remote transport. The gateway is a real process serving the counting
 * fixture, whose state lives in files so that it outlives the backend it runs in.
 *
 * The gateway must come back on the SAME port, as a restarted server does, so its port is chosen
 * by binding port 0, closing, and passing the number on: the one place where the "listen(0) and
 * read the port" rule cannot apply, because the connector only knows the URL it was given.
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const COUNTING = join(FIXTURES, 'counting-server.mjs');

/** A port that was free a moment ago (see above for why this test needs one). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

interface GatewayProcess {
  child: ChildProcess;
  exited: Promise<void>;
}

async function startGateway(state: string, port: number, tcpPort: number): Promise<GatewayProcess> {
  const child = spawn(
    process.execPath,
    [
      CLI,
      '--stdio',
      `${process.execPath} ${COUNTING} ${state}`,
      '--port',
      String(port),
      '--tcp-port',
      String(tcpPort),
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let up = false;
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error('the gateway exited while starting');
      void Promise.all([accepts(port), accepts(tcpPort)]).then((r) => (up = r.every(Boolean)));
      return up;
    },
    15_000,
    'the gateway to listen',
  );
  return { child, exited };
}

async function kill(gateway: GatewayProcess | undefined): Promise<void> {
  if (!gateway || gateway.child.exitCode !== null || gateway.child.signalCode !== null) return;
  gateway.child.kill('SIGKILL');
  await gateway.exited;
}

const executions = (state: string) =>
  existsSync(join(state, 'executions'))
    ? readFileSync(join(state, 'executions'), 'utf8').trim().split('\n').length
    : 0;

const remotes: Array<[name: string, url: (port: number, tcp: number) => string, flags: string[]]> =
  [
    ['Streamable HTTP', (p) => `http://127.0.0.1:${p}/mcp`, ['--transport', 'streamable-http']],
    ['SSE', (p) => `http://127.0.0.1:${p}/sse`, ['--transport', 'sse']],
    ['WebSocket', (p) => `ws://127.0.0.1:${p}/ws`, []],
    ['TCP', (_p, t) => `tcp://127.0.0.1:${t}`, []],
  ];

describe.each(remotes)(
  'the connector over %s, the remote SIGKILLed and restarted',
  (_name, urlOf, flags) => {
    it('keeps the session: the outage call completes, the in-flight call fails once, the in-flight list is answered', async () => {
      const state = mkdtempSync(join(tmpdir(), 'connector-outage-'));
      const statusFile = join(state, 'status.json');
      const [port, tcpPort] = [await freePort(), await freePort()];
      let gateway: GatewayProcess | undefined;
      const client = new Client({ name: 'desktop', version: '1.0.0' }, { capabilities: {} });
      const logs: Array<{ level: string; data: unknown }> = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
        logs.push({ level: n.params.level, data: n.params.data });
      });
      const status = () =>
        existsSync(statusFile)
          ? (JSON.parse(readFileSync(statusFile, 'utf8')) as Record<string, unknown>)
          : {};
      try {
        gateway = await startGateway(state, port, tcpPort);
        await client.connect(
          new StdioClientTransport({
            command: process.execPath,
            args: [
              CLI,
              'connect',
              urlOf(port, tcpPort),
              ...flags,
              '--status-file',
              statusFile,
              '--backoff-initial-ms',
              '100',
              '--backoff-max-ms',
              '400',
              '--log-level',
              'warn',
            ],
            stderr: 'inherit',
          }),
        );
        expect(
          text(await client.callTool({ name: 'echo', arguments: { message: 'before' } })),
        ).toBe('Echo: before');
        await waitFor(
          () => status().state === 'connected',
          5000,
          'the status file to say connected',
        );

        // In flight at the kill: a call that is running, and a list the server holds.
        const call = client.callTool({ name: 'count', arguments: { ms: 60_000 } });
        const callOutcome = call.then(
          () => 'answered',
          (error: Error) => error.message,
        );
        await waitFor(() => executions(state) === 1, 10_000, 'the call to start running');
        writeFileSync(join(state, 'slow-list'), '');
        const list = client.listTools();
        await waitFor(() => existsSync(join(state, 'list-started')), 10_000, 'the list to be held');

        await kill(gateway);
        expect(await callOutcome).toMatch(/Connection lost during the request.*tools\/call/);
        await waitFor(() => logs.some((l) => l.level === 'warning'), 10_000, 'a link-down warning');
        unlinkSync(join(state, 'slow-list'));

        // Made during the outage: waits in the queue.
        const outage = client.callTool({
          name: 'echo',
          arguments: { message: 'during the outage' },
        });
        await waitFor(
          () => status().state === 'reconnecting' && Number(status().queueDepth) >= 1,
          10_000,
          'the status file to show the queued call',
        );

        gateway = await startGateway(state, port, tcpPort);
        expect(text(await outage)).toBe('Echo: during the outage');
        expect((await list).tools.map((t) => t.name)).toEqual(['count', 'echo']);
        await waitFor(() => logs.some((l) => l.level === 'info'), 10_000, 'a link-restored notice');

        // The interrupted call ran once and was never sent again; the session goes on.
        expect(executions(state)).toBe(1);
        expect(text(await client.callTool({ name: 'count', arguments: { ms: 0 } }))).toBe('2');
        expect(executions(state)).toBe(2);
        // The status file is written as the link changes, asynchronously: poll it.
        await waitFor(
          () =>
            status().state === 'connected' &&
            status().queueDepth === 0 &&
            Number(status().reconnects) >= 1,
          10_000,
          'the status file to show the link restored with an empty queue',
        );
      } finally {
        await client.close().catch(() => {});
        await kill(gateway);
        rmSync(state, { recursive: true, force: true });
      }
    }, 60_000);
  },
);
