import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/** The TCP (or TLS) socket under each accepted WebSocket. */
const transports = new WeakMap<WebSocket, Duplex>();
const corked = new WeakSet<Duplex>();

/** Notes the socket that `ws` was upgraded from. */
export function noteTransport(ws: WebSocket, socket: Duplex): void {
  transports.set(ws, socket);
}

/**
 * Holds what is written to `ws` for the rest of this event-loop turn and sends it in one write.
 * A backend answers a burst of calls in one read, and each answer is a frame of its own: without
 * this, every frame is a system call that wakes the client, which on a busy machine takes the
 * core from the gateway. The turn ends right after the poll phase, so a lone reply waits no more
 * than for the callbacks already due.
 */
export function coalesceWrites(ws: WebSocket): void {
  const socket = transports.get(ws);
  if (!socket || corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  setImmediate(() => {
    corked.delete(socket);
    socket.uncork();
  });
}
