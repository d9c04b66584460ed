import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECURITY_HEADERS, SecureResponse } from './security-headers.js';

const routes: Record<string, (res: ServerResponse) => void> = {
  '/implicit': (res) => res.end('x'),
  '/object': (res) => res.writeHead(201, { 'content-type': 'text/plain' }).end(),
  '/array': (res) => res.writeHead(200, ['X-Custom', 'a', 'Content-Type', 'text/plain']).end(),
  '/reason': (res) => res.writeHead(404, 'Gone Away', { 'x-custom': 'b' }).end(),
  '/set-csp': (res) => {
    res.setHeader('content-security-policy', "default-src 'self'");
    res.end();
  },
  '/given-csp': (res) => res.writeHead(200, { 'Content-Security-Policy': 'sandbox' }).end(),
  '/stream': (res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    res.end('data: 1\n\n');
  },
};

let base = '';
const server = createServer({ ServerResponse: SecureResponse }, (req, res) =>
  routes[req.url ?? '']!(res),
);
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('SecureResponse', () => {
  it('adds every security header, once, however the head is written', async () => {
    for (const path of ['/implicit', '/object', '/array', '/reason', '/stream']) {
      const res = await fetch(base + path);
      await res.arrayBuffer();
      for (const [name, value] of Object.entries(SECURITY_HEADERS))
        expect(res.headers.get(name), `${path} ${name}`).toBe(value);
    }
  });

  it('keeps the status, reason and headers the handler gave', async () => {
    const reason = await fetch(base + '/reason');
    expect([reason.status, reason.statusText, reason.headers.get('x-custom')]).toEqual([
      404,
      'Gone Away',
      'b',
    ]);
    const array = await fetch(base + '/array');
    expect(array.headers.get('x-custom')).toBe('a');
    expect(array.headers.get('content-type')).toBe('text/plain');
    expect((await fetch(base + '/object')).status).toBe(201);
  });

  it('lets a header set on the response or given to writeHead replace the default', async () => {
    expect((await fetch(base + '/set-csp')).headers.get('content-security-policy')).toBe(
      "default-src 'self'",
    );
    expect((await fetch(base + '/given-csp')).headers.get('content-security-policy')).toBe(
      'sandbox',
    );
  });
});
