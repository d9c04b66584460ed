import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ACCEPT_JSON_AND_SSE as ACCEPT,
  everythingStdio,
  initializeRequest,
  startGateway,
  waitFor,
} from '../helpers.js';
import type { RunningGateway } from '../helpers.js';
import { openRawSse } from '../frontend-helpers.js';
import { CLI, FUZZ_ECHO } from '../fuzz/cli-gateway.js';

/*
 * Slow clients (slowloris) used to be held forever: a request head that never ends, a body that
 * never comes, any number of connections from one address. Each is now cut by the listener's
 * `server.*` limits, while long-lived streams, which only send, live on.
 */

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await Promise.resolve(step()).catch(() => {});
});

async function gateway(server: Record<string, number>): Promise<RunningGateway> {
  const gw = await startGateway(everythingStdio, {
    server: { host: '127.0.0.1', port: 0, path: '/mcp', ...server },
  });
  cleanup.push(() => gw.close());
  return gw;
}

interface RawConnection {
  socket: Socket;
  received: string;
  closed: boolean;
}

/** A raw TCP connection that writes `text` and then nothing more. */
function rawConnection(port: number, text: string): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const conn: RawConnection = { socket, received: '', closed: false };
    cleanup.push(() => socket.destroy());
    socket.on('data', (d: Buffer) => (conn.received += d.toString()));
    socket.on('close', () => (conn.closed = true));
    socket.on('error', () => {});
    socket.once('connect', () => {
      socket.write(text);
      resolve(conn);
    });
    socket.once('error', reject);
  });
}

const PARTIAL_HEAD = 'GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ';

describe('slow clients', () => {
  it('closes connections whose request head never ends, and refuses the N+1th connection from one address', async () => {
    const gw = await gateway({
      headersTimeoutMs: 500,
      requestTimeoutMs: 1000,
      maxConnectionsPerAddress: 3,
    });
    const port = Number(gw.url.port);
    const slow: RawConnection[] = [];
    for (let i = 0; i < 3; i++) slow.push(await rawConnection(port, PARTIAL_HEAD));
    const extra = await rawConnection(port, PARTIAL_HEAD);
    // Cut at once, before any deadline: nothing is written to it.
    await waitFor(() => extra.closed, 10_000, 'the 4th connection to be cut');
    expect(extra.received).toBe('');
    expect(slow.some((c) => c.closed)).toBe(false);

    await waitFor(() => slow.every((c) => c.closed), 10_000, 'the slow heads to be closed');
    for (const c of slow) expect(c.received).toMatch(/^HTTP\/1\.1 4\d\d /);
    // Their slots are free again.
    const res = await fetch(new URL('/healthz', gw.url));
    expect(res.status).toBe(200);
    await res.text();
  });

  it('takes the cap from --max-connections-per-address in quick mode, and 0 turns it off', async () => {
    const start = async (max: string) => {
      const child = spawn(
        process.execPath,
        [
          CLI,
          '--stdio',
          `${process.execPath} ${FUZZ_ECHO}`,
          '--port',
          '0',
          '--max-connections-per-address',
          max,
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, BRIDGE_ENABLE_METRICS: 'false' },
        },
      );
      const exited = new Promise((r) => child.once('exit', r));
      cleanup.push(async () => {
        // SIGTERM: the gateway ends its backend processes before it exits.
        if (child.exitCode === null) child.kill('SIGTERM');
        await exited;
      });
      let log = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => (log += d));
      await waitFor(() => log.includes('"gateway listening"'), 30_000, 'the gateway to listen');
      return Number(
        /"port":(\d+)/.exec(log.slice(log.indexOf('"gateway listening"') - 400))?.[1] ?? 0,
      );
    };
    const capped = await start('2');
    const held = [
      await rawConnection(capped, PARTIAL_HEAD),
      await rawConnection(capped, PARTIAL_HEAD),
    ];
    const third = await rawConnection(capped, PARTIAL_HEAD);
    await waitFor(() => third.closed, 10_000, 'the 3rd connection to be cut');
    expect(third.received).toBe('');
    expect(held.some((c) => c.closed)).toBe(false);

    // No cap: more connections from one address than the default of 256, all held.
    const open = await start('0');
    const many = await Promise.all(
      Array.from({ length: 300 }, () => rawConnection(open, PARTIAL_HEAD)),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(many.filter((c) => c.closed)).toHaveLength(0);
    for (const c of many) c.socket.destroy();

    const bad = spawnSync(
      process.execPath,
      [CLI, '--stdio', 'x', '--max-connections-per-address', 'many'],
      {
        encoding: 'utf8',
      },
    );
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(
      '--max-connections-per-address: expected a whole number (0: no cap)',
    );
  });

  it('closes a connection whose request body never comes (server.requestTimeoutMs)', async () => {
    const gw = await gateway({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const conn = await rawConnection(
      Number(gw.url.port),
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: ${ACCEPT}\r\nContent-Length: 1000\r\n\r\n{"jsonrpc":`,
    );
    await waitFor(() => conn.closed, 10_000, 'the slow body to be closed');
  });

  it('does not cut an SSE stream or a streamed reply that lasts past server.requestTimeoutMs', async () => {
    const gw = await gateway({ headersTimeoutMs: 200, requestTimeoutMs: 300 });
    const sse = await openRawSse(new URL('/sse', gw.url));
    cleanup.push(() => sse.close());
    const endpoint = new URL(
      (await sse.next((e) => e.event === 'endpoint', 'the endpoint event')).data,
      gw.url,
    );
    // Idle for several times the request timeout (and Node's checking interval).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(sse.ended).toBe(false);
    const posted = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(initializeRequest({ id: 'late' })),
    });
    expect(posted.status).toBe(202);
    await posted.text();
    const reply = await sse.next((e) => e.data.includes('"late"'), 'the initialize reply');
    expect(JSON.parse(reply.data)).toMatchObject({ id: 'late', result: expect.anything() });

    // A POST answered with a stream that takes longer than the request timeout.
    const opened = await fetch(gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT },
      body: JSON.stringify(initializeRequest()),
    });
    await opened.text();
    const session = opened.headers.get('mcp-session-id')!;
    const call = await fetch(gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': session },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'slow',
        method: 'tools/call',
        params: {
          name: 'trigger-long-running-operation',
          arguments: { duration: 1.5, steps: 3 },
          _meta: { progressToken: 'p' },
        },
      }),
    });
    const text = await call.text();
    expect(call.status).toBe(200);
    expect(text).toContain('"id":"slow"');
    expect(text).toContain('Long running operation completed');
  });
});
