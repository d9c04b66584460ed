import { afterEach, describe, expect, it } from 'vitest';
import { connectorClient, longCallAcrossCut, startGateway, tcpRelay, waitFor } from '../helpers.js';

/*
 * The connector as a client of the seed's WebSocket control dialect (`--transport
 * websocket-control`): it asks the gateway for a session with create_session, and after the
 * network drops it attaches to the same session again (attach_session): the gateway kept the
 * session and what it sent meanwhile, so a call in flight across the cut completes with every
 * progress notification, and nothing is re-initialized. A gateway that no longer has the session
 * (here: a new one behind the same address) refuses the attach; the connector then opens a new
 * session and restores it, as over the other transports.
 */

describe('mcp-bridge connect --transport websocket-control', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  });

  async function through(url: string) {
    const link = await connectorClient(url, ['--transport', 'websocket-control']);
    cleanup.push(() => link.client.close());
    return link;
  }

  it('attaches to its session again after a cut: the call in flight completes, every progress once', async () => {
    const gw = await startGateway();
    cleanup.push(() => gw.close());
    const relay = await tcpRelay(Number(gw.url.port));
    cleanup.push(() => relay.close());
    const { client, stderr, received } = await through(`ws://127.0.0.1:${relay.port}/ws`);

    const onWire = await longCallAcrossCut(client, relay, received);
    expect(onWire).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 'result']);
    expect(stderr()).toContain('the session was attached again');
    expect(stderr()).not.toContain('the session was restored');
    // The same session goes on.
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
  });

  it('opens a new session and restores it when the gateway no longer has the old one', async () => {
    const first = await startGateway();
    cleanup.push(() => first.close());
    const relay = await tcpRelay(Number(first.url.port));
    cleanup.push(() => relay.close());
    const { client, stderr } = await through(`ws://127.0.0.1:${relay.port}/ws`);
    expect(
      (await client.callTool({ name: 'echo', arguments: { message: 'one' } })).content,
    ).toEqual([{ type: 'text', text: 'Echo: one' }]);

    const second = await startGateway();
    cleanup.push(() => second.close());
    relay.retarget(Number(second.url.port));
    relay.cut();
    await waitFor(() => stderr().includes('the session was restored'), 15_000, 'the restore');
    expect(stderr()).toContain('the session could not be attached again');
    expect(
      (await client.callTool({ name: 'echo', arguments: { message: 'two' } })).content,
    ).toEqual([{ type: 'text', text: 'Echo: two' }]);
  });
});
