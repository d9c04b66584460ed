import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import type { JSONRPCMessage, JSONRPCRequest, RequestId } from '../core/jsonrpc.js';
import { isRequest } from '../core/jsonrpc.js';
import { GatewayError } from '../core/errors.js';
import { channels } from '../core/diagnostics.js';
import type { Logger } from '../core/logger.js';
import { claimSession } from '../session/ownership.js';
import { accepts, parseMessages, readBody, refuseEncodedBody } from './http-io.js';
import { sendHttpError } from '../http/error-reply.js';
import { StreamableHttpSessionTransport } from './streamable-http-session.js';
import type { FrontendOptions, PeerInfo, SessionHandle } from './types.js';
import type { EventStore } from './event-store.js';
import { MemoryEventStore } from './event-store.js';
import type { LocalSessions, SessionCluster } from './session-cluster.js';
import type { ModernService } from '../era/service.js';
import { isModernPost, serveModernPost } from '../era/http.js';

export interface StreamableHttpOptions extends FrontendOptions {
  /** Interval of SSE keepalive comments on GET streams. @default 25_000 */
  keepaliveMs?: number;
  /** Where resumable streams keep their events. @default a MemoryEventStore */
  eventStore?: EventStore;
  /** The `retry` (ms) a client is told to wait before resuming a lost stream. @default 1000 */
  retryMs?: number;
  /** The replicas this one shares sessions with (src/cluster); none by default. */
  cluster?: SessionCluster;
  /** Serves 2026-07-28 requests; without it they get the legacy path's answers. */
  modern?: ModernService;
}

const SESSION_HEADER = 'mcp-session-id';
const VERSION_HEADER = 'mcp-protocol-version';
const SUPPORTED_VERSIONS = new Set(SUPPORTED_PROTOCOL_VERSIONS);

const isInitialize = (m: JSONRPCMessage) => isRequest(m) && m.method === 'initialize';

interface Entry {
  transport: StreamableHttpSessionTransport;
  handle: SessionHandle;
}

/**
 * The Streamable HTTP frontend (MCP revisions 2025-03-26 to 2025-11-25) for one endpoint path:
 * POST carries client messages, GET opens the stream for server-initiated messages, DELETE ends
 * the session. Each session is a StreamableHttpSessionTransport; the gateway decides what it talks to.
 */
export class StreamableHttpHandler implements LocalSessions {
  private readonly sessions = new Map<string, Entry>();
  private readonly maxBodyBytes: number;
  private readonly store: EventStore;
  private readonly log: Logger;
  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly options: StreamableHttpOptions) {
    this.maxBodyBytes = options.maxMessageBytes;
    this.store = options.eventStore ?? new MemoryEventStore();
    this.log = options.log;
    const keepaliveMs = options.keepaliveMs ?? 25_000;
    // One timer for every session's keepalive, not one per session. Idle sessions are the
    // gateway's to close, whatever their transport.
    this.sweep = setInterval(() => this.tick(), keepaliveMs).unref();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Serves one request of `peer` (its address, and its principal once authenticated). */
  async handle(req: IncomingMessage, res: ServerResponse, peer: PeerInfo = {}): Promise<void> {
    if (channels.connectionOpen.hasSubscribers) {
      channels.connectionOpen.publish({ transport: 'streamable-http' });
      res.once('close', () => channels.connectionClose.publish({ transport: 'streamable-http' }));
    }
    try {
      const cluster = this.options.cluster;
      if (cluster !== undefined && (await cluster.route(req, res, peer, this))) return;
      switch (req.method) {
        case 'POST':
          return await this.post(req, res, peer);
        case 'GET':
          return await this.get(req, res, peer);
        case 'DELETE':
          return await this.delete(req, res, peer);
        default:
          sendHttpError(
            res,
            new GatewayError(
              'GATEWAY_METHOD_NOT_ALLOWED',
              `${req.method} is not used by Streamable HTTP`,
            ),
            { headers: { allow: 'GET, POST, DELETE' } },
          );
      }
    } catch (error) {
      if (!(error instanceof GatewayError))
        this.log.error({ err: error }, 'streamable HTTP request failed');
      sendHttpError(res, error);
    }
  }

  private async post(req: IncomingMessage, res: ServerResponse, peer: PeerInfo): Promise<void> {
    const accept = req.headers.accept;
    if (!accepts(accept, 'application/json') || !accepts(accept, 'text/event-stream')) {
      throw new GatewayError(
        'GATEWAY_NOT_ACCEPTABLE',
        'the Accept header must list both application/json and text/event-stream',
      );
    }
    const type = req.headers['content-type'];
    if (
      type !== 'application/json' &&
      (!type || type.split(';', 1)[0]!.trim().toLowerCase() !== 'application/json')
    ) {
      throw new GatewayError(
        'GATEWAY_UNSUPPORTED_MEDIA_TYPE',
        'the Content-Type must be application/json',
      );
    }
    refuseEncodedBody(req);
    const body = await readBody(req, this.maxBodyBytes);
    if (channels.bytes.hasSubscribers)
      channels.bytes.publish({ transport: 'streamable-http', direction: 'in', bytes: body.length });
    const { messages, batch } = parseMessages(body, this.options.maxDepth);
    const modern = this.options.modern;
    if (modern !== undefined && isModernPost(req, messages))
      return serveModernPost(modern, req, res, peer, messages, batch);

    const initialize = messages.find(isInitialize) as JSONRPCRequest | undefined;
    if (initialize) return this.initialize(req, res, peer, initialize, messages.length);

    let entry: Entry;
    try {
      entry = this.lookup(req, peer);
    } catch (error) {
      // The refusal names the request when there is just one to name.
      const only = !batch && messages.length === 1 ? messages[0] : undefined;
      if (only === undefined || !isRequest(only)) throw error;
      sendHttpError(res, error, { id: only.id });
      return;
    }
    const requests: RequestId[] = [];
    for (const message of messages) {
      if (!isRequest(message)) continue;
      if (entry.transport.isPending(message.id) || requests.includes(message.id)) {
        throw new GatewayError(
          'GATEWAY_INVALID_REQUEST',
          `request id ${JSON.stringify(message.id)} is already in use in this session`,
        );
      }
      requests.push(message.id);
    }
    if (requests.length === 0) {
      // Only notifications and replies: accepted, nothing to return.
      res.writeHead(202).end();
    } else {
      entry.transport.openExchange(res, requests, batch);
    }
    entry.transport.deliver(messages);
  }

  private async initialize(
    req: IncomingMessage,
    res: ServerResponse,
    peer: PeerInfo,
    message: JSONRPCRequest,
    count: number,
  ): Promise<void> {
    if (count > 1)
      throw new GatewayError(
        'GATEWAY_INVALID_REQUEST',
        'initialize must be sent alone, not in a batch',
      );
    if (req.headers[SESSION_HEADER] !== undefined) {
      throw new GatewayError(
        'GATEWAY_INVALID_REQUEST',
        'initialize starts a new session and must not carry Mcp-Session-Id',
      );
    }
    const cluster = this.options.cluster;
    const sessionId = cluster ? cluster.newSessionId() : randomUUID();
    const transportOptions = {
      store: this.store,
      retryMs: this.options.retryMs,
      log: this.log.child({ session: sessionId }),
    };
    const transport = cluster
      ? cluster.transport(sessionId, transportOptions)
      : new StreamableHttpSessionTransport(sessionId, transportOptions);
    let handle: SessionHandle;
    try {
      handle = await this.options.openSession(transport, 'streamable-http', peer);
    } catch (error) {
      this.log.warn({ err: error }, 'could not open a session');
      sendHttpError(res, error, { id: message.id });
      return;
    }
    const entry: Entry = { transport, handle };
    this.sessions.set(sessionId, entry);
    const previous = transport.onclose;
    transport.onclose = () => {
      if (this.sessions.get(sessionId) === entry) this.sessions.delete(sessionId);
      previous?.();
    };
    if (transport.isClosed) {
      this.sessions.delete(sessionId);
      throw new GatewayError(
        'GATEWAY_BACKEND_UNAVAILABLE',
        'the backend ended while the session was opening',
      );
    }
    transport.openExchange(res, [message.id], false, true);
    transport.deliver([message]);
  }

  private async get(req: IncomingMessage, res: ServerResponse, peer: PeerInfo): Promise<void> {
    if (!accepts(req.headers.accept, 'text/event-stream')) {
      throw new GatewayError(
        'GATEWAY_NOT_ACCEPTABLE',
        'the Accept header must list text/event-stream',
      );
    }
    const entry = this.lookup(req, peer);
    const lastEventId = req.headers['last-event-id'];
    if (typeof lastEventId === 'string' && lastEventId !== '') {
      await entry.transport.resume(res, lastEventId);
      return;
    }
    if (entry.transport.hasGetStream) {
      throw new GatewayError(
        'GATEWAY_STREAM_CONFLICT',
        'this session already has a GET stream open',
      );
    }
    entry.transport.lastActivity = Date.now();
    entry.transport.attachGetStream(res);
  }

  private async delete(req: IncomingMessage, res: ServerResponse, peer: PeerInfo): Promise<void> {
    const entry = this.lookup(req, peer);
    this.sessions.delete(entry.transport.sessionId);
    await entry.handle.close('client ended the session');
    res.writeHead(200).end();
  }

  /** The session a request names, after checking its id and protocol version headers. */
  private lookup(req: IncomingMessage, peer: PeerInfo): Entry {
    const id = req.headers[SESSION_HEADER];
    if (id === undefined)
      throw new GatewayError(
        'GATEWAY_SESSION_REQUIRED',
        'send the Mcp-Session-Id header returned by initialize',
      );
    if (Array.isArray(id))
      throw new GatewayError(
        'GATEWAY_INVALID_REQUEST',
        'only one Mcp-Session-Id header is allowed',
      );
    const entry = this.sessions.get(id);
    if (!entry)
      throw new GatewayError(
        'GATEWAY_SESSION_NOT_FOUND',
        'it has ended or never existed; initialize a new session',
      );
    claimSession(entry.handle, peer.principal, 'streamable-http');
    const version = req.headers[VERSION_HEADER];
    if (version !== undefined && (Array.isArray(version) || !SUPPORTED_VERSIONS.has(version))) {
      throw new GatewayError(
        'GATEWAY_UNSUPPORTED_PROTOCOL_VERSION',
        `${String(version)}; supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`,
      );
    }
    return entry;
  }

  has(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  /** A session continued here from another replica (src/cluster): opened, then served as any. */
  async adopt(transport: StreamableHttpSessionTransport, peer: PeerInfo): Promise<SessionHandle> {
    const handle = await this.options.openSession(transport, 'streamable-http', peer);
    const entry: Entry = { transport, handle };
    const sessionId = transport.sessionId;
    this.sessions.set(sessionId, entry);
    const previous = transport.onclose;
    transport.onclose = () => {
      if (this.sessions.get(sessionId) === entry) this.sessions.delete(sessionId);
      previous?.();
    };
    return handle;
  }

  private tick(): void {
    for (const { transport } of this.sessions.values()) transport.keepalive();
  }

  /** Ends every session (gateway shutdown). */
  async close(): Promise<void> {
    clearInterval(this.sweep);
    const entries = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(entries.map((entry) => entry.handle.close('gateway shutting down')));
  }
}
