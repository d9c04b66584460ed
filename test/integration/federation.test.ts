import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { createGateway, parseConfig } from '../../src/index.js';
import type { Gateway, GatewayConfigInput } from '../../src/index.js';
import { createLogger } from '../../src/core/logger.js';
import { EVERYTHING, FIXTURES, connectClient, isAlive, waitFor } from '../helpers.js';
import { text } from '../cases.js';
import { shorten } from '../../src/targets/naming.js';
import { Client as SdkClient } from '@modelcontextprotocol/sdk/client/index.js';

/*
 * Three real reference servers behind one gateway: @modelcontextprotocol/server-everything,
 * server-memory and server-filesystem (on a temporary directory), through the aggregated endpoint
 * and through each backend's own endpoint.
 */

const require = createRequire(import.meta.url);
const bin = (pkg: string) => join(dirname(require.resolve(`${pkg}/package.json`)), 'dist/index.js');

let dir: string;
let gateway: Gateway | undefined;
const clients: Client[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-federation-'));
  writeFileSync(join(dir, 'hello.txt'), 'hello from the filesystem server\n');
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  await gateway?.close();
  gateway = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function backends(): NonNullable<GatewayConfigInput['backends']> {
  return {
    everything: { command: process.execPath, args: [EVERYTHING, 'stdio'], killGraceMs: 500 },
    memory: {
      command: process.execPath,
      args: [bin('@modelcontextprotocol/server-memory')],
      env: { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') },
      killGraceMs: 500,
      tools: {
        exclude: ['delete_*'],
        overrides: { read_graph: { name: 'graph', description: 'The whole knowledge graph.' } },
      },
    },
    filesystem: {
      command: process.execPath,
      args: [bin('@modelcontextprotocol/server-filesystem'), dir],
      killGraceMs: 500,
      tools: { include: ['read_*', 'list_*'] },
    },
  };
}

async function start(
  input: Partial<GatewayConfigInput> & { backends: GatewayConfigInput['backends'] },
): Promise<URL> {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    processes: { restartBackoffMs: 200, healthCheckIntervalMs: 0 },
    ...input,
  });
  gateway = createGateway(config, {
    log: createLogger({ level: (process.env.MCP_BRIDGE_TEST_LOG as 'debug') ?? 'silent' }),
  });
  const address = await gateway.listen();
  return new URL(`http://127.0.0.1:${address.port}/`);
}

async function client(url: URL, setup?: (c: Client) => void): Promise<Client> {
  const c = await connectClient(url, undefined, setup);
  clients.push(c);
  return c;
}

describe('federation: three real backends', () => {
  it('serves every backend together on /mcp, namespaced, filtered and renamed', async () => {
    const base = await start({ backends: backends() });
    const c = await client(new URL('/mcp', base));
    const names = (await c.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'everything__echo',
        'memory__create_entities',
        'memory__graph',
        'filesystem__read_text_file',
        'filesystem__list_allowed_directories',
      ]),
    );
    // exclude and include filters
    expect(names.filter((n) => n.startsWith('memory__delete_'))).toEqual([]);
    expect(
      names.filter((n) => n.startsWith('filesystem__') && !/^filesystem__(read|list)_/.test(n)),
    ).toEqual([]);
    // the rename keeps the namespace and carries the new description
    const graphTool = (await c.listTools()).tools.find((t) => t.name === 'memory__graph');
    expect(graphTool?.description).toBe('The whole knowledge graph.');
    expect(names).not.toContain('memory__read_graph');

    expect(text(await c.callTool({ name: 'everything__echo', arguments: { message: 'hi' } }))).toBe(
      'Echo: hi',
    );
    await c.callTool({
      name: 'memory__create_entities',
      arguments: {
        entities: [
          { name: 'Ada', entityType: 'person', observations: ['wrote the first program'] },
        ],
      },
    });
    expect(text(await c.callTool({ name: 'memory__graph', arguments: {} }))).toContain('Ada');
    expect(
      text(
        await c.callTool({
          name: 'filesystem__read_text_file',
          arguments: { path: join(dir, 'hello.txt') },
        }),
      ),
    ).toContain('hello from the filesystem server');

    // prompts, resources and completion find their backend
    const prompts = (await c.listPrompts()).prompts.map((p) => p.name);
    expect(prompts).toContain('everything__simple-prompt');
    expect(
      (await c.getPrompt({ name: 'everything__args-prompt', arguments: { city: 'Oslo' } })).messages
        .length,
    ).toBeGreaterThan(0);
    const read = await c.readResource({ uri: 'demo://resource/dynamic/text/2' });
    expect(read.contents[0]?.uri).toBe('demo://resource/dynamic/text/2');
    const completion = await c.complete({
      ref: { type: 'ref/prompt', name: 'everything__completable-prompt' },
      argument: { name: 'department', value: 'Sa' },
    });
    expect(completion.completion.values).toEqual(['Sales']);

    await expect(
      c.callTool({ name: 'memory__delete_entities', arguments: { entityNames: ['Ada'] } }),
    ).rejects.toThrow(/Unknown tool/);
  });

  it('serves each backend on its own endpoints, unprefixed', async () => {
    const base = await start({ backends: backends() });
    const memory = await client(new URL('/servers/memory/mcp', base));
    const names = (await memory.listTools()).tools.map((t) => t.name);
    expect(names).toContain('create_entities');
    expect(names.some((n) => n.includes('__'))).toBe(false);

    const sse = new SdkClient({ name: 'sse', version: '1' });
    await sse.connect(new SSEClientTransport(new URL('/servers/everything/sse', base)));
    clients.push(sse);
    expect(text(await sse.callTool({ name: 'echo', arguments: { message: 'over sse' } }))).toBe(
      'Echo: over sse',
    );

    const res = await fetch(new URL('/servers/nope/mcp', base), { method: 'POST' });
    expect(res.status).toBe(404);
  });

  it('keeps names unique and within 64 characters', async () => {
    const probe = {
      command: process.execPath,
      args: [join(FIXTURES, 'probe-server.mjs')],
      killGraceMs: 500,
    };
    const long = 'a-backend-with-a-name-long-enough-to-push-its-tools-past-64-characters';
    const base = await start({
      backends: {
        first: { ...probe, prefix: 'probe' },
        second: { ...probe, prefix: 'probe' },
        [long]: probe,
      },
    });
    const c = await client(new URL('/mcp', base));
    const names = (await c.listTools()).tools.map((t) => t.name);
    expect(names.every((n) => n.length <= 64)).toBe(true);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['probe__pid', 'probe__pid_2']));
    // The documented shortening: 55 characters, '_', 8 hex digits of the full name's SHA-256.
    const longPid = shorten(`${long}__pid`);
    expect(longPid).toHaveLength(64);
    expect(longPid).toMatch(/_[0-9a-f]{8}$/);
    expect(names).toContain(longPid);
    // Each name leads to its own process.
    const pidOf = async (name: string) => Number(text(await c.callTool({ name, arguments: {} })));
    const { pids } = gateway!.sessions()[0]!;
    expect(await pidOf('probe__pid')).toBe(pids!.first);
    expect(await pidOf('probe__pid_2')).toBe(pids!.second);
    expect(await pidOf(longPid)).toBe(pids![long]);
  });

  it('isolates a killed backend, restarts it with backoff and brings its tools back', async () => {
    // A first restart delay long enough to look at the gateway while the backend is down.
    const base = await start({
      backends: backends(),
      processes: { restartBackoffMs: 1500, healthCheckIntervalMs: 0 },
    });
    let changed = 0;
    const c = await client(new URL('/mcp', base), (cl) =>
      cl.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++),
    );
    expect((await c.listTools()).tools.some((t) => t.name === 'memory__create_entities')).toBe(
      true,
    );
    const pid = gateway!.sessions()[0]!.pids!.memory!;
    const before = changed;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !isAlive(pid), 5000, 'the memory server to die');
    await waitFor(() => changed > before, 5000, 'list_changed after the backend went down');

    // While it is down: left out of the list, a clear error for its tools, the others work.
    const during = (await c.listTools()).tools.map((t) => t.name);
    expect(during.some((n) => n.startsWith('memory__'))).toBe(false);
    expect(during).toContain('everything__echo');
    await expect(c.callTool({ name: 'memory__graph', arguments: {} })).rejects.toThrow(
      /Backend unavailable: memory is down: .*SIGKILL/,
    );
    expect(gateway!.backends().find((b) => b.name === 'memory')).toMatchObject({ state: 'down' });
    expect((await fetch(new URL('/ready', base))).status).toBe(503);
    expect(
      text(await c.callTool({ name: 'everything__echo', arguments: { message: 'still' } })),
    ).toBe('Echo: still');
    expect(
      text(await c.callTool({ name: 'filesystem__list_allowed_directories', arguments: {} })),
    ).toContain(dir);

    // It comes back on its own, and the client hears of it.
    await waitFor(
      () => {
        const now = gateway!.sessions()[0]!.pids!.memory;
        return now !== undefined && now !== pid;
      },
      10_000,
      'the memory server to be restarted',
    );
    await waitFor(
      () => gateway!.backends().find((b) => b.name === 'memory')?.state === 'up',
      5000,
      'memory to be up',
    );
    const after = (await c.listTools()).tools.map((t) => t.name);
    expect(after).toContain('memory__create_entities');
    expect(gateway!.backends().find((b) => b.name === 'memory')?.restarts).toBeGreaterThanOrEqual(
      1,
    );
  });

  it('reloads: adds and removes a backend without dropping an unrelated session', async () => {
    const all = backends();
    const base = await start({ backends: { everything: all.everything!, memory: all.memory! } });
    const direct = await client(new URL('/servers/everything/mcp', base));
    const sessionBefore = (direct.transport as StreamableHTTPClientTransport).sessionId;
    let changed = 0;
    const aggregated = await client(new URL('/mcp', base), (cl) =>
      cl.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++),
    );
    expect((await aggregated.listTools()).tools.some((t) => t.name.startsWith('memory__'))).toBe(
      true,
    );

    const result = await gateway!.reload(
      parseConfig({
        server: { host: '127.0.0.1', port: 0 },
        processes: { restartBackoffMs: 200, healthCheckIntervalMs: 0 },
        backends: { everything: all.everything!, filesystem: all.filesystem! },
      }),
    );
    expect(result).toMatchObject({ added: ['filesystem'], removed: ['memory'], changed: [] });

    // The unrelated session goes on, in the same session.
    expect(
      text(await direct.callTool({ name: 'echo', arguments: { message: 'after reload' } })),
    ).toBe('Echo: after reload');
    expect((direct.transport as StreamableHTTPClientTransport).sessionId).toBe(sessionBefore);
    // The new backend has its endpoint; the removed one does not.
    const fs = await client(new URL('/servers/filesystem/mcp', base));
    expect((await fs.listTools()).tools.map((t) => t.name)).toContain('read_text_file');
    expect((await fetch(new URL('/servers/memory/mcp', base), { method: 'POST' })).status).toBe(
      404,
    );
    // The aggregated session heard of it and sees the new set.
    await waitFor(() => changed > 0, 5000, 'list_changed on the aggregated session');
    // The new backend joins once its connection is up; list until it shows (list_changed said so).
    let names: string[] = [];
    for (let i = 0; i < 100 && !names.includes('filesystem__read_text_file'); i++) {
      names = (await aggregated.listTools()).tools.map((t) => t.name);
      if (!names.includes('filesystem__read_text_file'))
        await new Promise((r) => setTimeout(r, 100));
    }
    expect(names.some((n) => n.startsWith('memory__'))).toBe(false);
    expect(names).toContain('filesystem__read_text_file');
  });

  it('reports health, readiness, stats and services', async () => {
    const base = await start({ backends: backends() });
    const c = await client(new URL('/servers/everything/mcp', base));
    await c.ping();
    const get = async (path: string) => {
      const res = await fetch(new URL(path, base));
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect((await get('/ready')).status).toBe(200);
    const health = await get('/health');
    expect(health.status).toBe(200);
    const everything = (health.body.backends as Array<Record<string, unknown>>).find(
      (b) => b.name === 'everything',
    );
    expect(everything).toMatchObject({
      state: 'up',
      sessions: 1,
      processes: 1,
      transport: 'stdio',
    });
    const stats = await get('/stats');
    expect(stats.body).toMatchObject({ sessions: { active: 1 }, processes: { running: 1 } });
    expect(((await get('/api/v1/services')).body.services as unknown[]).length).toBe(3);
    expect((await get('/api/v1/services/memory')).body).toMatchObject({
      name: 'memory',
      transport: 'stdio',
    });
    expect((await get('/api/v1/services/memory/health')).body).toMatchObject({
      name: 'memory',
      healthy: true,
    });
    expect((await get('/api/v1/services/nope')).status).toBe(404);
  });
});
