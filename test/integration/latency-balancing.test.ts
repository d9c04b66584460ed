import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, parseConfig } from '../../src/index.js';
import type { GatewayConfigInput } from '../../src/index.js';
import { createLogger } from '../../src/core/logger.js';
import { FIXTURES, waitFor } from '../helpers.js';

/*
 * `balance: latency` across two real replicas of one backend that speak different transports:
 * one is the replica fixture over Streamable HTTP, the other the same fixture behind a second
 * mcp-bridge, reached over WebSocket. The WebSocket one is slowed (its state directory's `delay`
 * file), then recovers; each replica's answers name it, so the test sees where sessions went.
 */

const silent = createLogger({ level: 'silent' });
const PROBE_MS = 3000;
let dir: string;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-latency-'));
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The replica fixture over Streamable HTTP: its URL. */
async function httpReplica(state: string): Promise<string> {
  const child = spawn(
    process.execPath,
    [join(FIXTURES, 'replica-server.mjs'), state, 'http', '--http'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  cleanup.push(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  await waitFor(() => out.includes('\n'), 10_000, 'the HTTP replica to listen');
  return `http://127.0.0.1:${out.trim()}/mcp`;
}

async function gateway(config: Partial<GatewayConfigInput>): Promise<number> {
  const gw = createGateway(
    parseConfig({ server: { host: '127.0.0.1', port: 0 }, admin: { enabled: false }, ...config }),
    { log: silent },
  );
  const { port } = await gw.listen();
  cleanup.push(() => gw.close());
  return port;
}

/** The replica fixture over stdio behind a second gateway: its WebSocket URL. */
async function websocketReplica(state: string): Promise<string> {
  const port = await gateway({
    backends: {
      replica: {
        command: process.execPath,
        args: [join(FIXTURES, 'replica-server.mjs'), state, 'websocket'],
        processModel: 'shared',
        killGraceMs: 300,
      },
    },
  });
  return `ws://127.0.0.1:${port}/ws`;
}

/** A session through the balancing gateway that makes `calls` calls; which replica answered. */
async function session(url: URL, calls: number): Promise<{ replica: string; client: Client }> {
  const client = new Client({ name: 'latency-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url));
  cleanup.push(() => client.close());
  let replica = '';
  for (let i = 0; i < calls; i++) {
    const result = await client.callTool({ name: 'echo', arguments: { text: String(i) } });
    replica = (result.content as Array<{ text: string }>)[0]!.text.split(':')[0]!;
  }
  return { replica, client };
}

const tally = (replicas: string[]) =>
  replicas.reduce<Record<string, number>>((t, r) => ({ ...t, [r]: (t[r] ?? 0) + 1 }), {});

describe('balance: latency, across transports', () => {
  it('moves sessions off a slow replica, and back once it has recovered', async () => {
    const fastState = mkdtempSync(join(dir, 'http-'));
    const slowState = mkdtempSync(join(dir, 'ws-'));
    const delay = join(slowState, 'delay');
    writeFileSync(delay, '250');
    const port = await gateway({
      backends: {
        pool: {
          transport: 'streamable-http',
          url: await httpReplica(fastState),
          replicas: [{ url: await websocketReplica(slowState) }],
          balance: 'latency',
          latencyProbeMs: PROBE_MS,
        },
      },
    });
    const url = new URL(`http://127.0.0.1:${port}/mcp`);

    // Each replica is tried once; then the slow one gets nothing while it stays slow.
    const slowPhase: Array<Awaited<ReturnType<typeof session>>> = [];
    for (let i = 0; i < 8; i++) slowPhase.push(await session(url, 3));
    expect(
      slowPhase
        .slice(0, 2)
        .map((s) => s.replica)
        .sort(),
    ).toEqual(['http', 'websocket']);
    expect(slowPhase.slice(2).map((s) => s.replica)).toEqual(Array(6).fill('http'));
    await Promise.all(slowPhase.map((s) => s.client.close()));

    // It recovers. Not measured for PROBE_MS, it gets the next session, which finds it fast.
    unlinkSync(delay);
    await new Promise((resolve) => setTimeout(resolve, PROBE_MS + 200));
    const probe = await session(url, 15);
    expect(probe.replica).toBe('websocket');

    // Sessions go to it again: as many as its measured latency earns, weighed against the
    // other's (which is the faster here varies with the machine, so only "again" is checked).
    const recovered: string[] = [];
    for (let i = 0; i < 8; i++) recovered.push((await session(url, 2)).replica);
    expect(tally(recovered).websocket ?? 0).toBeGreaterThanOrEqual(2);
  });

  it('places sessions on replicas over stdio, Streamable HTTP and WebSocket alike', async () => {
    const state = mkdtempSync(join(dir, 'mixed-'));
    const port = await gateway({
      backends: {
        pool: {
          url: await httpReplica(state),
          replicas: [
            { url: await websocketReplica(state) },
            {
              command: process.execPath,
              args: [join(FIXTURES, 'replica-server.mjs'), state, 'stdio'],
            },
          ],
          balance: 'round-robin',
        },
      },
    });
    const url = new URL(`http://127.0.0.1:${port}/mcp`);
    const answered: string[] = [];
    for (let i = 0; i < 3; i++) answered.push((await session(url, 1)).replica);
    expect(tally(answered)).toEqual({ http: 1, websocket: 1, stdio: 1 });
  });

  it('refuses a replica whose URL does not suit its transport, naming the path', () => {
    const parse = (replicas: unknown[]) => () =>
      parseConfig({
        backends: { pool: { url: 'http://127.0.0.1:1/mcp', replicas, balance: 'latency' } },
      });
    expect(parse([{ url: 'ftp://x' }])).toThrow(
      'backends.pool.replicas[0].url: expected a URL starting with http(s)://, ws(s):// or tcp(s)://',
    );
    expect(parse([{ url: 'ws://x/ws', transport: 'sse' }])).toThrow(
      'backends.pool.replicas[0].url: expected a URL whose scheme suits the transport',
    );
    expect(
      parse([{ url: 'ws://x/ws' }, { url: 'tcp://x:8444' }, { command: 'node' }]),
    ).not.toThrow();
    expect(parse([{ weight: 2 }])).toThrow(
      'backends.pool.replicas[0].url: expected either a "url" or a "command"',
    );
    expect(parse([{ command: 'node', transport: 'websocket' }])).toThrow(
      'backends.pool.replicas[0].transport: a "command" replica speaks stdio; leave "transport" out',
    );
    expect(parse([{ url: 'ws://x/ws', args: ['-v'] }])).toThrow(
      'backends.pool.replicas[0].args: "args" goes with a "command" replica',
    );
    expect(() =>
      parseConfig({
        backends: { pool: { url: 'http://127.0.0.1:1/mcp', latencyProbeMs: 10 } },
      }),
    ).toThrow(/backends\.pool\.latencyProbeMs: /);
  });
});
