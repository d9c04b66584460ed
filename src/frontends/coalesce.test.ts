import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { waitFor } from '../../test/helpers.js';
import { coalesceWrites, noteTransport } from './coalesce.js';

const http = createServer();
const wss = new WebSocketServer({ noServer: true });
const accepted: Array<{ ws: WebSocket; socket: Duplex }> = [];
http.on('upgrade', (req, socket, head) =>
  wss.handleUpgrade(req, socket, head, (ws) => {
    noteTransport(ws, socket);
    accepted.push({ ws, socket });
  }),
);
afterAll(async () => {
  for (const { ws } of accepted) ws.terminate();
  await new Promise<void>((resolve) => http.close(() => resolve()));
});

describe('coalesceWrites', () => {
  it('holds the frames of one turn and sends them all, in order, when the turn ends', async () => {
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
    const received: string[] = [];
    client.on('message', (data) => received.push(String(data)));
    await new Promise((resolve) => client.once('open', resolve));
    await waitFor(() => accepted.length === 1, 5000, 'the server side of the connection');
    const { ws, socket } = accepted[0]!;

    coalesceWrites(ws);
    ws.send('one');
    coalesceWrites(ws); // a second call in the same turn changes nothing
    ws.send('two');
    expect((socket as unknown as { writableCorked: number }).writableCorked).toBe(1);
    await nextTurn();
    expect((socket as unknown as { writableCorked: number }).writableCorked).toBe(0);
    await waitFor(() => received.length === 2, 5000, 'both frames');
    expect(received).toEqual(['one', 'two']);
    client.terminate();
  });
});
