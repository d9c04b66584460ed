import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createGateway, parseConfig } from '../../src/index.js';
import type { Gateway, GatewayConfigInput } from '../../src/index.js';
import { createLogger } from '../../src/core/logger.js';
import { EVERYTHING, FIXTURES, connectClient } from '../helpers.js';
import { text } from '../cases.js';

/*
 * What the target layer promises, through a real gateway: the aggregated endpoint waits for
 * backends that are starting, a backend's tool filters hold on every endpoint, names are
 * prefixed only as configured, and a reload's breaker and retry settings apply at once.
 */

const probe = (...args: string[]) => ({
  transport: 'stdio' as const,
  command: process.execPath,
  args: [join(FIXTURES, 'probe-server.mjs'), ...args],
  killGraceMs: 500,
});
const everything = { command: process.execPath, args: [EVERYTHING, 'stdio'], killGraceMs: 500 };

let gateway: Gateway | undefined;
const clients: Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  await gateway?.close();
  gateway = undefined;
});

async function start(input: GatewayConfigInput): Promise<URL> {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    processes: { healthCheckIntervalMs: 0 },
    ...input,
  });
  gateway = createGateway(config, {
    log: createLogger({ level: (process.env.MCP_BRIDGE_TEST_LOG as 'debug') ?? 'silent' }),
  });
  const address = await gateway.listen();
  return new URL(`http://127.0.0.1:${address.port}/`);
}

async function client(url: URL): Promise<Client> {
  const c = await connectClient(url);
  clients.push(c);
  return c;
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => 'ok',
    (error: unknown) => String((error as Error).message),
  );

describe('targets', () => {
  // The first tools/list used to return 9 of 28 tools, and a call got "files is connecting".
  it('answers the first aggregated tools/list completely while a pooled backend takes 6 s to start', async () => {
    const base = await start({
      backends: {
        quick: probe(),
        slow: { ...probe('--start-delay=6000'), processModel: 'pool', poolSize: 1 },
      },
    });
    const c = await client(new URL('/mcp', base));
    const names = (await c.listTools()).tools.map((t) => t.name);
    for (const tool of ['wait', 'pid', 'big', 'freeze', 'cancellations']) {
      expect(names).toContain(`quick__${tool}`);
      expect(names).toContain(`slow__${tool}`);
    }
    expect(Number(text(await c.callTool({ name: 'slow__pid', arguments: {} })))).toBeGreaterThan(0);
  });

  it('declares the same capabilities on initialize whoever is up', async () => {
    const base = await start({
      backends: { quick: probe(), slow: { ...probe('--start-delay=6000'), processModel: 'pool' } },
    });
    const c = await client(new URL('/mcp', base));
    expect(c.getServerCapabilities()).toEqual({
      tools: { listChanged: true },
      prompts: { listChanged: true },
      resources: { listChanged: true, subscribe: true },
      logging: {},
      completions: {},
    });
  });

  // The documented example excluded get-env, which was still listed and callable on its own endpoint.
  it("keeps a backend's tool filters on its own endpoint", async () => {
    const base = await start({
      backends: {
        everything: {
          ...everything,
          tools: { exclude: ['get-env'], overrides: { echo: { name: 'say' } } },
        },
        other: probe(),
      },
    });
    for (const [path, prefix] of [
      ['/servers/everything/mcp', ''],
      ['/mcp', 'everything__'],
    ] as const) {
      const c = await client(new URL(path, base));
      const names = (await c.listTools()).tools.map((t) => t.name);
      expect(names).not.toContain(`${prefix}get-env`);
      expect(names).toContain(`${prefix}say`);
      expect(names).not.toContain(`${prefix}echo`);
      await expect(c.callTool({ name: `${prefix}get-env`, arguments: {} })).rejects.toThrow(
        /Unknown tool/,
      );
      expect(text(await c.callTool({ name: `${prefix}say`, arguments: { message: 'x' } }))).toBe(
        'Echo: x',
      );
    }
  });

  it('prefixes only names two backends share with aggregate.prefix: on-collision', async () => {
    const base = await start({
      aggregate: { prefix: 'on-collision' },
      backends: { everything, one: probe(), two: probe() },
    });
    const c = await client(new URL('/mcp', base));
    const names = (await c.listTools()).tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names).toEqual(expect.arrayContaining(['one__pid', 'two__pid']));
    expect(names).not.toContain('pid');
    expect(text(await c.callTool({ name: 'echo', arguments: { message: 'bare' } }))).toBe(
      'Echo: bare',
    );
    const [a, b] = await Promise.all(
      ['one__pid', 'two__pid'].map(async (name) => text(await c.callTool({ name, arguments: {} }))),
    );
    expect(a).not.toBe(b);
  });

  it('offers bare names with aggregate.prefix: never, and fails clearly on a collision', async () => {
    let base = await start({
      aggregate: { prefix: 'never' },
      backends: { everything, one: probe() },
    });
    let c = await client(new URL('/mcp', base));
    const names = (await c.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'pid']));
    expect(names.some((n) => n.includes('__'))).toBe(false);
    expect(Number(text(await c.callTool({ name: 'pid', arguments: {} })))).toBeGreaterThan(0);
    await c.close();
    await gateway!.close();

    base = await start({
      aggregate: { prefix: 'never' },
      backends: { one: probe(), two: probe() },
    });
    c = await client(new URL('/mcp', base));
    const refused = await failure(c.listTools());
    expect(refused).toMatch(/Name offered by two backends: "\w+" is offered by one and two/);
  });

  // Reload compared the new breaker settings with themselves, and retries were captured once.
  it('applies breaker and retry changes on reload to sessions already open', async () => {
    const input = {
      server: { host: '127.0.0.1', port: 0 },
      processes: { healthCheckIntervalMs: 0 },
      backends: { slow: { ...probe(), timeoutMs: 200 } },
      breakers: { enabled: true, failureThreshold: 100, failureRatio: 0 },
    };
    const base = await start(input);
    const c = await client(new URL('/mcp', base));
    const hang = () => failure(c.callTool({ name: 'wait', arguments: { ms: 5000 } }));
    expect(await hang()).toMatch(/timed out|did not answer/);
    expect(await hang()).toMatch(/did not answer/);

    const result = await gateway!.reload(
      parseConfig({ ...input, breakers: { enabled: true, failureThreshold: 1, failureRatio: 0 } }),
    );
    expect(result.ignored).toEqual([]);
    expect(await hang()).toMatch(/did not answer/);
    expect(await hang()).toMatch(/Backend circuit open/);

    await gateway!.reload(parseConfig({ ...input, breakers: { enabled: false } }));
    expect(await hang()).toMatch(/did not answer/);
  });
});
