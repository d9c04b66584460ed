import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FIXTURES,
  connectClient,
  everythingStdio,
  startGateway,
  startProbeHttp,
} from '../helpers.js';
import type { RunningGateway } from '../helpers.js';
import { text } from '../cases.js';

/*
 * Large messages over Streamable HTTP and stdio: 10 MiB pass intact under the default limit;
 * over a configured limit, the client gets 413 or a JSON-RPC error, and the gateway goes on.
 * matrix.test.ts runs the 10 MiB case over every other transport pair.
 */

const MiB = 1024 * 1024;
const probe = {
  transport: 'stdio' as const,
  command: process.execPath,
  args: [join(FIXTURES, 'probe-server.mjs')],
  killGraceMs: 500,
};

describe('large messages', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  });

  async function gateway(
    backend: Parameters<typeof startGateway>[0],
    maxMessageBytes?: number,
  ): Promise<RunningGateway> {
    const gw = await startGateway(backend, maxMessageBytes ? { limits: { maxMessageBytes } } : {});
    cleanup.push(() => gw.close());
    return gw;
  }

  it('passes a 10 MiB argument and a 10 MiB result intact', async () => {
    const gw = await gateway(everythingStdio);
    const client = await connectClient(gw.url);
    cleanup.push(() => client.close());
    // The official SDK's stdio transport (server-everything's) refuses a message over 10 MiB with
    // its framing, so this is the largest echo that fits; a pattern, so that corruption shows.
    const message = 'abcdefghij'.repeat(Math.floor((10 * MiB - 1024) / 10));
    const result = await client.callTool({ name: 'echo', arguments: { message } });
    expect(text(result)).toBe(`Echo: ${message}`);
  });

  // The SDK's HTTP server transports cap request bodies at 4 MB, so a 10 MiB argument cannot
  // reach any SDK-built HTTP server; a 10 MiB result can, and must come through intact.
  it.each(['streamable', 'sse'] as const)(
    'passes a 10 MiB result from an HTTP backend (%s) intact',
    async (mode) => {
      const server = await startProbeHttp(mode);
      cleanup.push(() => server.close());
      const gw = await gateway({
        url: server.url,
        transport: mode === 'sse' ? 'sse' : 'streamable-http',
      });
      const client = await connectClient(gw.url);
      cleanup.push(() => client.close());
      const result = await client.callTool({ name: 'big', arguments: { bytes: 10 * MiB } });
      expect(text(result)).toBe('abcdefghij'.repeat(MiB));
    },
  );

  it('answers a body over the limit with 413 and keeps the session', async () => {
    const gw = await gateway(everythingStdio, MiB);
    const client = await connectClient(gw.url);
    cleanup.push(() => client.close());
    await expect(
      client.callTool({ name: 'echo', arguments: { message: 'x'.repeat(2 * MiB) } }),
    ).rejects.toThrow(/413|Payload too large/);
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'small' } }))).toBe(
      'Echo: small',
    );
  });

  it('fails a call whose result is over the limit with a JSON-RPC error, and goes on', async () => {
    const gw = await gateway(probe, MiB);
    const client = await connectClient(gw.url);
    cleanup.push(() => client.close());
    await expect(client.callTool({ name: 'big', arguments: { bytes: 2 * MiB } })).rejects.toThrow(
      /Payload too large: the backend's reply of \d+ bytes exceeds the limit of 1048576 bytes/,
    );
    expect(text(await client.callTool({ name: 'big', arguments: { bytes: 1000 } }))).toHaveLength(
      1000,
    );
  });
});
