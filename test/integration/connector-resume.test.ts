import { afterEach, describe, expect, it } from 'vitest';
import { connectorClient, longCallAcrossCut, startGateway, tcpRelay, waitFor } from '../helpers.js';

/*
 * Last-Event-ID across a break: the network between the connector and the gateway is cut (a TCP
 * relay drops every connection) while a long tools/call streams its progress. The gateway still
 * has the session, so the connector goes on with it and resumes the call's stream from its last
 * event id: the client gets every progress notification once and the call's result, where
 * without resumption it would get -32022 (the call may have run). When the session is gone too
 * (a gateway SIGKILLed and restarted), connector-outage.test.ts shows the call getting -32022
 * and the session restored, as before.
 */

describe('mcp-bridge connect: stream resumption', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  });

  async function through(url: string) {
    const link = await connectorClient(url, []);
    cleanup.push(() => link.client.close());
    return link;
  }

  it('resumes a call’s stream after a cut: every progress once, and the result', async () => {
    const gw = await startGateway();
    cleanup.push(() => gw.close());
    const relay = await tcpRelay(Number(gw.url.port));
    cleanup.push(() => relay.close());
    const { client, stderr, received } = await through(`http://127.0.0.1:${relay.port}/mcp`);

    const onWire = await longCallAcrossCut(client, relay, received);
    expect(onWire).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 'result']);
    expect(stderr()).toContain('the session was still there, and its streams were resumed');
    // The same session goes on, its standalone GET stream open again: a notification the
    // server sends outside any request (simulated logging, every 5 s) reaches the client.
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.setLoggingLevel('debug');
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    // Counted from the tool's reply on: one sent while its POST was open could ride on that.
    const from = received.length;
    const fromServer = () =>
      received.slice(from).some((m) => {
        const message = m as { method?: string; params?: { logger?: string } };
        return (
          message.method === 'notifications/message' &&
          message.params?.logger !== 'mcp-bridge-connector'
        );
      });
    await waitFor(fromServer, 15_000, 'a log notification from the server on the GET stream');
  }, 30_000);
});
