import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { TcpBackendTransport } from '../../src/backends/tcp-backend.js';
import { createLogger } from '../../src/core/logger.js';
import {
  EVERYTHING,
  everythingStdio,
  fullCapabilities,
  startEverythingHttp,
  startGateway,
} from '../helpers.js';
import type { RunningGateway, RunningServer } from '../helpers.js';
import { answerServerRequests, cases, text } from '../cases.js';
import type { Answered } from '../cases.js';

/*
 * The shared case list over every frontend × every backend, with the official SDK client's
 * transports on the left and @modelcontextprotocol/server-everything on the right:
 *
 *   frontends: Streamable HTTP, legacy SSE, WebSocket (/ws), framed TCP (server.tcp, with the
 *              project's TCP client transport under the SDK client), stdio (the CLI with
 *              --serve stdio; with a remote backend that is the connector, mcp-bridge connect)
 *   backends:  stdio, Streamable HTTP and SSE (server-everything's own HTTP modes), and
 *              WebSocket and TCP (a second gateway serving stdio server-everything on /ws and
 *              on its TCP port, so the Streamable HTTP × WebSocket cell is also the
 *              gateway-chain test).
 *
 * The SSE backend is given by URL alone, so it also exercises the fall back from Streamable HTTP.
 */

// Installs a browser-like global WebSocket for the SDK's WebSocket client transport.
import '../websocket-helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const MiB = 1024 * 1024;
/**
 * The official SDK's stdio transport refuses to buffer more than 10 MiB (10,485,760 bytes), and
 * server-everything and the test's own stdio client use it. Its cap counts everything in its
 * buffer, so a notification that arrives in the same read as the reply counts too: with 1 KiB
 * of room the stdio-frontend cells failed now and then ("Connection closed") when
 * server-everything's periodic log notification landed beside the reply. 64 KiB of room keeps
 * "10 MiB" the largest echo that reliably fits.
 */
const TEN_MIB_PAYLOAD = 10 * MiB - 64 * 1024;
/** Why the cells with server-everything's own HTTP servers behind them send less than 10 MiB. */
const HTTP_SERVER_LIMIT =
  "server-everything's HTTP servers (the SDK's server transports) refuse request bodies over 4 MB, and none of its tools returns 10 MiB without taking it as an argument; the 10 MiB case runs on every frontend with the stdio and WebSocket backends";

interface BackendSetup {
  /** The backend entry for startGateway. */
  config: Parameters<typeof startGateway>[0];
  /** The same backend as CLI flags, for the stdio frontend. */
  flags: string[];
  /** Largest echo that the backend server itself accepts, with the reason when under 10 MiB. */
  largest: { bytes: number; why?: string };
  close(): Promise<void>;
}

const backends: Record<string, () => Promise<BackendSetup>> = {
  stdio: async () => ({
    config: everythingStdio,
    flags: ['--stdio', `${process.execPath} ${EVERYTHING} stdio`],
    largest: { bytes: TEN_MIB_PAYLOAD },
    close: async () => {},
  }),
  'streamable-http': async () => {
    const server: RunningServer = await startEverythingHttp('streamableHttp');
    return {
      config: { transport: 'streamable-http', url: server.url },
      flags: ['--url', server.url, '--transport', 'streamable-http'],
      largest: { bytes: 3 * MiB, why: HTTP_SERVER_LIMIT },
      close: () => server.close(),
    };
  },
  sse: async () => {
    const server: RunningServer = await startEverythingHttp('sse');
    return {
      config: { url: server.url },
      flags: ['--url', server.url],
      largest: { bytes: 3 * MiB, why: HTTP_SERVER_LIMIT },
      close: () => server.close(),
    };
  },
  websocket: async () => {
    const inner: RunningGateway = await startGateway(everythingStdio);
    const url = `ws://127.0.0.1:${inner.url.port}/ws`;
    return {
      config: { url },
      flags: ['--url', url],
      largest: { bytes: TEN_MIB_PAYLOAD },
      close: () => inner.close(),
    };
  },
  tcp: async () => {
    const inner: RunningGateway = await startGateway(everythingStdio, { server: withTcp });
    const url = `tcp://127.0.0.1:${inner.gateway.tcpAddress()!.port}`;
    return {
      config: { url },
      flags: ['--url', url],
      largest: { bytes: TEN_MIB_PAYLOAD },
      close: () => inner.close(),
    };
  },
};

/** The test gateway's listener settings, plus the framed TCP frontend on a free port. */
const withTcp = { host: '127.0.0.1', port: 0, path: '/mcp', tcp: { enabled: true, port: 0 } };

interface FrontendSetup {
  transport(): Transport;
  close(): Promise<void>;
}

const frontends: Record<string, (backend: BackendSetup) => Promise<FrontendSetup>> = {
  'streamable-http': async (backend) => {
    const gw = await startGateway(backend.config);
    return { transport: () => new StreamableHTTPClientTransport(gw.url), close: () => gw.close() };
  },
  sse: async (backend) => {
    const gw = await startGateway(backend.config);
    return {
      transport: () => new SSEClientTransport(new URL('/sse', gw.url)),
      close: () => gw.close(),
    };
  },
  websocket: async (backend) => {
    const gw = await startGateway(backend.config);
    return {
      transport: () => new WebSocketClientTransport(new URL(`ws://127.0.0.1:${gw.url.port}/ws`)),
      close: () => gw.close(),
    };
  },
  tcp: async (backend) => {
    const gw = await startGateway(backend.config, { server: withTcp });
    const url = `tcp://127.0.0.1:${gw.gateway.tcpAddress()!.port}`;
    return {
      transport: () =>
        new TcpBackendTransport({ name: 'matrix', url, log: createLogger({ level: 'silent' }) }),
      close: () => gw.close(),
    };
  },
  stdio: async (backend) => ({
    transport: () =>
      new StdioClientTransport({
        command: process.execPath,
        args: [CLI, '--serve', 'stdio', '--log-level', 'warn', ...backend.flags],
        stderr: 'ignore',
      }),
    close: async () => {},
  }),
};

for (const [frontendName, makeFrontend] of Object.entries(frontends)) {
  for (const [backendName, makeBackend] of Object.entries(backends)) {
    describe(`${frontendName} frontend × ${backendName} backend`, () => {
      let backend: BackendSetup;
      let frontend: FrontendSetup;
      let client: Client;
      let answered: Answered;

      beforeAll(async () => {
        backend = await makeBackend();
        frontend = await makeFrontend(backend);
        client = new Client(
          { name: 'matrix', version: '1.0.0' },
          { capabilities: fullCapabilities },
        );
        answered = answerServerRequests(client);
        await client.connect(frontend.transport());
      });

      afterAll(async () => {
        await client?.close();
        await frontend?.close();
        await backend?.close();
      });

      it.each(cases)('%s', (_name, run) => run(client, answered));

      it('passes a large argument and result intact (10 MiB where the backend server allows it)', async () => {
        // A repeating pattern, so that a lost, doubled or reordered chunk shows.
        const message = 'abcdefghij'.repeat(Math.floor(backend.largest.bytes / 10));
        // backend.largest.why says why a cell sends less than 10 MiB.
        const result = await client.callTool({ name: 'echo', arguments: { message } }, undefined, {
          timeout: 60_000,
        });
        expect(text(result)).toBe(`Echo: ${message}`);
      });
    });
  }
}
