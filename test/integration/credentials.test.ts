import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createGateway, parseConfig } from '../../src/index.js';
import type { GatewayConfigInput } from '../../src/index.js';
import { createLogger } from '../../src/core/logger.js';
import { startProbeHttp } from '../helpers.js';
import { text } from '../cases.js';

/*
 * Credentials to backends: the caller's own token (passthrough), or one exchanged for it at a
 * token endpoint (RFC 8693) that the backend sees instead of the caller's.
 */

const CALLER_KEY = 'caller-api-key-0123456789';
const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await Promise.resolve(step()).catch(() => {});
});

async function gatewayFor(backend: NonNullable<GatewayConfigInput['backends']>[string]) {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    auth: { required: true, apiKeys: [CALLER_KEY] },
    backends: { remote: backend },
  });
  const gateway = createGateway(config, { log: createLogger({ level: 'silent' }) });
  const address = await gateway.listen();
  cleanup.push(() => gateway.close());
  const client = new Client({ name: 'creds', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${address.port}/mcp`), {
      requestInit: { headers: { 'x-api-key': CALLER_KEY } },
    }),
  );
  cleanup.push(() => client.close());
  return client;
}

describe('credentials to backends', () => {
  it('sends nothing of the caller by default', async () => {
    const server = await startProbeHttp('streamable');
    cleanup.push(() => server.close());
    const client = await gatewayFor({ url: server.url, transport: 'streamable-http' });
    expect(text(await client.callTool({ name: 'whoami', arguments: {} }))).toBe('(none)');
  });

  it("passes the caller's token through when told to", async () => {
    const server = await startProbeHttp('streamable');
    cleanup.push(() => server.close());
    const client = await gatewayFor({
      url: server.url,
      transport: 'streamable-http',
      credentials: { type: 'passthrough' },
    });
    expect(text(await client.callTool({ name: 'whoami', arguments: {} }))).toBe(
      `Bearer ${CALLER_KEY}`,
    );
  });

  it("exchanges the caller's token at the token endpoint, and the backend sees only the exchanged one", async () => {
    const requests: URLSearchParams[] = [];
    let basic = '';
    const tokenEndpoint: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        basic = req.headers.authorization ?? '';
        const form = new URLSearchParams(body);
        requests.push(form);
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            access_token: `exchanged-for-${form.get('audience')}`,
            token_type: 'Bearer',
            expires_in: 600,
          }),
        );
      });
    });
    await new Promise<void>((resolve) => tokenEndpoint.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise<void>((resolve) => tokenEndpoint.close(() => resolve())));
    const server = await startProbeHttp('streamable');
    cleanup.push(() => server.close());
    const client = await gatewayFor({
      url: server.url,
      transport: 'streamable-http',
      credentials: {
        type: 'exchange',
        tokenUrl: `http://127.0.0.1:${(tokenEndpoint.address() as { port: number }).port}/token`,
        clientId: 'mcp-bridge',
        clientSecret: 'client-secret-value',
        audience: 'probe-backend',
        scope: 'probe:call',
      },
    });
    expect(text(await client.callTool({ name: 'whoami', arguments: {} }))).toBe(
      'Bearer exchanged-for-probe-backend',
    );
    expect(requests).toHaveLength(1);
    const form = requests[0]!;
    expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:token-exchange');
    expect(form.get('subject_token')).toBe(CALLER_KEY);
    expect(form.get('subject_token_type')).toBe('urn:ietf:params:oauth:token-type:access_token');
    expect(form.get('scope')).toBe('probe:call');
    expect(basic).toBe(`Basic ${Buffer.from('mcp-bridge:client-secret-value').toString('base64')}`);
  });
});
