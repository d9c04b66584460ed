import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { accepts, readBody } from './http-io.js';

describe('accepts', () => {
  it.each([
    ['application/json, text/event-stream', 'text/event-stream', true],
    ['application/json;q=0.9, text/event-stream;q=1', 'application/json', true],
    ['*/*', 'text/event-stream', true],
    ['text/*', 'text/event-stream', true],
    ['application/json', 'text/event-stream', false],
    [undefined, 'application/json', false],
  ])('%s admits %s: %s', (header, type, expected) => expect(accepts(header, type)).toBe(expected));
});

describe('readBody over the limit', () => {
  /** A request body stream with the headers readBody reads. */
  function body(headers: Record<string, string>) {
    const req = new PassThrough() as PassThrough & { headers: Record<string, string> };
    req.headers = headers;
    return req as unknown as IncomingMessage & PassThrough;
  }

  it('reads the rest before refusing, so a client still sending is not cut off (broken pipe)', async () => {
    const req = body({ 'content-length': '3000' });
    let settled = false;
    const reading = readBody(req, 1000).finally(() => (settled = true));
    req.write(Buffer.alloc(2000));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    req.end(Buffer.alloc(1000));
    await expect(reading).rejects.toMatchObject({ code: 'GATEWAY_PAYLOAD_TOO_LARGE' });
    expect(req.readableEnded).toBe(true);
  });

  it('refuses at once when the client goes away mid-body, or the body is too large to drop', async () => {
    const gone = body({ 'content-length': '3000' });
    const reading = readBody(gone, 1000);
    gone.destroy();
    await expect(reading).rejects.toMatchObject({ code: 'GATEWAY_PAYLOAD_TOO_LARGE' });
    const huge = body({ 'content-length': String(200 * 1024 * 1024) });
    await expect(readBody(huge, 1000)).rejects.toMatchObject({ status: 413 });
  });
});
