import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/index.js';
import type { GatewayConfigInput } from '../../src/index.js';
import { FIXTURES, waitFor } from '../helpers.js';
import { scrape, startObservedGateway } from '../observability-helpers.js';

/*
 * The response cache (`cache`, backends.<name>.cache) in front of a real backend: the replica
 * fixture over stdio records every request it answers in a state directory, so the tests count
 * what reached the backend rather than trust the gateway's word. Redis is the real one on
 * 127.0.0.1:6379, under a key prefix of this run's own, deleted at the end.
 */

const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = `mcp-bridge-test:${randomUUID()}:`;
const KEY_A = 'cache-test-key-alice-0001';
const KEY_B = 'cache-test-key-bobby-0002';

let dir: string;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-cache-'));
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

/** A fresh state directory for one backend (or several sharing one record). */
function stateDir(): string {
  return mkdtempSync(join(dir, 'state-'));
}

/** How many requests of `method` (`tools/call:add`, say) the backend(s) answered. */
function answered(state: string, method: string): number {
  const file = join(state, 'requests');
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.split(' ')[1] === method).length;
}

const replica = (state: string) => ({
  command: process.execPath,
  args: [join(FIXTURES, 'replica-server.mjs'), state],
  // One process for every session: what it lists is what every session would list.
  processModel: 'shared' as const,
  killGraceMs: 300,
});

async function start(state: string, extra: Partial<GatewayConfigInput> = {}) {
  const gateway = await startObservedGateway({
    backends: { replica: replica(state) },
    cache: { enabled: true },
    ...extra,
  });
  cleanup.push(() => gateway.close());
  return gateway;
}

async function client(url: URL, apiKey?: string): Promise<Client> {
  const c = new Client({ name: 'cache-test', version: '1.0.0' });
  await c.connect(
    new StreamableHTTPClientTransport(url, {
      requestInit: apiKey ? { headers: { 'x-api-key': apiKey } } : undefined,
    }),
  );
  cleanup.push(() => c.close());
  return c;
}

const textOf = (result: Record<string, unknown>) =>
  (result.content as Array<{ text: string }>)[0]!.text;

describe('response cache, in memory', () => {
  it('serves lists from the cache, drops them on list_changed, and counts hits and misses', async () => {
    const state = stateDir();
    const gw = await start(state);
    const one = await client(gw.url);
    const two = await client(gw.url);
    const first = await one.listTools();
    expect(first.tools.map((t) => t.name)).toEqual(['echo', 'add', 'stamp', 'change']);
    expect(await two.listTools()).toEqual(first);
    expect(await one.listTools()).toEqual(first);
    expect(answered(state, 'tools/list')).toBe(1);

    // The backend says its list changed: the next list is the new one, from the backend.
    let told = false;
    one.setNotificationHandler(
      (await import('@modelcontextprotocol/sdk/types.js')).ToolListChangedNotificationSchema,
      () => {
        told = true;
      },
    );
    await one.callTool({ name: 'change', arguments: {} });
    await waitFor(() => told, 5000, 'tools/list_changed to reach the client');
    const changed = await two.listTools();
    expect(changed.tools.map((t) => t.name)).toContain('extra');
    expect(answered(state, 'tools/list')).toBe(2);

    const metrics = await scrape(gw.admin);
    const lookups = (result: string) =>
      metrics.value('mcp_gateway_cache_requests_total', {
        backend: 'replica',
        method: 'tools/list',
        result,
      });
    expect({ hits: lookups('hit'), misses: lookups('miss') }).toEqual({ hits: 2, misses: 2 });
    expect(
      metrics.value('mcp_gateway_cache_invalidations_total', {
        backend: 'replica',
        notification: 'notifications/tools/list_changed',
      }),
    ).toBe(1);
  });

  it('caches calls only of tools named pure, per arguments; never other calls', async () => {
    const state = stateDir();
    const gw = await start(state, {
      backends: { replica: { ...replica(state), cache: { pureTools: ['add'] } } },
    });
    const c = await client(gw.url);
    const sum = await c.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
    expect(textOf(sum)).toBe('5');
    // Key order does not make another entry.
    expect(await c.callTool({ name: 'add', arguments: { b: 3, a: 2 } })).toEqual(sum);
    expect(answered(state, 'tools/call:add')).toBe(1);
    expect(textOf(await c.callTool({ name: 'add', arguments: { a: 2, b: 4 } }))).toBe('6');
    expect(answered(state, 'tools/call:add')).toBe(2);
    const stamps = [
      textOf(await c.callTool({ name: 'stamp', arguments: {} })),
      textOf(await c.callTool({ name: 'stamp', arguments: {} })),
    ];
    expect(stamps[0]).not.toBe(stamps[1]);
    expect(answered(state, 'tools/call:stamp')).toBe(2);
  });

  it('keeps a read the server marks (ttlMs, cacheScope public) and no unmarked one', async () => {
    const state = stateDir();
    const gw = await start(state);
    const c = await client(gw.url);
    const hinted = await c.readResource({ uri: 'fixture://hinted' });
    expect(await c.readResource({ uri: 'fixture://hinted' })).toEqual(hinted);
    expect(answered(state, 'resources/read:fixture://hinted')).toBe(1);
    const plain = await c.readResource({ uri: 'fixture://plain' });
    const again = await c.readResource({ uri: 'fixture://plain' });
    expect(again).not.toEqual(plain);
    expect(answered(state, 'resources/read:fixture://plain')).toBe(2);
  });

  it('keeps private results per principal, and shares public ones', async () => {
    const state = stateDir();
    const gw = await start(state, { auth: { required: true, apiKeys: [KEY_A, KEY_B] } });
    const alice = await client(gw.url, KEY_A);
    const bob = await client(gw.url, KEY_B);
    await alice.listTools();
    await bob.listTools(); // cache.scope private: bob's own entry
    await alice.listTools();
    expect(answered(state, 'tools/list')).toBe(2);
    await alice.readResource({ uri: 'fixture://hinted' });
    await bob.readResource({ uri: 'fixture://hinted' }); // the server said public
    expect(answered(state, 'resources/read:fixture://hinted')).toBe(1);
  });
});

describe('response cache, on the aggregated endpoint', () => {
  // The aggregated endpoint keeps its members' lists itself; calls are what reach each
  // backend's chain every time, so pure calls show the cache working per backend there.
  it('caches each backend on its own, and a list_changed drops only its backend', async () => {
    const left = stateDir();
    const right = stateDir();
    const gw = await start(left, {
      backends: {
        left: { ...replica(left), cache: { pureTools: ['add'] } },
        right: { ...replica(right), cache: { enabled: false } },
      },
    });
    const c = await client(gw.url);
    const add = (name: string) => c.callTool({ name, arguments: { a: 1, b: 2 } });
    for (let i = 0; i < 2; i++) {
      expect(textOf(await add('left__add'))).toBe('3');
      expect(textOf(await add('right__add'))).toBe('3');
    }
    expect([answered(left, 'tools/call:add'), answered(right, 'tools/call:add')]).toEqual([1, 2]);
    // The tools changed: a pure call's result may be another now.
    await c.callTool({ name: 'left__change', arguments: {} });
    await add('left__add');
    expect(answered(left, 'tools/call:add')).toBe(2);
  });
});

describe('response cache, in Redis', () => {
  it('is shared by two gateways, and a list_changed at one drops the entry for both', async () => {
    const state = stateDir();
    const shared: Partial<GatewayConfigInput> = {
      cache: { enabled: true, store: 'redis' },
      redis: { url: REDIS_URL, keyPrefix: PREFIX },
    };
    const first = await start(state, shared);
    const second = await start(state, shared);
    const a = await client(first.url);
    const b = await client(second.url);
    const listed = await a.listTools();
    expect(await b.listTools()).toEqual(listed);
    // Two gateways, two backend processes, one list asked for.
    expect(answered(state, 'tools/list')).toBe(1);
    const redis = new Redis(REDIS_URL);
    cleanup.push(() => redis.quit());
    expect((await redis.keys(`${PREFIX}cache:*`)).length).toBe(1);

    await a.callTool({ name: 'change', arguments: {} });
    await waitFor(
      () => answered(state, 'tools/call:change') === 1,
      5000,
      'the change to be answered',
    );
    // The notification is handled as it arrives; the drop in Redis follows it at once.
    for (let i = 0; (await redis.keys(`${PREFIX}cache:*`)).length > 0; i++) {
      if (i > 100) throw new Error('the Redis entry was never dropped');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await b.listTools();
    expect(answered(state, 'tools/list')).toBe(2);
  });
});

describe('response cache, Redis unreachable', () => {
  it('serves every request from the backend, uncached, rather than fail it', async () => {
    const state = stateDir();
    // Nothing listens on port 1: every command fails at once (no offline queue).
    const gw = await start(state, {
      cache: { enabled: true, store: 'redis' },
      redis: { url: 'redis://127.0.0.1:1', keyPrefix: PREFIX },
    });
    const c = await client(gw.url);
    const first = await c.listTools();
    expect(await c.listTools()).toEqual(first);
    expect(answered(state, 'tools/list')).toBe(2);
  });
});

describe('cache configuration', () => {
  const parse = (extra: Record<string, unknown>) => () =>
    parseConfig({ backends: { r: { command: 'x' } }, ...extra });

  it('names the exact path of a bad setting', () => {
    expect(parse({ cache: { store: 'redis' } })).toThrow(
      'cache.store: "redis" needs redis.url (REDIS_URL)',
    );
    expect(parse({ cache: { maxBytes: 2048, maxEntryBytes: 4096 } })).toThrow(
      'cache.maxEntryBytes: expected at most cache.maxBytes',
    );
    expect(parse({ cache: { ttlMs: -1 } })).toThrow(/cache\.ttlMs: /);
    expect(
      parse({ backends: { r: { command: 'x', cache: { methods: ['tools/call'] } } } }),
    ).toThrow(/backends\.r\.cache\.methods\[0\]: /);
    expect(parse({ backends: { r: { command: 'x', cache: { scope: 'everyone' } } } })).toThrow(
      /backends\.r\.cache\.scope: /,
    );
  });
});
