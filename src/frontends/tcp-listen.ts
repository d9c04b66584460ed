import { createServer as createNetServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { TlsOptions } from 'node:tls';
import type { Logger } from '../core/logger.js';

/**
 * A listener of the framed TCP protocol (the frontend's port and its health port alike): plain
 * TCP, or TLS when `tls` is given, where a refused handshake is a debug line, not an error.
 * Resolves once it listens; a port it cannot take rejects with the listen error.
 */
export async function listenTcp(
  where: { port: number; host: string; tls?: TlsOptions; log: Logger },
  onSocket: (socket: Socket) => void,
): Promise<Server> {
  const server = where.tls ? createTlsServer(where.tls, onSocket) : createNetServer(onSocket);
  server.on('tlsClientError', (error: Error) =>
    where.log.debug({ err: error }, 'TLS handshake refused'),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
