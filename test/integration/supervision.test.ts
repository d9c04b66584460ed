import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createGateway, parseConfig } from '../../src/index.js';
import type { Gateway, GatewayConfigInput } from '../../src/index.js';
import { createLogger } from '../../src/core/logger.js';
import {
  FIXTURES,
  connectClient,
  everythingStdio,
  isAlive,
  waitFor,
  initializeRequest,
  ACCEPT_JSON_AND_SSE as ACCEPT,
} from '../helpers.js';
import { text } from '../cases.js';

/*
 * Supervision: process and session caps, idle sessions and idle processes, eager start, health
 * checks that restart a hung backend, and a shutdown that lets requests in flight finish.
 */

const probe = {
  command: process.execPath,
  args: [join(FIXTURES, 'probe-server.mjs')],
  killGraceMs: 300,
};

let gateway: Gateway | undefined;
const clients: Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  await gateway?.close();
  gateway = undefined;
});

async function start(input: Omit<GatewayConfigInput, 'server'>): Promise<URL> {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0, shutdownTimeoutMs: 3000 },
    ...input,
  });
  gateway = createGateway(config, {
    log: createLogger({ level: (process.env.MCP_BRIDGE_TEST_LOG as 'debug') ?? 'silent' }),
  });
  const address = await gateway.listen();
  return new URL(`http://127.0.0.1:${address.port}/mcp`);
}

async function client(url: URL): Promise<Client> {
  const c = await connectClient(url);
  clients.push(c);
  return c;
}

async function initialize(
  url: URL,
): Promise<{ status: number; body: { error?: { message: string; data?: { code?: string } } } }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT },
    body: JSON.stringify(initializeRequest({ name: 'raw' })),
  });
  return { status: res.status, body: (await res.json()) as never };
}

describe('supervision', () => {
  it('caps processes globally and per backend with 503', async () => {
    const url = await start({ processes: { max: 2 }, backends: { probe } });
    await client(url);
    await client(url);
    const third = await initialize(url);
    expect(third.status).toBe(503);
    expect(third.body.error?.data?.code).toBe('GATEWAY_CAPACITY');
    expect(third.body.error?.message).toContain('processes.max');
  });

  it('caps a backend of its own with maxProcesses', async () => {
    const url = await start({ backends: { probe: { ...probe, maxProcesses: 1 } } });
    await client(url);
    const second = await initialize(url);
    expect(second.status).toBe(503);
    expect(second.body.error?.message).toContain('maxProcesses');
  });

  it('caps sessions per client address with 429', async () => {
    const url = await start({
      sessions: { maxPerClient: 2 },
      backends: { probe: { ...probe, processModel: 'shared' } },
    });
    await client(url);
    await client(url);
    const third = await initialize(url);
    expect(third.status).toBe(429);
    expect(third.body.error?.data?.code).toBe('GATEWAY_TOO_MANY_SESSIONS');
  });

  it('closes idle sessions and ends their processes', async () => {
    const url = await start({
      sessions: { idleTimeoutMs: 1000, cleanupIntervalMs: 100 },
      backends: { probe },
    });
    await client(url);
    const pid = gateway!.sessions()[0]!.pid!;
    await waitFor(() => gateway!.sessions().length === 0, 5000, 'the idle session to be closed');
    await waitFor(() => !isAlive(pid), 5000, 'its process to end');
  });

  it('stops a shared process that has served no session for processes.idleTimeoutMs', async () => {
    const url = await start({
      sessions: { cleanupIntervalMs: 100 },
      processes: { idleTimeoutMs: 300 },
      backends: { probe: { ...probe, processModel: 'shared' } },
    });
    const c = await client(url);
    const pid = Number(text(await c.callTool({ name: 'pid', arguments: {} })));
    await (c.transport as unknown as { terminateSession(): Promise<void> }).terminateSession();
    await waitFor(() => !isAlive(pid), 5000, 'the idle shared process to stop');
  });

  it('starts an eager shared process with the gateway', async () => {
    await start({ backends: { probe: { ...probe, processModel: 'shared', start: 'eager' } } });
    expect(gateway!.backends()[0]).toMatchObject({ name: 'probe', processes: 1 });
  });

  it('restarts a backend that stops answering health checks', async () => {
    const url = await start({
      processes: { healthCheckIntervalMs: 300, healthCheckTimeoutMs: 300, restartBackoffMs: 100 },
      backends: { probe, everything: everythingStdio },
    });
    const c = await client(url);
    const pid = gateway!.sessions()[0]!.pids!.probe!;
    // The probe server blocks its event loop: it answers nothing, pings included.
    const frozen = c
      .callTool({ name: 'probe__freeze', arguments: { ms: 4000 } })
      .catch((e: Error) => e);
    await waitFor(
      () => {
        const now = gateway!.sessions()[0]!.pids!.probe;
        return now !== undefined && now !== pid;
      },
      10_000,
      'the hung backend to be replaced',
    );
    expect(String(await frozen)).toMatch(/health check failed|Backend/);
    await waitFor(
      () => gateway!.backends().find((b) => b.name === 'probe')?.state === 'up',
      10_000,
      'probe to be up again',
    );
    expect(text(await c.callTool({ name: 'probe__pid', arguments: {} }))).not.toBe(String(pid));
  });

  it('lets a request in flight finish when the gateway shuts down', async () => {
    const url = await start({ backends: { everything: everythingStdio } });
    const c = await client(url);
    const call = c.callTool({
      name: 'trigger-long-running-operation',
      arguments: { duration: 0.8, steps: 2 },
    });
    await waitFor(() => gateway!.sessions()[0]?.inFlight === 1, 5000, 'the call to be in flight');
    const closing = gateway!.close();
    expect(text(await call)).toContain('Long running operation completed');
    await closing;
    gateway = undefined;
    // Nothing is accepted any more.
    await expect(fetch(url, { method: 'POST' })).rejects.toThrow();
  });
});
