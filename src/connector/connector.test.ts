import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, JSONRPCRequest } from '../core/jsonrpc.js';
import { isRequest } from '../core/jsonrpc.js';
import { createLogger } from '../core/logger.js';
import { TcpFrontend } from '../frontends/tcp.js';
import { Connector } from './connector.js';
import type { ConnectorOptions } from './connector.js';
import { backoffDelay } from './backoff.js';
import { ConnectFlagError, parseConnectArgs } from './command.js';

/*
 * The connector in-process, against a scripted remote: a real TCP frontend on 127.0.0.1 whose
 * sessions are played by the test, so that every message the connector sends can be checked and
 * the connection cut at will.
 */

const log = createLogger({ level: 'silent' });

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** One connection's view of the scripted remote. */
interface RemoteConnection {
  received: JSONRPCMessage[];
  cut(): Promise<void>;
}

/** A remote that answers every request at once, except those `hold` matches. */
async function scriptedRemote(hold: (request: JSONRPCRequest) => boolean) {
  const connections: RemoteConnection[] = [];
  const frontend = new TcpFrontend({
    port: 0,
    log,
    maxMessageBytes: 1 << 20,
    maxDepth: 128,
    openSession: async (client) => {
      const received: JSONRPCMessage[] = [];
      connections.push({ received, cut: () => client.close() });
      client.onmessage = (message) => {
        received.push(message);
        if (!isRequest(message) || hold(message)) return;
        const result =
          message.method === 'initialize'
            ? {
                protocolVersion: '2025-06-18',
                capabilities: {},
                serverInfo: { name: 's', version: '1' },
              }
            : {};
        void client.send({ jsonrpc: '2.0', id: message.id, result });
      };
      await client.start();
      return { id: 'scripted', principal: undefined, inFlight: 0, close: () => client.close() };
    },
  });
  const { port } = await frontend.listen();
  return { url: `tcp://127.0.0.1:${port}`, connections, close: () => frontend.close() };
}

/** The desktop client's end: raw messages in and out. */
async function desktop(options: Omit<ConnectorOptions, 'client' | 'log'>) {
  const [clientSide, connectorSide] = InMemoryTransport.createLinkedPair();
  const inbox: JSONRPCMessage[] = [];
  clientSide.onmessage = (message) => void inbox.push(message);
  await clientSide.start();
  const connector = new Connector({ ...options, client: connectorSide as Transport, log });
  await connector.start();
  const byId = (id: string | number) =>
    inbox.find((m) => 'id' in m && m.id === id && !('method' in m)) as
      { id: unknown; result?: unknown; error?: { code: number; message: string } } | undefined;
  return {
    connector,
    inbox,
    send: (message: JSONRPCMessage) => clientSide.send(message),
    reply: async (id: string | number) => {
      await until(() => byId(id) !== undefined, `the reply to ${id}`);
      return byId(id)!;
    },
  };
}

const INITIALIZE_PARAMS = {
  protocolVersion: '2025-06-18',
  capabilities: { roots: { listChanged: true }, sampling: {} },
  clientInfo: { name: 'Claude Desktop', version: '9.9.9' },
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('Connector', () => {
  it('is passive on first contact, and restores the session with the client’s own initialize', async () => {
    let holding = true;
    const remote = await scriptedRemote(
      (r) =>
        holding &&
        (r.method === 'tools/list' ||
          (r.method === 'tools/call' && (r.params as { name?: string }).name === 'hang')),
    );
    cleanups.push(remote.close);
    const d = await desktop({ url: remote.url, backoff: { initialMs: 10, maxMs: 50 } });
    cleanups.push(() => d.connector.close());

    await d.send({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: INITIALIZE_PARAMS });
    expect(await d.reply('init')).toMatchObject({ result: { protocolVersion: '2025-06-18' } });
    await d.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await d.send({
      jsonrpc: '2.0',
      id: 1,
      method: 'resources/subscribe',
      params: { uri: 'a://1' },
    });
    await d.send({ jsonrpc: '2.0', id: 2, method: 'logging/setLevel', params: { level: 'info' } });
    await d.reply(2);
    await d.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'hang' } });
    await d.send({ jsonrpc: '2.0', id: 4, method: 'tools/list' });
    const first = remote.connections[0]!;
    await until(() => first.received.length === 6, 'the remote to hold both requests');

    // Passive: what reached the remote first is the client's own initialize, and only that one.
    expect(first.received[0]).toMatchObject({ method: 'initialize', params: INITIALIZE_PARAMS });
    expect(first.received.filter((m) => 'method' in m && m.method === 'initialize')).toHaveLength(
      1,
    );

    holding = false;
    await first.cut();
    // The call may have run: a definite error, never sent again. The list is sent again.
    expect((await d.reply(3)).error).toMatchObject({ code: -32022 });
    expect(await d.reply(4)).toMatchObject({ result: {} });
    const second = remote.connections[1]!;
    expect(second.received.map((m) => ('method' in m ? m.method : 'reply'))).toEqual([
      'initialize',
      'notifications/initialized',
      'resources/subscribe',
      'logging/setLevel',
      'tools/list',
    ]);
    expect(second.received[0]).toMatchObject({ params: INITIALIZE_PARAMS });
    expect(second.received[2]).toMatchObject({ params: { uri: 'a://1' } });
    expect(second.received[3]).toMatchObject({ params: { level: 'info' } });
    // The client heard of both ends of the outage, as log notifications.
    await until(
      () =>
        d.inbox.filter((m) => 'method' in m && m.method === 'notifications/message').length === 2,
      'two log notifications',
    );
    const notices = d.inbox.filter((m) => 'method' in m && m.method === 'notifications/message');
    expect(
      notices.map((m) => (m as unknown as { params: { level: string } }).params.level),
    ).toEqual(['warning', 'info']);
    expect(d.connector.snapshot()).toMatchObject({ state: 'connected', reconnects: 1 });
  });

  it('answers a request beyond the queue at once, and one that waits too long when it expires', async () => {
    // A port nothing listens on: the link never comes up.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const d = await desktop({
      url: `tcp://127.0.0.1:${port}`,
      queue: { maxSize: 1, maxWaitMs: 300 },
      backoff: { initialMs: 10, maxMs: 50 },
    });
    cleanups.push(() => d.connector.close());
    await d.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: INITIALIZE_PARAMS });
    await d.send({ jsonrpc: '2.0', id: 2, method: 'ping' });
    const full = await d.reply(2);
    expect(full.error).toMatchObject({ code: -32020 });
    expect(full.error!.message).toMatch(/1 requests already wait .*--queue-size/);
    const expired = await d.reply(1);
    expect(expired.error).toMatchObject({ code: -32021 });
    expect(expired.error!.message).toMatch(/not back within 300 ms.*last error: .*ECONNREFUSED/);
    expect(d.connector.snapshot()).toMatchObject({ state: 'reconnecting', queueDepth: 0 });
  });
});

describe('backoffDelay', () => {
  it('draws from [0, min(max, initial × 2^attempt)]', () => {
    expect(backoffDelay(0, { initialMs: 100, maxMs: 1000 }, () => 0.999)).toBe(99);
    expect(backoffDelay(3, { initialMs: 100, maxMs: 1000 }, () => 0.999)).toBe(799);
    expect(backoffDelay(50, { initialMs: 100, maxMs: 1000 }, () => 0.999)).toBe(999);
    expect(backoffDelay(5, { initialMs: 100, maxMs: 1000 }, () => 0)).toBe(0);
  });
});

describe('parseConnectArgs', () => {
  const bad: Array<[string[], RegExp]> = [
    [[], /give the remote URL/],
    [['not a url'], /expected an absolute http\(s\):\/\/, ws\(s\):\/\/ or tcp\(s\):\/\/ URL/],
    [['ftp://example.com'], /ftp is not a transport the connector speaks/],
    [['http://x/mcp', '--transport', 'carrier-pigeon'], /--transport: expected one of auto/],
    [['ws://x/ws', '--transport', 'sse'], /--transport: sse cannot reach a ws:\/\/ URL/],
    [['http://x/mcp', '--header', 'no colon'], /--header: expected "Name: value"/],
    [['http://x/mcp', '--bearer-token-env', 'UNSET_FOR_TEST'], /UNSET_FOR_TEST is not set/],
    [
      ['http://x/mcp', '--queue-size=-1'],
      /--queue-size: expected an integer of at least 0, got "-1"/,
    ],
    [['http://x/mcp', '--queue-wait-ms', '1.5'], /--queue-wait-ms: expected an integer/],
    [['http://x/mcp', '--backoff-initial-ms', '900', '--backoff-max-ms', '100'], /must not exceed/],
    [['http://x/mcp', '--log-level', 'loud'], /--log-level: expected one of/],
    [['http://x/mcp', '--frobnicate'], /Unknown option '--frobnicate'/],
  ];
  it.each(bad)('refuses %j with a message naming the problem', (args, why) => {
    expect(() => parseConnectArgs(args, {})).toThrow(ConnectFlagError);
    expect(() => parseConnectArgs(args, {})).toThrow(why);
  });

  it('takes headers and a bearer token from the environment, and infers the transport', async () => {
    const settings = parseConnectArgs(
      ['wss://gw.example/ws', '--header', 'X-Team: blue', '--bearer-token-env', 'TOKEN'],
      { TOKEN: 's3cret' },
    );
    if (settings === 'help') throw new Error('unexpected help');
    expect(settings.transport).toBe('websocket');
    expect(await settings.credentials!.headers()).toEqual({
      'X-Team': 'blue',
      Authorization: 'Bearer s3cret',
    });
    expect(settings.credentials!.describe()).not.toContain('s3cret');
  });
});
