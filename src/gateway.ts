import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import type { GatewayConfig } from './config/schema.js';
import type { Logger } from './core/logger.js';
import { createLogger } from './core/logger.js';
import type { Policy } from './core/policy.js';
import type { ClientTransport } from './core/session.js';
import { Session } from './core/session.js';
import { GatewayError } from './core/errors.js';
import type { Backend } from './backends/backend.js';
import { createBackend } from './backends/backend.js';
import { StreamableHttpHandler } from './frontends/streamable-http.js';
import { LegacySseHandler } from './frontends/legacy-sse.js';
import { WebSocketFrontend } from './frontends/websocket.js';
import { StdioServerTransport, UnixSocketFrontend } from './frontends/stdio.js';
import type { FrontendKind, FrontendOptions, SessionHandle } from './frontends/types.js';
import { sendError } from './frontends/http-io.js';

export interface GatewayOptions {
  /** @default a pino logger to stderr at the configured level */
  log?: Logger;
  /** Policies run on every message, in order, before it is forwarded. @default [] */
  policies?: readonly Policy[];
}

/** What a running session looks like from outside (tests, and later /health and the dashboard). */
export interface SessionSummary {
  id: string;
  transport: FrontendKind;
  backend: string;
  /** Process id of the backend process serving the session, for stdio backends. */
  pid: number | undefined;
  inFlight: number;
}

/** What a reload changed. */
export interface ReloadResult {
  added: string[];
  removed: string[];
  changed: string[];
  /** Settings that only take effect on restart. */
  ignored: string[];
}

export interface Gateway {
  /** Starts the HTTP listener (and the Unix socket, if configured); resolves with the HTTP address. */
  listen(): Promise<AddressInfo>;
  /**
   * Serves one session over a byte stream pair, as a stdio MCP server would (the `--serve stdio`
   * mode). Resolves with the session once it is open.
   */
  serveStdio(input: Readable, output: Writable): Promise<SessionHandle>;
  /**
   * Applies a new configuration without a restart: backends that appear are started, backends
   * that disappear drain, unchanged ones keep their sessions. Listener settings (host, port)
   * need a restart and are reported as ignored.
   */
  reload(config: Readonly<GatewayConfig>): Promise<ReloadResult>;
  /** Stops accepting, ends every session and backend process, closes the listeners. */
  close(): Promise<void>;
  sessions(): SessionSummary[];
  readonly log: Logger;
}

/** Assembles a gateway from a validated configuration. The one place where the parts meet. */
export function createGateway(
  config: Readonly<GatewayConfig>,
  options: GatewayOptions = {},
): Gateway {
  const log = options.log ?? createLogger({ level: config.log.level });
  const policies = options.policies ?? [];
  const maxMessageBytes = config.limits.maxMessageBytes;
  const [backendName, backendConfig] = Object.entries(config.backends)[0]!;
  const backend: Backend = createBackend(backendName, backendConfig, { log, maxMessageBytes });
  const live = new Map<
    string,
    { session: Session; kind: FrontendKind; target: { pid?: number } }
  >();
  let closing = false;

  async function openSession(client: ClientTransport, kind: FrontendKind): Promise<SessionHandle> {
    if (closing) throw new GatewayError('GATEWAY_SHUTTING_DOWN');
    const id = client.sessionId ?? randomUUID();
    const sessionLog = log.child({ session: id, transport: kind });
    const target = backend.connect(sessionLog);
    const session = new Session({ id, transport: kind, client, target, policies, log: sessionLog });
    session.onclose = (reason) => {
      live.delete(id);
      sessionLog.info({ reason }, 'session ended');
    };
    await session.start();
    live.set(id, { session, kind, target: target as { pid?: number } });
    sessionLog.info(
      { backend: backendName, pid: (target as { pid?: number }).pid },
      'session opened',
    );
    return session;
  }

  const frontend: FrontendOptions = { openSession, log, maxMessageBytes };
  const mcp = new StreamableHttpHandler({
    ...frontend,
    idleTimeoutMs: config.sessions.idleTimeoutMs,
  });
  const sse = new LegacySseHandler({ ...frontend, messagesPath: '/messages' });
  const ws = new WebSocketFrontend(frontend);
  const unix = config.server.unixSocket
    ? new UnixSocketFrontend({ ...frontend, path: config.server.unixSocket })
    : undefined;

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url);
    if (path === config.server.path) {
      void mcp.handle(req, res);
    } else if (path === '/sse' && req.method === 'GET') {
      sse.handleStream(req, res);
    } else if (path === '/messages' && req.method === 'POST') {
      void sse.handleMessage(req, res);
    } else {
      sendError(
        res,
        new GatewayError(
          'GATEWAY_NOT_FOUND',
          `no endpoint at ${req.method} ${path}; MCP is served at ${config.server.path}, /sse and /ws`,
        ),
      );
    }
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req.url) === '/ws') {
      ws.handleUpgrade(req, socket, head);
      return;
    }
    socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  server.on('clientError', (error, socket) => {
    log.debug({ err: error }, 'malformed HTTP request');
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  return {
    log,
    async listen() {
      const address = await new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.server.port, config.server.host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
      await unix?.listen();
      log.info(
        {
          host: address.address,
          port: address.port,
          path: config.server.path,
          backend: backendName,
          unixSocket: config.server.unixSocket,
        },
        'gateway listening',
      );
      return address;
    },
    async reload() {
      throw new Error('reload is not implemented yet');
    },
    serveStdio(input, output) {
      return openSession(
        new StdioServerTransport({ input, output, log, maxMessageBytes }),
        'stdio',
      );
    },
    async close() {
      if (closing) return;
      closing = true;
      const stopped = server.listening
        ? new Promise<void>((resolve) => server.close(() => resolve()))
        : Promise.resolve();
      server.closeIdleConnections();
      await Promise.allSettled([
        mcp.close(),
        sse.close(),
        ws.close(),
        unix?.close(),
        ...[...live.values()].map(({ session }) => session.close('gateway shutting down')),
      ]);
      await backend.close();
      server.closeAllConnections();
      await stopped;
      log.info('gateway stopped');
      log.flush();
    },
    sessions() {
      return [...live.values()].map(({ session, kind, target }) => ({
        id: session.id,
        transport: kind,
        backend: backendName,
        pid: target.pid,
        inFlight: session.inFlight,
      }));
    },
  };
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
