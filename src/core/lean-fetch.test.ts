import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainLeanFetch as leanFetch } from './lean-fetch.js';

let server: Server;
let base: string;
let releaseStream: (() => void) | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      if (req.url === '/json') {
        res.setHeader('content-type', 'application/json');
        res.setHeader('mcp-session-id', 's-1');
        res.end(JSON.stringify({ method: req.method, body, auth: req.headers.authorization }));
      } else if (req.url === '/accepted') {
        res.statusCode = 202;
        res.end();
      } else if (req.url === '/moved') {
        res.statusCode = 307;
        res.setHeader('location', '/json');
        res.end();
      } else if (req.url === '/stream') {
        res.setHeader('content-type', 'text/event-stream');
        res.write('data: one\n\n');
        releaseStream = () => res.end('data: two\n\n');
      } else if (req.url === '/hang') {
        // Never answered: the client aborts.
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('leanFetch', () => {
  it('sends the method, headers and body, and gives status, headers and body back', async () => {
    const response = await leanFetch(`${base}/json`, {
      method: 'POST',
      headers: new Headers({ authorization: 'Bearer t', 'content-type': 'application/json' }),
      body: '{"a":1}',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('mcp-session-id')).toBe('s-1');
    expect(await response.json()).toEqual({ method: 'POST', body: '{"a":1}', auth: 'Bearer t' });
  });

  it('leaves no abort listener on a signal shared by many requests (Node fetch leaves one each)', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 50; i++) {
      const response = await leanFetch(new URL(`${base}/json`), {
        method: 'POST',
        body: String(i),
        signal: controller.signal,
      });
      await response.text();
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('answers a 202 with an empty body', async () => {
    const response = await leanFetch(`${base}/accepted`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(202);
    expect(await response.text()).toBe('');
  });

  it('follows a redirect, as fetch does', async () => {
    const response = await leanFetch(`${base}/moved`, { method: 'POST', body: 'x' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ method: 'POST', body: 'x' });
  });

  it('streams an event stream as it arrives', async () => {
    const response = await leanFetch(`${base}/stream`);
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value!).toString()).toBe('data: one\n\n');
    releaseStream!();
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += Buffer.from(value).toString();
    }
    expect(rest).toBe('data: two\n\n');
  });

  it('fails as fetch fails: an AbortError when aborted, a TypeError with the cause otherwise', async () => {
    const controller = new AbortController();
    const pending = leanFetch(`${base}/hang`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await leanFetch(`http://127.0.0.1:${port}/`).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TypeError);
    expect((refused as TypeError & { cause: { code: string } }).cause.code).toBe('ECONNREFUSED');
  });
});
