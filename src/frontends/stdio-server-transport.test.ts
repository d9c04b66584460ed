import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import type { JSONRPCMessage } from '../core/jsonrpc.js';
import { createLogger } from '../core/logger.js';
import { GatewayError } from '../core/errors.js';
import { StdioServerTransport, refuseClient } from './stdio-server-transport.js';
import pino from 'pino';

const log = createLogger({ level: 'silent' });

function setup(maxMessageBytes = 1024) {
  const input = new PassThrough();
  const output = new PassThrough();
  const transport = new StdioServerTransport({
    input,
    output,
    log,
    maxMessageBytes,
    maxDepth: 128,
  });
  const received: JSONRPCMessage[] = [];
  let closes = 0;
  transport.onmessage = (m) => received.push(m);
  transport.onclose = () => closes++;
  const written: Array<Record<string, unknown>> = [];
  let text = '';
  output.setEncoding('utf8');
  output.on('data', (chunk: string) => {
    text += chunk;
    const lines = text.split('\n');
    text = lines.pop()!;
    for (const l of lines) written.push(JSON.parse(l) as Record<string, unknown>);
  });
  return { input, output, transport, received, written, closes: () => closes };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const ping = (id: number) => ({ jsonrpc: '2.0', id, method: 'ping' }) as const;

describe('StdioServerTransport', () => {
  it('delivers messages split across chunks, tolerating CRLF and blank lines', async () => {
    const { input, transport, received } = setup();
    await transport.start();
    const text = `${JSON.stringify(ping(1))}\r\n\n${JSON.stringify(ping(2))}\n`;
    input.write(text.slice(0, 10));
    input.write(text.slice(10));
    await tick();
    expect(received).toEqual([ping(1), ping(2)]);
  });

  it('writes one JSON line per message', async () => {
    const { transport, written } = setup();
    await transport.start();
    await transport.send({ jsonrpc: '2.0', id: 1, result: {} });
    await transport.send({ jsonrpc: '2.0', method: 'notifications/progress', params: {} });
    await tick();
    expect(written).toEqual([
      { jsonrpc: '2.0', id: 1, result: {} },
      { jsonrpc: '2.0', method: 'notifications/progress', params: {} },
    ]);
  });

  it('answers a line that is not JSON with -32700 and id null, then goes on', async () => {
    const { input, transport, received, written } = setup();
    await transport.start();
    input.write(`not json\n${JSON.stringify(ping(1))}\n`);
    await tick();
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({
      id: null,
      error: { code: -32700, data: { code: 'GATEWAY_PARSE_ERROR' } },
    });
    expect(received).toEqual([ping(1)]);
  });

  it('answers JSON that is not JSON-RPC with -32600, naming the request id when it has one', async () => {
    const { input, transport, received, written } = setup();
    await transport.start();
    input.write(`{"jsonrpc":"1.0","id":7,"method":"ping"}\n[]\n42\n`);
    await tick();
    expect(received).toEqual([]);
    expect(written.map((w) => (w as { id: unknown }).id)).toEqual([7, null, null]);
    for (const w of written) expect(w).toMatchObject({ error: { code: -32600 } });
    expect(JSON.stringify(written[0])).toContain('"jsonrpc\\" member must be exactly');
  });

  it('delivers each message of a batch', async () => {
    const { input, transport, received } = setup();
    await transport.start();
    input.write(`${JSON.stringify([ping(1), ping(2)])}\n`);
    await tick();
    expect(received).toEqual([ping(1), ping(2)]);
  });

  it('refuses a line over the size limit with -32600 naming the limit, then goes on', async () => {
    const { input, transport, received, written } = setup(1024);
    await transport.start();
    const big = { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { x: 'y'.repeat(3000) } };
    input.write(JSON.stringify(big).slice(0, 2000));
    input.write(`${JSON.stringify(big).slice(2000)}\n${JSON.stringify(ping(1))}\n`);
    await tick();
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({
      id: 9,
      error: { code: -32600, data: { code: 'GATEWAY_PAYLOAD_TOO_LARGE' } },
    });
    expect((written[0] as { error: { message: string } }).error.message).toContain('1024 bytes');
    expect(received).toEqual([ping(1)]);
  });

  it('reports the end of its input once, however many ways it is told', async () => {
    const { input, transport, closes } = setup();
    await transport.start();
    input.end();
    await tick();
    input.destroy();
    await tick();
    await transport.close();
    expect(closes()).toBe(1);
  });

  it('keeps writing replies after the input ended, until the session closes it', async () => {
    const { input, output, transport, written } = setup();
    await transport.start();
    input.end();
    await tick();
    await transport.send({ jsonrpc: '2.0', id: 1, result: {} });
    await transport.close();
    await tick();
    expect(written).toHaveLength(1);
    expect(output.writableEnded).toBe(true);
    await expect(transport.send({ jsonrpc: '2.0', id: 2, result: {} })).rejects.toBeInstanceOf(
      GatewayError,
    );
  });

  it('survives a reader that has gone (EPIPE) and reports the client gone', async () => {
    const { output, transport, closes } = setup();
    await transport.start();
    output.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    await tick();
    expect(closes()).toBe(1);
    await expect(transport.send(ping(1))).rejects.toThrow('closed');
  });

  it('makes the sender wait while the reader is slow, and resumes when it drains', async () => {
    const input = new PassThrough();
    const chunks: string[] = [];
    let release: (() => void) | undefined;
    const output = new Writable({
      highWaterMark: 16,
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk.toString());
        release = callback;
      },
    });
    const transport = new StdioServerTransport({
      input,
      output,
      log,
      maxMessageBytes: 1024,
      maxDepth: 128,
    });
    await transport.start();
    let sent = false;
    const sending = transport.send(ping(1)).then(() => (sent = true));
    await tick();
    expect(sent).toBe(false);
    release!();
    await sending;
    expect(chunks).toEqual([`${JSON.stringify(ping(1))}\n`]);
  });

  it('leaves its streams alone when closed without having started', async () => {
    const { input, output, transport } = setup();
    await transport.close();
    expect(output.writableEnded).toBe(false);
    expect(input.readableFlowing).toBe(null);
  });
});

describe('refuseClient', () => {
  const error = new GatewayError('GATEWAY_BACKEND_UNAVAILABLE', 'cannot start');

  it('answers the first request with the error, by its id, and ends the output', async () => {
    const { input, output, written } = setup();
    input.write(`{"jsonrpc":"2.0","method":"notifications/x"}\n${JSON.stringify(ping(4))}\n`);
    await refuseClient(input, output, error, 1024);
    await tick();
    expect(written).toEqual([
      expect.objectContaining({
        id: 4,
        error: expect.objectContaining({
          code: -32010,
          data: { code: 'GATEWAY_BACKEND_UNAVAILABLE' },
        }),
      }),
    ]);
    expect(output.writableEnded).toBe(true);
  });

  it('sends the error with a null id when no request comes in time', async () => {
    const { input, output, written } = setup();
    await refuseClient(input, output, error, 1024, 50);
    await tick();
    expect(written).toEqual([expect.objectContaining({ id: null })]);
  });
});

describe('refused lines in the log', () => {
  it('one warning per refused line (50,796 in a fuzz run) becomes 5, then a summary per 10 s', async () => {
    const lines: Array<{ level: number; msg: string; suppressed?: number }> = [];
    const captured = pino(
      { level: 'warn' },
      { write: (line: string) => void lines.push(JSON.parse(line)) },
    );
    let now = 0;
    const input = new PassThrough();
    const output = new PassThrough();
    let replies = 0;
    output.on('data', (chunk: Buffer) => (replies += chunk.toString().split('\n').length - 1));
    const transport = new StdioServerTransport({
      input,
      output,
      log: captured,
      maxMessageBytes: 1024,
      maxDepth: 128,
      refusalLog: { now: () => now },
    });
    await transport.start();
    input.write('not json\n'.repeat(500));
    await vi.waitFor(() => expect(replies).toBe(500), { timeout: 10_000 });
    expect(lines.map((l) => l.msg)).toEqual(Array(5).fill('refused a line from the client'));

    now = 10_000;
    input.write('{"jsonrpc":"2.0","id":1,"method":"x","params":[]}\n'.repeat(500));
    await vi.waitFor(() => expect(replies).toBe(1000), { timeout: 10_000 });
    // Every line is still answered; the log has one summary for the 496 held back so far.
    expect(lines).toHaveLength(6);
    expect(lines[5]).toMatchObject({ level: 40, suppressed: 496 });

    await transport.close();
    expect(lines).toHaveLength(7);
    expect(lines[6]).toMatchObject({ suppressed: 499 });
  });
});
