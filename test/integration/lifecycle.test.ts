import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  ACCEPT_JSON_AND_SSE,
  FIXTURES,
  connectClient,
  everythingStdio,
  initializeRequest,
  isAlive,
  startGateway,
  waitFor,
} from '../helpers.js';
import type { RunningGateway } from '../helpers.js';

/*
 * A session exists once its initialize has succeeded, and one that ends or never gets there
 * gives its backend process back within seconds (issue 13, item 12).
 */

const stdio = (script: string, ...args: string[]) => ({
  transport: 'stdio' as const,
  command: process.execPath,
  args: [join(FIXTURES, script), ...args],
  killGraceMs: 300,
});

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});

async function gateway(
  backend: Parameters<typeof startGateway>[0],
  sessions: Record<string, number>,
): Promise<RunningGateway> {
  const gw = await startGateway(backend, { sessions: { cleanupIntervalMs: 100, ...sessions } });
  cleanup.push(() => gw.close());
  return gw;
}

const post = (gw: RunningGateway, body: unknown, headers: Record<string, string> = {}) =>
  fetch(gw.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT_JSON_AND_SSE, ...headers },
    body: JSON.stringify(body),
  });

describe('session lifecycle', () => {
  // The gateway returned an Mcp-Session-Id for a refused initialize, and the session lived on.
  it('names no session and keeps no process when the backend refuses initialize', async () => {
    const gw = await gateway(stdio('refusing-server.mjs'), {});
    const res = await post(gw, initializeRequest());
    const body = (await res.json()) as { error?: { message: string } };
    expect(body.error?.message).toContain('refusing-server');
    expect(res.headers.get('mcp-session-id')).toBeNull();
    await waitFor(() => gw.gateway.sessions().length === 0, 5000, 'the session to end');
  });

  // A client that went away before the initialize reply left its process running for an hour.
  it('reaps a session whose initialize never completes, and ends its process', async () => {
    const gw = await gateway(stdio('probe-server.mjs', '--start-delay=60000'), {
      handshakeTimeoutMs: 800,
    });
    const aborted = post(gw, initializeRequest()).catch(() => 'aborted');
    await waitFor(() => gw.gateway.sessions()[0]?.pid !== undefined, 5000, 'the backend process');
    const pid = gw.gateway.sessions()[0]!.pid!;
    expect(isAlive(pid)).toBe(true);
    await waitFor(() => gw.gateway.sessions().length === 0, 5000, 'the session to be reaped');
    await waitFor(() => !isAlive(pid), 5000, 'the backend process to end');
    await aborted;
  });

  // Clients that never DELETE (the Inspector CLI, the SDK's close()) pinned a process for an hour.
  it('ends an idle session with no stream open sooner than one holding a stream', async () => {
    const gw = await gateway(stdio('probe-server.mjs'), { idleWithoutStreamMs: 1000 });
    const open = async () => {
      const res = await post(gw, initializeRequest());
      await res.text();
      const id = res.headers.get('mcp-session-id')!;
      await post(
        gw,
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { 'mcp-session-id': id },
      );
      return id;
    };
    const left = await open();
    const held = await open();
    const stream = await fetch(gw.url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': held },
    });
    expect(stream.status).toBe(200);
    cleanup.push(() => stream.body!.cancel());
    await waitFor(
      () => !gw.gateway.sessions().some((s) => s.id === left),
      5000,
      'the session with no stream to end',
    );
    expect(gw.gateway.sessions().map((s) => s.id)).toContain(held);
  });

  // server-everything asks a client with roots for them at once; a client that closed before it
  // answered kept `inFlight` at 1, so the session was never swept and shutdown waited its deadline.
  const unansweredRoots = async (gw: RunningGateway) => {
    const client = await connectClient(gw.url, { roots: { listChanged: true } }, (c) =>
      c.setRequestHandler(ListRootsRequestSchema, () => new Promise(() => {})),
    );
    cleanup.push(() => client.close());
    await waitFor(
      () => gw.gateway.sessions()[0]?.inFlight === 1,
      10_000,
      'roots/list to reach the client',
    );
    return client;
  };

  it('ends an idle session whose client left with a server request unanswered', async () => {
    const gw = await gateway(everythingStdio, { idleWithoutStreamMs: 1000 });
    const client = await unansweredRoots(gw);
    await client.close(); // as the SDK does: the stream ends, no DELETE
    await waitFor(() => gw.gateway.sessions().length === 0, 10_000, 'the session to be swept');
  });

  it('does not wait, when shutting down, for a server request the client never answers', async () => {
    const gw = await startGateway(everythingStdio, {
      server: { host: '127.0.0.1', port: 0, path: '/mcp', shutdownTimeoutMs: 600_000 },
    });
    await unansweredRoots(gw);
    // Before the fix this waited the whole 600 s deadline, and the test timed out.
    await gw.close();
    expect(gw.gateway.sessions()).toEqual([]);
  });

  // A backend that exits at start showed `up` with 0 restarts, and every new session respawned it.
  it('reports a crash loop as failing, and backs off instead of respawning for every session', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-crash-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const starts = join(dir, 'starts');
    const crashing = {
      transport: 'stdio' as const,
      command: process.execPath,
      args: [
        '-e',
        `require('node:fs').appendFileSync(${JSON.stringify(starts)}, 'x'); process.exit(3)`,
      ],
      killGraceMs: 300,
    };
    const gw = await startGateway(crashing, {
      processes: { restartBackoffMs: 60_000, healthCheckIntervalMs: 0 },
    });
    cleanup.push(() => gw.close());
    const first = await post(gw, initializeRequest());
    expect(first.status).toBe(502);
    await first.text();
    await waitFor(
      () => gw.gateway.backends()[0]?.state === 'failing',
      5000,
      'the backend to be reported failing',
    );
    const second = await post(gw, initializeRequest());
    const refused = (await second.json()) as {
      error: { message: string; data: { retryAfter: number } };
    };
    expect(second.status).toBe(502);
    expect(refused.error.message).toMatch(
      /is failing: 1 failed start in a row .*next try in \d+ s/,
    );
    expect(refused.error.data.retryAfter).toBeGreaterThan(0);
    // Refused without starting the process again.
    expect(readFileSync(starts, 'utf8')).toBe('x');
    const base = new URL('/', gw.url);
    const health = await fetch(new URL('/health', base));
    expect(health.status).toBe(503);
    const report = (await health.json()) as { backends: Array<Record<string, unknown>> };
    expect(report.backends[0]).toMatchObject({ state: 'failing', restarts: 1, failuresInARow: 1 });
    const ready = await fetch(new URL('/ready', base));
    expect(ready.status).toBe(503);
    expect(JSON.stringify(await ready.json())).toContain('is failing');
  });
});
