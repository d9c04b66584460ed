import { chmod, lstat, unlink } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { Logger } from '../core/logger.js';
import { ThrottledWarning } from '../core/throttled-warning.js';
import { channels } from '../core/diagnostics.js';
import { StdioServerTransport, refuseClient } from './stdio-server-transport.js';
import type { FrontendOptions, SessionHandle } from './types.js';

export interface UnixSocketOptions extends FrontendOptions {
  /**
   * Filesystem path of the socket. It is created with mode 0600, so only the gateway's user can
   * connect, and removed on close. A stale file left by a crashed gateway is replaced.
   */
  path: string;
}

/** How long a connection being shut down may take to flush what it was sent. */
const END_GRACE_MS = 1000;

/**
 * Serves newline-delimited JSON-RPC on a Unix socket, one session per connection: for local
 * clients that speak stdio MCP but cannot spawn the gateway (or should share one).
 */
export class UnixSocketFrontend {
  private server: Server | undefined;
  /** Open connections, with their session once it has opened. */
  private readonly connections = new Map<Socket, SessionHandle | undefined>();
  /** The socket file we created, so that close removes ours and never a successor's. */
  private inode: number | undefined;
  private closing = false;
  private readonly log: Logger;
  /** Refused lines of every connection, summarized together: a flood may come on many. */
  private readonly refusals: ThrottledWarning;

  constructor(private readonly options: UnixSocketOptions) {
    this.log = options.log.child({ unixSocket: options.path });
    this.refusals = new ThrottledWarning(this.log, 'refused a line from the client');
  }

  async listen(): Promise<void> {
    if (this.server) throw new Error(`already listening on the Unix socket ${this.options.path}`);
    const { path } = this.options;
    await removeStaleSocket(path);
    const server = createServer((socket) => void this.accept(socket));
    await listenPrivately(server, path);
    this.inode = (await lstat(path)).ino;
    this.server = server;
  }

  private async accept(socket: Socket): Promise<void> {
    socket.on('error', (error) => this.log.debug({ err: error }, 'Unix socket connection error'));
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.connections.set(socket, undefined);
    socket.once('close', () => this.connections.delete(socket));
    if (channels.connectionOpen.hasSubscribers) {
      channels.connectionOpen.publish({ transport: 'unix' });
      // Newline-delimited JSON: the socket's own byte counts are the payload, plus one byte a line.
      socket.once('close', () => {
        channels.connectionClose.publish({ transport: 'unix' });
        channels.bytes.publish({ transport: 'unix', direction: 'in', bytes: socket.bytesRead });
        channels.bytes.publish({ transport: 'unix', direction: 'out', bytes: socket.bytesWritten });
      });
    }
    // Our side ends when the session does (the transport ends its output); the read side goes too.
    socket.once('finish', () => socket.destroy());
    const transport = new StdioServerTransport({
      input: socket,
      output: socket,
      log: this.log,
      maxMessageBytes: this.options.maxMessageBytes,
      maxDepth: this.options.maxDepth,
      refusals: this.refusals,
    });
    let handle: SessionHandle;
    try {
      handle = await this.options.openSession(transport, 'unix');
    } catch (error) {
      await this.refuse(socket, error);
      return;
    }
    if (socket.destroyed || this.closing) {
      // The client left, or we began shutting down, while the backend was starting.
      await handle.close(socket.destroyed ? 'client left' : 'gateway shutting down');
      socket.destroy();
      return;
    }
    this.connections.set(socket, handle);
  }

  /** No session could open (the backend cannot start): tell the client why, then hang up. */
  private async refuse(socket: Socket, error: unknown): Promise<void> {
    this.log.warn({ err: error }, 'could not open a session for a Unix socket client');
    await refuseClient(socket, socket, error, this.options.maxMessageBytes);
    socket.destroy();
  }

  /** Stops listening, ends every connection and its session, removes the socket file. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const server = this.server;
    this.server = undefined;
    const stopped = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    await Promise.allSettled(
      [...this.connections.values()].map((handle) => handle?.close('gateway shutting down')),
    );
    // Closing a session ends its connection; cut what is left (a session still opening, or a
    // client that does not read what we wrote).
    for (const socket of this.connections.keys()) {
      socket.end();
      setTimeout(() => socket.destroy(), END_GRACE_MS).unref();
    }
    await stopped;
    if (this.inode !== undefined) await removeIfOurs(this.options.path, this.inode);
  }
}

/**
 * A socket file left by a gateway that did not shut down cleanly would make bind fail; remove it,
 * but never one that a live process is listening on, nor a file that is not a socket.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  if (await someoneListens(path)) {
    throw new Error(
      `another process is listening on the Unix socket ${path}; stop it or choose another path`,
    );
  }
  await unlink(path);
}

function someoneListens(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') resolve(false);
      else reject(new Error(`cannot check the Unix socket ${path}: ${error.message}`));
    });
  });
}

function listenPrivately(server: Server, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // bind() creates the file synchronously inside listen(), so a umask held around that call
    // makes it 0600 from its first instant: no other user can connect before the chmod below.
    let previous: number | undefined;
    try {
      previous = process.umask(0o177);
    } catch {
      // Worker threads cannot change the umask; the chmod still applies.
    }
    try {
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      if (previous !== undefined) process.umask(previous);
    }
  }).then(() => chmod(path, 0o600));
}

async function removeIfOurs(path: string, inode: number): Promise<void> {
  try {
    if ((await lstat(path)).ino === inode) await unlink(path);
  } catch (error) {
    // Closing the server usually removes it already.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
