import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { FIXTURES, startGateway, waitFor } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';
import { TcpBackendTransport } from '../../src/backends/tcp-backend.js';
import { createLogger } from '../../src/core/logger.js';
import {
  FrameDecoder,
  FrameType,
  encodeFrame,
  encodeHeader,
  encodeJsonFrame,
  versionOffer,
} from '../../src/core/frames.js';
import type { Frame } from '../../src/core/frames.js';
import { text } from '../cases.js';

/*
 * The gateway's framed TCP frontend byte by byte (docs/tcp-protocol.md): negotiation, health,
 * every malformed frame answered with an error frame and a close, authentication, the in-flight
 * limit, and 1,000 concurrent requests on one connection. The shared case list over TCP runs in
 * matrix.test.ts.
 */

const silent = createLogger({ level: 'silent' });
const probe = {
  transport: 'stdio' as const,
  command: process.execPath,
  args: [`${FIXTURES}probe-server.mjs`],
  killGraceMs: 500,
};

/** A raw TCP connection that records the frames it receives and whether it was closed. */
class Raw {
  readonly frames: Frame[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder({ maxPayloadBytes: 64 * 1024 * 1024 });
  readonly socket: Socket;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => this.frames.push(...this.decoder.push(chunk)));
    this.socket.on('error', () => {});
    this.socket.on('close', () => (this.closed = true));
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  json(type: number): unknown[] {
    return this.frames
      .filter((f) => f.type === type)
      .map((f) => JSON.parse(f.payload.toString()) as unknown);
  }

  /** Waits for the error frame and the close that must follow it; returns the error's text. */
  async refused(): Promise<string> {
    await waitFor(() => this.closed, 5000, 'the gateway to close the connection');
    const error = this.frames.find((f) => f.type === FrameType.error);
    expect(error, 'an error frame before the close').toBeDefined();
    return error!.payload.toString();
  }

  close(): void {
    this.socket.destroy();
  }
}

const request = (id: number, method = 'ping', params?: unknown) => ({
  jsonrpc: '2.0',
  id,
  method,
  ...(params !== undefined && { params }),
});

describe('the framed TCP frontend', () => {
  let gw: RunningGateway;
  let port: number;

  beforeAll(async () => {
    gw = await startGateway(probe, {
      server: {
        host: '127.0.0.1',
        port: 0,
        tcp: { enabled: true, port: 0, maxFrameBytes: 1024 * 1024, maxInFlight: 1000 },
      },
    });
    port = gw.gateway.tcpAddress()!.port;
  });
  afterAll(() => gw?.close());

  it('negotiates the version, answers a health check in kind, and carries requests', async () => {
    const raw = new Raw(port);
    try {
      raw.write(encodeJsonFrame(FrameType.version, versionOffer()));
      raw.write(encodeJsonFrame(FrameType.health, { kind: 'ping', id: 7 }));
      raw.write(
        encodeJsonFrame(
          FrameType.request,
          request(1, 'initialize', {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'raw', version: '1' },
          }),
        ),
      );
      await waitFor(() => raw.json(FrameType.response).length === 1, 10_000, 'the reply');
      expect(raw.frames[0]!.type).toBe(FrameType.versionAck);
      expect(raw.json(FrameType.versionAck)).toEqual([{ agreed_version: 1 }]);
      expect(raw.json(FrameType.health)).toEqual([{ kind: 'pong', id: 7, status: 'ok' }]);
      expect(raw.json(FrameType.response)[0]).toMatchObject({ id: 1, result: { serverInfo: {} } });
      expect(raw.closed).toBe(false);
    } finally {
      raw.close();
    }
  });

  const malformed: Array<[string, () => Buffer, RegExp]> = [
    [
      'a bad magic (an HTTP client on the wrong port)',
      () => Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n'),
      /^TCP_BAD_MAGIC: .*0x47455420/,
    ],
    [
      'an unknown version',
      () => {
        const frame = encodeJsonFrame(FrameType.request, request(1));
        frame.writeUInt16BE(9, 4);
        return frame;
      },
      /^TCP_UNSUPPORTED_VERSION: frame version 9/,
    ],
    [
      'an unknown type',
      () => {
        const frame = encodeJsonFrame(FrameType.request, request(1));
        frame.writeUInt16BE(42, 6);
        return frame;
      },
      /^TCP_UNKNOWN_TYPE: unknown frame type 42/,
    ],
    [
      'an oversized frame (refused from its header)',
      () => encodeHeader(FrameType.request, 1024 * 1024 + 1),
      /^TCP_FRAME_TOO_LARGE: a payload of 1048577 bytes exceeds the limit of 1048576/,
    ],
    [
      'a payload that is not JSON',
      () => encodeFrame(FrameType.request, '{"jsonrpc":'),
      /^TCP_BAD_PAYLOAD/,
    ],
    [
      'a frame only the gateway sends',
      () => encodeJsonFrame(FrameType.response, { jsonrpc: '2.0', id: 1, result: {} }),
      /^TCP_UNEXPECTED_FRAME/,
    ],
    [
      'a second version negotiation',
      () =>
        Buffer.concat([
          encodeJsonFrame(FrameType.version, versionOffer()),
          encodeJsonFrame(FrameType.version, versionOffer()),
        ]),
      /^TCP_UNEXPECTED_FRAME: the version was already negotiated/,
    ],
    [
      'a version offer with no common version',
      () => encodeJsonFrame(FrameType.version, { min_version: 2, max_version: 5 }),
      /^TCP_NO_COMMON_VERSION/,
    ],
  ];

  it.each(malformed)('answers %s with an error frame, then closes', async (_name, bytes, why) => {
    const raw = new Raw(port);
    try {
      raw.write(bytes());
      expect(await raw.refused()).toMatch(why);
    } finally {
      raw.close();
    }
    // The gateway is unharmed: a new connection is served.
    const after = new Raw(port);
    try {
      after.write(encodeJsonFrame(FrameType.health, {}));
      await waitFor(() => after.json(FrameType.health).length === 1, 5000, 'a pong');
    } finally {
      after.close();
    }
  });

  it('answers a message that is not JSON-RPC with a JSON-RPC error and goes on', async () => {
    const raw = new Raw(port);
    try {
      raw.write(encodeJsonFrame(FrameType.request, { id: 3, method: 'ping' }));
      raw.write(encodeJsonFrame(FrameType.request, [request(4)]));
      await waitFor(() => raw.json(FrameType.response).length === 2, 5000, 'two errors');
      expect(raw.json(FrameType.response)).toEqual([
        expect.objectContaining({ id: 3, error: expect.objectContaining({ code: -32600 }) }),
        expect.objectContaining({ id: null, error: expect.objectContaining({ code: -32600 }) }),
      ]);
      expect(raw.closed).toBe(false);
    } finally {
      raw.close();
    }
  });

  it('passes 1,000 concurrent requests on one connection, each answered by its own id', async () => {
    const transport = new TcpBackendTransport({
      name: 't',
      url: `tcp://127.0.0.1:${port}`,
      log: silent,
    });
    const client = new Client({ name: 'many', version: '1' });
    await client.connect(transport);
    try {
      const calls = Array.from({ length: 1000 }, (_, i) =>
        client.callTool({ name: 'big', arguments: { bytes: i } }),
      );
      const results = await Promise.all(calls);
      results.forEach((result, i) => expect(text(result)).toBe('x'.repeat(i)));
    } finally {
      await client.close();
    }
  });
});

describe('the framed TCP frontend with authentication required', () => {
  let gw: RunningGateway;
  let port: number;

  beforeAll(async () => {
    gw = await startGateway(probe, {
      server: { host: '127.0.0.1', port: 0, tcp: { enabled: true, port: 0, maxInFlight: 2 } },
      auth: { required: true, apiKeys: ['key-alice'] },
    });
    port = gw.gateway.tcpAddress()!.port;
  });
  afterAll(() => gw?.close());

  it('refuses a request before authentication, then takes auth_token in the request frame', async () => {
    const raw = new Raw(port);
    try {
      raw.write(encodeJsonFrame(FrameType.request, request(1)));
      await waitFor(() => raw.json(FrameType.response).length === 1, 5000, 'the refusal');
      expect(raw.json(FrameType.response)[0]).toMatchObject({ id: 1, error: { code: -32030 } });
      raw.write(encodeJsonFrame(FrameType.request, { auth_token: 'wrong', message: request(2) }));
      raw.write(
        encodeJsonFrame(FrameType.request, { auth_token: 'key-alice', message: request(3) }),
      );
      await waitFor(() => raw.json(FrameType.response).length === 3, 10_000, 'two more replies');
      const [, wrong, right] = raw.json(FrameType.response);
      expect(wrong).toMatchObject({ id: 2, error: { code: -32030 } });
      expect(right).toMatchObject({ id: 3, result: {} });
    } finally {
      raw.close();
    }
  });

  it('takes a control auth frame, and closes with an error frame on a bad one', async () => {
    const good = new Raw(port);
    const bad = new Raw(port);
    try {
      good.write(encodeJsonFrame(FrameType.control, { type: 'auth', auth_token: 'key-alice' }));
      good.write(encodeJsonFrame(FrameType.request, request(1)));
      await waitFor(() => good.json(FrameType.response).length === 1, 10_000, 'the reply');
      expect(good.json(FrameType.control)).toEqual([expect.objectContaining({ type: 'auth_ok' })]);
      expect(good.json(FrameType.response)[0]).toMatchObject({ id: 1, result: {} });
      bad.write(encodeJsonFrame(FrameType.control, { type: 'auth', auth_token: 'nope' }));
      expect(await bad.refused()).toMatch(/^TCP_UNAUTHORIZED/);
    } finally {
      good.close();
      bad.close();
    }
  });

  it('refuses requests beyond server.tcp.maxInFlight with GATEWAY_CAPACITY', async () => {
    const raw = new Raw(port);
    try {
      raw.write(encodeJsonFrame(FrameType.control, { type: 'auth', auth_token: 'key-alice' }));
      const wait = (id: number) =>
        request(id, 'tools/call', { name: 'wait', arguments: { ms: 60_000 } });
      for (const id of [1, 2, 3]) raw.write(encodeJsonFrame(FrameType.request, wait(id)));
      await waitFor(() => raw.json(FrameType.response).length === 1, 10_000, 'the refusal');
      expect(raw.json(FrameType.response)[0]).toMatchObject({
        id: 3,
        error: { code: -32014, data: { code: 'GATEWAY_CAPACITY' } },
      });
    } finally {
      raw.close();
    }
  });
});
