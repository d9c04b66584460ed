import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayConfig } from './config/schema.js';
import type { Logger } from './core/logger.js';
import { createLogger } from './core/logger.js';
import type { Policy } from './core/policy.js';
import { Session } from './core/session.js';
import { GatewayError } from './core/errors.js';
import { StdioBackendTransport } from './backends/stdio-backend.js';
import { StreamableHttpHandler } from './frontends/streamable-http.js';
import type { StreamableHttpSessionTransport } from './frontends/streamable-http-session.js';
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
  transport: string;
  backend: string;
  /** Process id of the session's own backend process, for stdio backends. */
  pid: number | undefined;
  inFlight: number;
}

export interface Gateway {
  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(): Promise<AddressInfo>;
  /** Stops accepting, ends every session and its backend process, closes the listener. */
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
  const [backendName, backend] = Object.entries(config.backends)[0]!;
  const live = new Map<string, { session: Session; backend: StdioBackendTransport }>();
  let closing = false;

  async function openSession(client: StreamableHttpSessionTransport) {
    if (closing) throw new GatewayError('GATEWAY_SHUTTING_DOWN');
    const sessionLog = log.child({ session: client.sessionId });
    const target = new StdioBackendTransport({
      name: backendName,
      command: backend.command,
      args: backend.args,
      cwd: backend.cwd,
      env: backend.env,
      inheritEnv: backend.inheritEnv,
      killGraceMs: backend.killGraceMs,
      maxMessageBytes: config.limits.maxMessageBytes,
      log: sessionLog,
    });
    const session = new Session({
      id: client.sessionId,
      transport: 'streamable-http',
      client,
      target,
      policies,
      log: sessionLog,
    });
    session.onclose = (reason) => {
      live.delete(session.id);
      sessionLog.info({ reason }, 'session ended');
    };
    await session.start();
    live.set(session.id, { session, backend: target });
    sessionLog.info({ backend: backendName, pid: target.pid }, 'session opened');
    return session;
  }

  const mcp = new StreamableHttpHandler({
    log,
    maxBodyBytes: config.limits.maxMessageBytes,
    idleTimeoutMs: config.sessions.idleTimeoutMs,
    onsession: openSession,
  });

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url);
    if (path === config.server.path) {
      void mcp.handle(req, res);
      return;
    }
    sendError(
      res,
      new GatewayError(
        'GATEWAY_NOT_FOUND',
        `no endpoint at ${path}; MCP is served at ${config.server.path}`,
      ),
    );
  });
  server.on('clientError', (error, socket) => {
    log.debug({ err: error }, 'malformed HTTP request');
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  return {
    log,
    listen() {
      return new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.server.port, config.server.host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          log.info(
            {
              host: address.address,
              port: address.port,
              path: config.server.path,
              backend: backendName,
            },
            'gateway listening',
          );
          resolve(address);
        });
      });
    },
    async close() {
      if (closing) return;
      closing = true;
      const stopped = server.listening
        ? new Promise<void>((resolve) => server.close(() => resolve()))
        : Promise.resolve();
      server.closeIdleConnections();
      await mcp.close();
      server.closeAllConnections();
      await stopped;
      log.info('gateway stopped');
      log.flush();
    },
    sessions() {
      return [...live.values()].map(({ session, backend: target }) => ({
        id: session.id,
        transport: session.transport,
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
